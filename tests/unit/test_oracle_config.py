"""oracle.toml is validated strictly: a typo, a wrong type or a missing key is a clear error
naming the key and the file, never a silently applied default."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cocoon_pool.cli.app import app
from cocoon_pool.errors import CocoonPoolError, UsageError
from cocoon_pool.oracle import OracleConfigError, load_config
from cocoon_pool.oracle.metrics import DEFAULT_GPU_TABLE

POOL = "0:" + "ab" * 32
MEMBER = "0:" + "0" * 63 + "1"
ORACLE_KEYS = (
    "distribution, network, key_index, database_url, poll_interval, timeout, attempts, "
    "retry_backoff, concurrency, discard_poll_down_fraction, discard_poll_min_members, "
    "key_file, key_env, check_owner, auto_report"
)

BASE = f"""\
[oracle]
distribution = "{POOL}"
key_file = "oracle.key"

[epoch]
start = 1000000
length = 180

[[members]]
address = "{MEMBER}"
stats_url = "http://127.0.0.1:1/jsonstats"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "oracle.toml"
    path.write_text(text)
    return path.resolve()


def config_error(tmp_path: Path, text: str) -> tuple[Path, OracleConfigError]:
    path = write(tmp_path, text)
    with pytest.raises(OracleConfigError) as info:
        load_config(path)
    return path, info.value


def test_defaults_of_the_new_options(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE))
    assert config.attempts == 3
    assert config.retry_backoff == 0.5
    assert config.discard_poll_down_fraction == 0.9
    assert config.discard_poll_min_members == 3
    assert (config.interval, config.timeout, config.concurrency) == (60, 5.0, 16)
    assert config.poll_budget == 48.0  # 0.8 of the 60 s interval
    assert config.scoring.gpu_table == DEFAULT_GPU_TABLE
    assert config.members[0].address == MEMBER and config.members[0].health_url is None
    # Reports are signed for mainnet, as key 0 of the pool's oracle set, unless told otherwise.
    assert (config.network, config.global_id, config.key_index) == ("mainnet", -239, 0)


def test_options_are_read(tmp_path: Path) -> None:
    text = BASE.replace(
        'key_file = "oracle.key"',
        'key_file = "oracle.key"\nattempts = 5\nretry_backoff = 0.25\n'
        "discard_poll_down_fraction = 1\ndiscard_poll_min_members = 10\n"
        "poll_interval = 10\ntimeout = 9",
    )
    config = load_config(write(tmp_path, text))
    assert config.attempts == 5
    assert config.retry_backoff == 0.25
    assert config.discard_poll_down_fraction == 1.0  # a TOML integer is a fine number here
    assert config.discard_poll_min_members == 10
    assert config.poll_budget == 9.0  # the timeout, since 0.8 * 10 s is shorter


def test_network_and_key_index_are_signed_into_reports(tmp_path: Path) -> None:
    text = BASE.replace(
        'key_file = "oracle.key"', 'key_file = "oracle.key"\nnetwork = "testnet"\nkey_index = 2'
    )
    config = load_config(write(tmp_path, text))
    assert (config.network, config.global_id, config.key_index) == ("testnet", -3, 2)
    for bad in ('network = "devnet"', "key_index = 16"):
        _, error = config_error(
            tmp_path, BASE.replace('key_file = "oracle.key"', f'key_file = "oracle.key"\n{bad}')
        )
        assert bad.split(" ")[0] in error.message


@pytest.mark.parametrize(
    ("old", "new", "problem", "hint"),
    [
        (
            'key_file = "oracle.key"',
            'key_file = "oracle.key"\npol_interval = 30',
            "unknown key oracle.pol_interval",
            f"did you mean poll_interval? allowed here: {ORACLE_KEYS}",
        ),
        (
            "[epoch]",
            "[scorring]\npoints_per_token_per_second = 5\n[epoch]",
            "unknown key scorring",
            "did you mean scoring? allowed here: oracle, epoch, scoring, members",
        ),
        (
            "stats_url =",
            "stat_url =",
            # The misspelt key is reported first, so its hint comes with the message.
            "unknown key members[0].stat_url; missing members[0].stats_url",
            "did you mean stats_url? allowed here: address, stats_url, health_url, name",
        ),
    ],
)
def test_unknown_keys_are_errors(
    tmp_path: Path, old: str, new: str, problem: str, hint: str
) -> None:
    path, error = config_error(tmp_path, BASE.replace(old, new))
    assert error.message == f"{path}: {problem}"
    assert error.hint == hint


