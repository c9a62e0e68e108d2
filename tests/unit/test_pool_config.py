"""pool.toml is validated strictly: every mistake is one clear error naming the file and the
key, the parameters are exactly the PoolParams a deploy uses, and secrets never show."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from pydantic import SecretStr
from ton_core import Address
from ton_core.crypto.keys import mnemonic_new
from typer.testing import CliRunner

from cocoon_pool.cli.app import app, main
from cocoon_pool.config_errors import show
from cocoon_pool.contracts.addresses import derive_pool_addresses, friendly, raw
from cocoon_pool.contracts.pool import PoolParams
from cocoon_pool.errors import CocoonPoolError, UsageError
from cocoon_pool.pool_config import PoolConfigError, load_pool_file

ADMIN = "0:" + "ab" * 32
PAUSER = "0:" + "12" * 32
KEY0 = "cd" * 32
KEY1 = "ef" * 32
EXAMPLE = Path(__file__).parents[2] / "examples" / "pool.toml"
POOL_KEYS = (
    "id, commission_bps, min_stake_ton, epoch_length, report_grace, timelock, unbonding, "
    "min_payout_ton, min_operator_stake_ton, oracle_keys, oracle_quorum, member_cap"
)

BASE = f"""\
network = "local"

[roles]
admin = "{ADMIN}"

[pool]
oracle_keys = ["{KEY0}"]
"""

FULL = f"""\
network = "testnet"

[api]
endpoint = "https://testnet.toncenter.com/api/v2/"
key_env = "TEST_POOL_API_KEY"

[wallet]
mnemonic_env = "TEST_POOL_MNEMONIC"

[roles]
admin = "{ADMIN}"
pauser = "{PAUSER}"

[pool]
id = 7
commission_bps = 1200
min_stake_ton = 2.5
epoch_length = "1d"
report_grace = "6h"
timelock = 7200
unbonding = "3d12h"
min_payout_ton = 0.000000001
min_operator_stake_ton = 20
oracle_keys = ["{KEY0}", "0x{KEY1.upper()}"]
oracle_quorum = 2

[addresses]
operator = "{ADMIN}"

[database]
url = "postgresql+psycopg://pool@db.internal/cocoon"

[keeper]
poll_interval = "1m"

[indexer]
poll_interval = 5
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pool.toml"
    path.write_text(text)
    return path.resolve()


def config_error(tmp_path: Path, text: str) -> tuple[Path, PoolConfigError]:
    path = write(tmp_path, text)
    with pytest.raises(PoolConfigError) as info:
        load_pool_file(path)
    return path, info.value


# -- valid files --------------------------------------------------------------------------


def test_every_key_is_read_into_exact_pool_params(tmp_path: Path) -> None:
    pool_file = load_pool_file(write(tmp_path, FULL))
    assert pool_file.params() == PoolParams(
        oracle_key=int(KEY0, 16),
        extra_oracle_keys=(int(KEY1, 16),),
        oracle_quorum=2,
        pool_id=7,
        commission_bps=1200,
        min_stake=2_500_000_000,
        epoch_length=86_400,
        report_grace=21_600,
        timelock_seconds=7_200,
        unbonding_seconds=302_400,
        min_payout=1,
        min_operator_stake=20_000_000_000,
    )
    assert pool_file.network == "testnet"
    assert pool_file.address_network == "testnet"
    assert pool_file.endpoint == "https://testnet.toncenter.com/api/v2/"
    assert raw(pool_file.admin) == ADMIN
    assert raw(pool_file.pauser) == PAUSER
    assert pool_file.addresses.operator is not None
    assert raw(pool_file.addresses.operator) == ADMIN
    assert pool_file.addresses.distribution is None
    assert pool_file.database_url == "postgresql+psycopg://pool@db.internal/cocoon"
    assert (pool_file.keeper_poll_interval, pool_file.indexer_poll_interval) == (60, 5)


def test_defaults_are_pool_params_defaults(tmp_path: Path) -> None:
    pool_file = load_pool_file(write(tmp_path, BASE))
    assert pool_file.params() == PoolParams(oracle_key=int(KEY0, 16))
    assert pool_file.pauser == pool_file.admin
    assert pool_file.endpoint is None  # local without an endpoint: the emulator
    assert pool_file.address_network == "testnet"
    # The SQLite database sits next to the file, whatever the working directory.
    assert pool_file.database_url == f"sqlite:///{tmp_path.resolve()}/pool.db"
    assert (pool_file.keeper_poll_interval, pool_file.indexer_poll_interval) == (30, 10)
    assert pool_file.mnemonic_source is None and pool_file.api_key() is None


def test_the_example_file_loads() -> None:
    pool_file = load_pool_file(EXAMPLE)
    assert pool_file.network == "testnet"
    assert pool_file.params() == PoolParams(oracle_key=int(KEY0, 16))
    assert pool_file.database_url == f"sqlite:///{EXAMPLE.parent.resolve()}/pool.db"
    assert pool_file.mnemonic_source is not None
    assert pool_file.mnemonic_source.env == "COCOON_POOL_MNEMONIC"


@pytest.mark.parametrize(
    ("text", "nanotons"),
    [
        ("0.1", 100_000_000),
        ("10", 10 * 10**9),
        ("1e-9", 1),
        # 18 significant digits: a float would round it, TOML read as Decimal does not.
        ("123456789.123456789", 123_456_789_123_456_789),
    ],
)
def test_ton_amounts_are_exact(tmp_path: Path, text: str, nanotons: int) -> None:
    path = write(tmp_path, BASE + f"min_payout_ton = {text}\n")
    assert load_pool_file(path).params().min_payout == nanotons


@pytest.mark.parametrize(
    ("url", "resolved"),
    [
        ("sqlite:///data/pool.db", "sqlite:///{dir}/data/pool.db"),
        ("sqlite:////var/lib/pool.db", "sqlite:////var/lib/pool.db"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("postgresql://pool@db/cocoon", "postgresql://pool@db/cocoon"),
    ],
)
def test_database_urls(tmp_path: Path, url: str, resolved: str) -> None:
    pool_file = load_pool_file(write(tmp_path, BASE + f'[database]\nurl = "{url}"\n'))
    assert pool_file.database_url == resolved.format(dir=tmp_path.resolve())


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "problem", "hint"),
    [
        (
            "commission_bps = 499",
            "pool.commission_bps: commission 499 bps is outside the allowed range",
            "pool.commission_bps in pool.toml: choose 500..1500 bps (5%..15%)",
        ),
        (
            "commission_bps = 1501",
            "pool.commission_bps: commission 1501 bps is outside the allowed range",
            "pool.commission_bps in pool.toml: choose 500..1500 bps (5%..15%)",
        ),
        (
            'epoch_length = "31d"',
            "pool.epoch_length: epoch length 2678400 s is outside the allowed range",
            "pool.epoch_length in pool.toml: choose 3600..2592000 seconds",
        ),
        (
            'report_grace = "4d"',
            "pool.report_grace: report grace 345600 s is more than half the epoch",
            "pool.report_grace in pool.toml: shorten the grace period or lengthen the epoch",
        ),
        (
            "min_stake_ton = 0.01",
            "pool.min_stake_ton: minimum stake 10000000 nanoton is below the floor",
            "pool.min_stake_ton in pool.toml: use at least 100000000 nanoton",
        ),
        (
            'timelock = "59m"',
            "pool.timelock: timelock 3540 s is too short",
            "pool.timelock in pool.toml: use at least 3600 seconds so members can react",
        ),
        (
            "oracle_quorum = 2",
            "pool.oracle_quorum: oracle quorum 2 of 1 key(s) is not a valid oracle set",
            "pool.oracle_quorum in pool.toml: give 1..16 oracle keys and a quorum between 1 "
            "and the number of keys",
        ),
    ],
)
def test_on_chain_limits_come_from_check_params(
    tmp_path: Path, extra: str, problem: str, hint: str
) -> None:
    path, error = config_error(tmp_path, BASE + extra + "\n")
    assert error.message == f"{path}: {problem}"
    assert error.hint == hint