@pytest.mark.parametrize(
    ("old", "new", "problem", "hint"),
    [
        (
            "length = 180",
            'length = 180\nfirst = "0"',
            "epoch.first = '0': input should be a valid integer",
            "set first to the on-chain number of the epoch that starts at `start`",
        ),
        (
            'key_file = "oracle.key"',
            'key_file = "oracle.key"\npoll_interval = "60"',
            "oracle.poll_interval = '60': input should be a valid integer",
            "set poll_interval to a whole number of seconds, 1..86400",
        ),
        (
            'key_file = "oracle.key"',
            'key_file = "oracle.key"\ncheck_owner = "yes"',
            "oracle.check_owner = 'yes': input should be a valid boolean",
            "write check_owner = true or false (no quotes)",
        ),
        (
            'key_file = "oracle.key"',
            'key_file = "oracle.key"\nconcurrency = 4.5',
            "oracle.concurrency = 4.5: input should be a valid integer",
            "set concurrency to a whole number, 1..256",
        ),
        (
            'key_file = "oracle.key"',
            'key_file = "oracle.key"\nattempts = 0',
            "oracle.attempts = 0: input should be greater than or equal to 1",
            "set attempts to a whole number of tries per request, 1..10",
        ),
        (
            'key_file = "oracle.key"',
            'key_file = "oracle.key"\ndiscard_poll_down_fraction = 0.4',
            "oracle.discard_poll_down_fraction = 0.4: input should be greater than 0.5",
            "set discard_poll_down_fraction to a number above 0.5 and at most 1, e.g. 0.9",
        ),
        (
            "[[members]]",
            '[scoring.gpu_table]\n"H100 NVL" = "lots"\n[[members]]',
            "scoring.gpu_table.\"H100 NVL\" = 'lots': input should be a valid integer",
            'write e.g. "H100" = 100000',
        ),
        (
            f'distribution = "{POOL}"',
            "distribution = 42",
            "oracle.distribution = 42: input should be a valid string",
            "give a TON address (EQ..., UQ... or 0:<hex>)",
        ),
    ],
)
def test_wrong_types_are_errors(
    tmp_path: Path, old: str, new: str, problem: str, hint: str
) -> None:
    path, error = config_error(tmp_path, BASE.replace(old, new))
    assert error.message == f"{path}: {problem}"
    assert error.hint == hint


def test_a_value_where_a_table_belongs(tmp_path: Path) -> None:
    text = "oracle = 7\n[epoch]" + BASE.split("[epoch]")[1]
    path, error = config_error(tmp_path, text)
    assert error.message == f"{path}: oracle must be a table"
    assert error.hint == "write it as a [oracle] table"


@pytest.mark.parametrize(
    ("old", "new", "problem", "hint"),
    [
        (
            "start = 1000000\n",
            "",
            "missing epoch.start",
            "set start to the unix time (whole seconds) when epoch `first` starts",
        ),
        (
            f'distribution = "{POOL}"\n',
            "",
            "missing oracle.distribution",
            "give a TON address (EQ..., UQ... or 0:<hex>)",
        ),
        (
            "[epoch]\nstart = 1000000\nlength = 180\n",
            "",
            "missing table [epoch]",
            "see docs/oracle.md for a complete example",
        ),
        (
            f'address = "{MEMBER}"\n',
            "",
            "missing members[0].address",
            "give a TON address (EQ..., UQ... or 0:<hex>)",
        ),
    ],
)
def test_missing_required_keys_are_errors(
    tmp_path: Path, old: str, new: str, problem: str, hint: str
) -> None:
    path, error = config_error(tmp_path, BASE.replace(old, new))
    assert error.message == f"{path}: {problem}"
    assert error.hint == hint


def test_config_errors_are_usage_errors(tmp_path: Path) -> None:
    _, error = config_error(tmp_path, BASE.replace("length = 180", "lenght = 180"))
    assert isinstance(error, UsageError) and isinstance(error, CocoonPoolError)
    assert str(error) == f"{error.message} (hint: {error.hint})"


def test_many_problems_are_summed_up(tmp_path: Path) -> None:
    extra = "\n".join(f"typo{i} = 1" for i in range(7))
    path, error = config_error(tmp_path, BASE.replace("[epoch]", f"{extra}\n[epoch]"))
    shown = "; ".join(f"unknown key oracle.typo{i}" for i in range(5))
    assert error.message == f"{path}: {shown}; and 2 more"


def test_cli_prints_a_typo_as_one_line_without_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("length = 180", "length = 180\nfrist = 0"))
    result = CliRunner().invoke(app, ["oracle", "sample", "--config", str(path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"error: {path}: unknown key epoch.frist "
        "(hint: did you mean first? allowed here: start, length, first)\n"
    )


def test_members_that_are_not_an_array_of_tables(tmp_path: Path) -> None:
    text = BASE.split("[[members]]", maxsplit=1)[0].replace("[oracle]", 'members = "all"\n[oracle]')
    path, error = config_error(tmp_path, text)
    assert error.message == f"{path}: members must be an array of tables"
    assert error.hint == "write each member as [[members]]"