@pytest.mark.parametrize(
    ("old", "new", "problem", "hint"),
    [
        (
            f'admin = "{ADMIN}"',
            'admin = "EQ-not-an-address"',
            "roles.admin = 'EQ-not-an-address': not a TON address",
            "roles.admin in pool.toml: give a basechain TON address (EQ..., UQ... or 0:<64 hex>)",
        ),
        (
            f'admin = "{ADMIN}"',
            f'admin = "-1:{"ab" * 32}"',
            f"roles.admin = {show('-1:' + 'ab' * 32)}: in workchain -1, not the basechain",
            "roles.admin in pool.toml: give a basechain TON address (EQ..., UQ... or 0:<64 hex>)",
        ),
        (
            f'oracle_keys = ["{KEY0}"]',
            'oracle_keys = ["abc"]',
            "pool.oracle_keys[0] = 'abc': not an ed25519 public key of 64 hex digits",
            "pool.oracle_keys[0] in pool.toml: list the oracles' ed25519 public keys, "
            'e.g. ["<64 hex digits>"]',
        ),
    ],
)
def test_bad_values_are_errors(tmp_path: Path, old: str, new: str, problem: str, hint: str) -> None:
    path, error = config_error(tmp_path, BASE.replace(old, new))
    assert error.message == f"{path}: {problem}"
    assert error.hint == hint


@pytest.mark.parametrize(
    ("old", "new", "problem", "hint"),
    [
        (
            f'admin = "{ADMIN}"\n',
            "",
            "missing roles.admin",
            "roles.admin in pool.toml: give a basechain TON address (EQ..., UQ... or 0:<64 hex>)",
        ),
        (
            f'oracle_keys = ["{KEY0}"]\n',
            "",
            "missing pool.oracle_keys",
            "pool.oracle_keys in pool.toml: list the oracles' ed25519 public keys, "
            'e.g. ["<64 hex digits>"]',
        ),
        (
            'network = "local"\n',
            "",
            "missing network",
            'network in pool.toml: set network = "local", "testnet" or "mainnet"',
        ),
        (
            f'[roles]\nadmin = "{ADMIN}"\n',
            "",
            "missing table [roles]",
            "roles in pool.toml: see docs/configuration.md and examples/pool.toml",
        ),
        (
            'network = "local"',
            'network = "mainnet"',
            "missing api.endpoint (needed on mainnet)",
            "api.endpoint in pool.toml: give the API's base URL, e.g. "
            "https://toncenter.com/api/v2/ (the key goes in key_env or key_file)",
        ),
    ],
)
def test_missing_keys_are_errors(
    tmp_path: Path, old: str, new: str, problem: str, hint: str
) -> None:
    path, error = config_error(tmp_path, BASE.replace(old, new))
    assert error.message == f"{path}: {problem}"
    assert error.hint == hint


@pytest.mark.parametrize(
    ("text", "problem", "hint"),
    [
        (
            BASE + "comission_bps = 1200\n",
            "unknown key pool.comission_bps",
            f"pool.comission_bps in pool.toml: did you mean commission_bps? "
            f"allowed here: {POOL_KEYS}",
        ),
        (
            BASE.replace("[roles]", "[role]"),
            # The misspelt table is reported first, so its hint comes with the message.
            "unknown key role; missing table [roles]",
            "role in pool.toml: did you mean roles? allowed here: network, api, wallet, "
            "roles, pool, addresses, database, keeper, indexer, alerts",
        ),
        (
            BASE + "[wallet]\nmnemonic = 'a b c'\n",
            "unknown key wallet.mnemonic",
            "wallet.mnemonic in pool.toml: did you mean mnemonic_env? "
            "allowed here: mnemonic_env, mnemonic_file, version",
        ),
    ],
)
def test_unknown_keys_are_errors_with_a_guess(
    tmp_path: Path, text: str, problem: str, hint: str
) -> None:
    path, error = config_error(tmp_path, text)
    assert error.message == f"{path}: {problem}"
    assert error.hint == hint


@pytest.mark.parametrize(
    ("extra", "problem", "hint"),
    [
        (
            'commission_bps = "1200"',
            "pool.commission_bps = '1200': input should be a valid integer",
            "pool.commission_bps in pool.toml: set commission_bps to a whole number of "
            "basis points, e.g. 1000 (10%)",
        ),
        (
            "commission_bps = 12.5",
            "pool.commission_bps = 12.5: input should be a valid integer",
            "pool.commission_bps in pool.toml: set commission_bps to a whole number of "
            "basis points, e.g. 1000 (10%)",
        ),
        (
            'min_stake_ton = "10"',
            "pool.min_stake_ton = '10': not a TON amount (a number, no quotes)",
            "pool.min_stake_ton in pool.toml: write it in TON as a number with at most 9 "
            "decimals, e.g. 10 or 0.5",
        ),
        (
            "min_payout_ton = 0.0000000001",
            "pool.min_payout_ton = 1E-10: not a whole number of nanotons (at most 9 decimals)",
            "pool.min_payout_ton in pool.toml: write it in TON as a number with at most 9 "
            "decimals, e.g. 10 or 0.5",
        ),
        (
            "min_payout_ton = -1",
            "pool.min_payout_ton = -1: a TON amount cannot be negative",
            "pool.min_payout_ton in pool.toml: write it in TON as a number with at most 9 "
            "decimals, e.g. 10 or 0.5",
        ),
        (
            'epoch_length = "a week"',
            'pool.epoch_length = \'a week\': not a duration such as 3600, "7d" or "36h"',
            'pool.epoch_length in pool.toml: write whole seconds or a duration such as "7d", '
            '"36h" or "1d12h"',
        ),
        (
            "epoch_length = 1.5",
            "pool.epoch_length = 1.5: not a whole number of seconds",
            'pool.epoch_length in pool.toml: write whole seconds or a duration such as "7d", '
            '"36h" or "1d12h"',
        ),
        (
            "oracle_quorum = true",
            "pool.oracle_quorum = True: input should be a valid integer",
            "pool.oracle_quorum in pool.toml: set oracle_quorum to how many oracle keys must "
            "sign, 1..len(oracle_keys)",
        ),
        (
            "oracle_keys = 5",
            "pool.oracle_keys = 5: input should be a valid list",
            "pool.oracle_keys in pool.toml: list the oracles' ed25519 public keys, "
            'e.g. ["<64 hex digits>"]',
        ),
    ],
)
def test_wrong_types_are_errors(tmp_path: Path, extra: str, problem: str, hint: str) -> None:
    keys = f'oracle_keys = ["{KEY0}"]'
    text = BASE.replace(keys, extra) if extra.startswith("oracle_keys") else BASE + extra + "\n"
    path, error = config_error(tmp_path, text)
    assert error.message == f"{path}: {problem}"
    assert error.hint == hint


def test_a_value_where_a_table_belongs(tmp_path: Path) -> None:
    path, error = config_error(tmp_path, "keeper = 30\n" + BASE)
    assert error.message == f"{path}: keeper must be a table"
    assert error.hint == "keeper in pool.toml: write it as a [keeper] table"


def test_a_repeated_oracle_key_is_refused(tmp_path: Path) -> None:
    text = BASE.replace(f'["{KEY0}"]', f'["{KEY0}", "{KEY1}", "0x{KEY0}"]')
    path, error = config_error(tmp_path, text)
    # One oracle must not count twice towards the quorum.
    assert error.message == f"{path}: pool.oracle_keys[2] repeats pool.oracle_keys[0]"
    assert error.hint == "pool.oracle_keys[2] in pool.toml: list each oracle's public key once"


def test_invalid_toml_and_unreadable_files(tmp_path: Path) -> None:
    path, error = config_error(tmp_path, "network = \n")
    assert error.message.startswith(f"{path} is not valid TOML: ")
    assert error.hint == "fix the syntax at the position shown"
    with pytest.raises(PoolConfigError) as info:
        load_pool_file(tmp_path / "missing.toml")
    assert info.value.message == (
        f"cannot read the pool config {tmp_path / 'missing.toml'}: No such file or directory"
    )


def test_config_errors_are_usage_errors(tmp_path: Path) -> None:
    _, error = config_error(tmp_path, BASE + "commission_bps = 2000\n")
    assert isinstance(error, UsageError) and isinstance(error, CocoonPoolError)
    assert str(error) == f"{error.message} (hint: {error.hint})"


def test_many_problems_are_summed_up(tmp_path: Path) -> None:
    extra = "\n".join(f"typo{i} = 1" for i in range(7))
    path, error = config_error(tmp_path, BASE + extra + "\n")
    shown = "; ".join(f"unknown key pool.typo{i}" for i in range(5))
    assert error.message == f"{path}: {shown}; and 2 more"


# -- secrets ------------------------------------------------------------------------------

SECRET_WORDS = " ".join(mnemonic_new(24))


def word_pairs(words: str) -> list[str]:
    """Two consecutive words: enough to tell a leak from a word that happens to be common."""
    split = words.split()
    return [f"{a} {b}" for a, b in itertools.pairwise(split)]


def with_wallet(text: str, wallet: str) -> str:
    return text + f"[wallet]\n{wallet}\n"


def test_mnemonic_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_POOL_MNEMONIC", f"  {SECRET_WORDS}\n")
    pool_file = load_pool_file(write(tmp_path, FULL))
    secret = pool_file.mnemonic()
    assert isinstance(secret, SecretStr)
    assert secret.get_secret_value() == SECRET_WORDS
    assert (str(secret), repr(secret)) == ("**********", "SecretStr('**********')")
    # The loaded file holds only where the secret is, never the secret.
    assert "TEST_POOL_MNEMONIC" in repr(pool_file)
    assert not any(pair in repr(pool_file) for pair in word_pairs(SECRET_WORDS))


def test_mnemonic_and_api_key_from_files(tmp_path: Path) -> None:
    (tmp_path / "admin.mnemonic").write_text(SECRET_WORDS + "\n")
    (tmp_path / "api.key").write_text("s3cr3t-api-key\n")
    text = BASE.replace("[roles]", '[api]\nkey_file = "api.key"\n\n[roles]')
    pool_file = load_pool_file(
        write(tmp_path, with_wallet(text, 'mnemonic_file = "admin.mnemonic"'))
    )
    assert pool_file.mnemonic().get_secret_value() == SECRET_WORDS
    api_key = pool_file.api_key()
    assert api_key is not None and api_key.get_secret_value() == "s3cr3t-api-key"
    assert "s3cr3t" not in repr(api_key) + str(api_key) + repr(pool_file)


def test_a_missing_secret_is_an_error_only_when_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_POOL_MNEMONIC", raising=False)
    monkeypatch.delenv("TEST_POOL_API_KEY", raising=False)
    pool_file = load_pool_file(write(tmp_path, FULL))  # loading needs no secret
    with pytest.raises(PoolConfigError) as info:
        pool_file.mnemonic()
    assert info.value.message == (
        "environment variable TEST_POOL_MNEMONIC (the wallet mnemonic) is not set"
    )
    assert info.value.hint == "export TEST_POOL_MNEMONIC, or set wallet.mnemonic_file in pool.toml"
    with pytest.raises(PoolConfigError) as info:
        pool_file.api_key()
    assert info.value.message == "environment variable TEST_POOL_API_KEY (the API key) is not set"


def test_no_mnemonic_configured(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    with pytest.raises(PoolConfigError) as info:
        load_pool_file(path).mnemonic()
    assert info.value.message == f"{path}: no wallet mnemonic configured"
    assert info.value.hint == (
        "wallet.mnemonic_env in pool.toml: name the environment variable that holds the "
        "24 words (or set wallet.mnemonic_file)"
    )


def test_unreadable_secret_file(tmp_path: Path) -> None:
    pool_file = load_pool_file(write(tmp_path, with_wallet(BASE, 'mnemonic_file = "nope"')))
    with pytest.raises(PoolConfigError) as info:
        pool_file.mnemonic()
    assert info.value.message == (
        f"cannot read the wallet mnemonic file {tmp_path.resolve()}/nope: No such file or directory"
    )
    assert info.value.hint == (
        "wallet.mnemonic_file in pool.toml: point it at a readable file (mode 600)"
    )


def test_an_invalid_mnemonic_is_never_echoed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_POOL_MNEMONIC", "correct horse battery staple")
    pool_file = load_pool_file(write(tmp_path, FULL))
    with pytest.raises(PoolConfigError) as info:
        pool_file.mnemonic()
    assert info.value.message == (
        "the wallet mnemonic in environment variable TEST_POOL_MNEMONIC is not a valid TON mnemonic"
    )
    assert "horse" not in str(info.value)


def test_a_secret_pasted_into_a_key_is_never_echoed(tmp_path: Path) -> None:
    path, error = config_error(tmp_path, with_wallet(BASE, f'mnemonic_env = "{SECRET_WORDS}"'))
    assert error.message.startswith(f"{path}: wallet.mnemonic_env: string should match pattern")
    assert SECRET_WORDS.split()[1] not in str(error)
    _, error = config_error(
        tmp_path,
        BASE.replace("[roles]", '[api]\nendpoint = "https://x.org/api?api_key=s3cr3t"\n[roles]'),
    )
    assert "api.endpoint: must be a base URL without user, password or query" in error.message
    assert "s3cr3t" not in str(error)


def test_a_mnemonic_written_as_the_file_name_is_refused(tmp_path: Path) -> None:
    path, error = config_error(tmp_path, with_wallet(BASE, f'mnemonic_file = "{SECRET_WORDS}"'))
    assert error.message == f"{path}: wallet.mnemonic_file holds the secret itself, not a path"
    assert not any(pair in str(error) for pair in word_pairs(SECRET_WORDS))


def test_amounts_beyond_a_coins_field_are_refused(tmp_path: Path) -> None:
    path, error = config_error(tmp_path, BASE + f"min_payout_ton = {2**120}\n")
    assert error.message == (
        f"{path}: pool.min_payout_ton = {2**120}: more than a coins field holds"
    )


def test_secret_sources_are_exclusive_and_passwords_stay_out(tmp_path: Path) -> None:
    text = with_wallet(BASE, 'mnemonic_env = "A"\nmnemonic_file = "b"')
    path, error = config_error(tmp_path, text)
    assert (
        error.message == f"{path}: give at most one of wallet.mnemonic_env and wallet.mnemonic_file"
    )
    assert error.hint == (
        "wallet.mnemonic_env in pool.toml: keep the one that holds the secret and delete the other"
    )
    text = BASE + '[database]\nurl = "postgresql://pool:hunter2@db/cocoon"\n'
    path, error = config_error(tmp_path, text)
    assert error.message == f"{path}: database.url: holds a password"
    assert error.hint == (
        "database.url in pool.toml: leave it out: PostgreSQL reads it from PGPASSWORD or ~/.pgpass"
    )
    assert "hunter2" not in str(error)


# -- the CLI ------------------------------------------------------------------------------


def info_json(args: list[str]) -> dict[str, object]:
    result = CliRunner().invoke(app, ["info", *args, "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_info_config_gives_the_addresses_of_the_options(tmp_path: Path) -> None:
    member = "0:" + "77" * 32
    # --unbonding-days takes whole days and the minimum operator stake has no option, so
    # the file says 3 days and the default 10 TON here.
    text = FULL.replace('"3d12h"', '"3d"').replace("stake_ton = 20", "stake_ton = 10")
    path = write(tmp_path, text)
    from_file = info_json(["--config", str(path), "--member", member])
    from_options = info_json(
        [
            "--admin", ADMIN, "--pauser", PAUSER, "--oracle-key", KEY0,
            "--extra-oracle-key", KEY1, "--oracle-quorum", "2", "--pool-id", "7",
            "--commission-bps", "1200", "--min-stake", "2.5", "--epoch-days", "1",
            "--report-grace-hours", "6", "--timelock-hours", "2", "--unbonding-days", "3",
            "--min-payout", "0.000000001", "--network", "testnet", "--member", member,
        ]
    )  # fmt: skip
    assert from_file == from_options
    pool_file = load_pool_file(path)
    derived = derive_pool_addresses(pool_file.admin, pool_file.params(), pool_file.pauser)
    assert from_file["contracts"] == {
        name: {"raw": raw(address), "friendly": friendly(address, "testnet")}
        for name, address in (
            ("operator", derived.operator),
            ("registry", derived.registry),
            ("distribution", derived.distribution),
            ("participant", derived.participant(Address(member))),
        )
    }
    assert from_file["worker_owner_address"] == friendly(derived.distribution, "testnet")


def test_info_config_with_a_local_network(tmp_path: Path) -> None:
    out = info_json(["--config", str(write(tmp_path, BASE))])
    assert out["network"] == "local"
    defaults = info_json(["--admin", ADMIN, "--oracle-key", KEY0, "--network", "testnet"])
    assert out["contracts"] == defaults["contracts"]


def test_info_never_prints_a_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_POOL_MNEMONIC", SECRET_WORDS)
    monkeypatch.setenv("TEST_POOL_API_KEY", "s3cr3t-api-key")
    path = write(tmp_path, FULL)
    for extra in ([], ["--json"]):
        result = CliRunner().invoke(app, ["info", "--config", str(path), *extra])
        assert result.exit_code == 0
        assert "s3cr3t" not in result.output
        assert not any(pair in result.output for pair in word_pairs(SECRET_WORDS))


def test_info_config_refuses_pool_options(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    result = CliRunner().invoke(
        app, ["info", "--config", str(path), "--commission-bps", "1200", "--network", "mainnet"]
    )
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "error: --config cannot be combined with --commission-bps, --network "
        "(hint: the pool is described by pool.toml: change it there, or drop --config)\n"
    )


def test_info_without_config_or_admin(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--oracle-key", KEY0]) == 2
    assert capsys.readouterr().err == (
        "error: missing option --admin (hint: give --admin and --oracle-key, or --config "
        "pool.toml)\n"
    )


def test_info_config_error_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, BASE + "commission_bps = 1600\n")
    assert main(["info", "--config", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"error: {path}: pool.commission_bps: commission 1600 bps is outside the allowed range "
        "(hint: pool.commission_bps in pool.toml: choose 500..1500 bps (5%..15%))\n"
    )
    assert "Traceback" not in captured.err
    # The same through CliRunner, which runs the command without main's handler.
    result = CliRunner().invoke(app, ["info", "--config", str(path)])
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == captured.err
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_info_warns_when_the_file_addresses_differ(tmp_path: Path) -> None:
    # FULL's [addresses] operator is the admin's wallet, so it cannot be the derived one.
    result = CliRunner().invoke(app, ["info", "--config", str(write(tmp_path, FULL)), "--json"])
    assert result.exit_code == 0
    json.loads(result.stdout)  # the warning stays out of the JSON document
    admin = friendly(Address(ADMIN), "testnet")
    assert result.stderr.startswith(f"warning: [addresses] operator is {admin}, but the admin")
    assert result.stderr.endswith("the parameters changed after deploy, or the file is wrong\n")
    assert len(result.stderr.splitlines()) == 1
