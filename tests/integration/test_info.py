"""`cocoon-pool info`: addresses derived off-chain are the ones a real deploy produces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cocoon_pool.cli.app import main
from cocoon_pool.contracts.addresses import derive_pool_addresses, friendly, raw
from cocoon_pool.contracts.constants import ton
from cocoon_pool.contracts.pool import DAY, PoolParams
from cocoon_pool.contracts.reports import OracleSigner
from cocoon_pool.pool_config import load_pool_file
from cocoon_pool.sandbox import PoolSandbox


def test_derived_addresses_match_the_deployed_pool(sandbox: PoolSandbox) -> None:
    member = sandbox.add_member("gpu-1")
    derived = derive_pool_addresses(sandbox.admin.address, sandbox.params, sandbox.pauser.address)
    pool = sandbox.pool
    assert derived.operator == pool.operator
    assert derived.registry == pool.registry
    assert derived.distribution == pool.distribution
    assert derived.worker_owner == pool.distribution
    assert derived.participant(member.address) == pool.participant_address(member.address)
    # The derived addresses hold the deployed contracts: their get-methods answer.
    assert pool.participant_info(member.address).stake == sandbox.params.min_stake


def test_info_json_names_the_distribution_as_worker_owner(
    sandbox: PoolSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "info",
        "--admin",
        raw(sandbox.admin.address),
        "--pauser",
        friendly(sandbox.pauser.address, bounceable=False),
        "--oracle-key",
        format(sandbox.params.oracle_key, "064x"),
        "--network",
        "testnet",
        "--json",
    ]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    distribution = sandbox.pool.distribution
    assert out["worker_owner_address"] == friendly(distribution, "testnet")
    assert out["contracts"]["distribution"]["raw"] == raw(distribution)
    assert out["contracts"]["operator"]["raw"] == raw(sandbox.pool.operator)
    assert out["settings"]["commission_bps"] == 1000
    assert out["settings"]["min_stake_nanoton"] == sandbox.params.min_stake


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--admin", "not-an-address"], "is not a TON address"),
        (["--admin", "-1:" + "ab" * 32], "is in workchain -1"),
        (["--oracle-key", "abc"], "oracle key has 3 hex digits"),
        (["--oracle-key", "zz" * 32], "oracle key is not hexadecimal"),
        (["--commission-bps", "499"], "commission 499 bps is outside"),
        (["--commission-bps", "1501"], "commission 1501 bps is outside"),
        (["--min-stake", "ten"], "is not a TON amount"),
        (["--min-stake", "0.0000000001"], "is not a TON amount"),
        (["--min-stake", "0.01"], "below the floor"),
        (["--epoch-days", "40"], "epoch length"),
        (["--timelock-hours", "0"], "timelock 0 s is too short"),
        (["--network", "devnet"], "unknown network"),
    ],
)
def test_bad_input_is_one_line_with_exit_2(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = {"--admin": "0:" + "ab" * 32, "--oracle-key": "cd" * 32}
    for flag, value in zip(extra[::2], extra[1::2], strict=True):
        base[flag] = value
    args = ["info", *(item for pair in base.items() for item in pair)]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err
    assert "Traceback" not in captured.err
    assert len(captured.err.strip().splitlines()) == 1


def test_info_config_names_the_deployed_pool(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pool.toml with non-default parameters describes exactly the pool a deploy makes."""
    signer = OracleSigner.from_seed_text("cocoon-pool-oracle")
    params = PoolParams(
        oracle_key=signer.public_key,
        extra_oracle_keys=(int("ef" * 32, 16),),
        oracle_quorum=2,
        pool_id=3,
        commission_bps=1250,
        min_stake=ton("2.5"),
        epoch_length=DAY,
        report_grace=6 * 3600,
        timelock_seconds=2 * 3600,
        unbonding_seconds=3 * DAY + 12 * 3600,
        min_payout=ton("0.05"),
        min_operator_stake=ton(5),
    )
    sandbox = PoolSandbox.create(params=params)
    pool = sandbox.pool
    config = tmp_path / "pool.toml"
    config.write_text(
        f"""\
network = "local"

[roles]
admin = "{friendly(sandbox.admin.address, "testnet", bounceable=False)}"
pauser = "{raw(sandbox.pauser.address)}"

[pool]
id = 3
commission_bps = 1250
min_stake_ton = 2.5
epoch_length = "1d"
report_grace = "6h"
timelock = 7200
unbonding = "3d12h"
min_payout_ton = 0.05
min_operator_stake_ton = 5
oracle_keys = ["{signer.public_key:064x}", "{"ef" * 32}"]
oracle_quorum = 2

[addresses]
operator = "{raw(pool.operator)}"
distribution = "{friendly(pool.distribution, "testnet")}"
"""
    )
    assert load_pool_file(config).params() == params
    assert main(["info", "--config", str(config), "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""  # [addresses] agree with the derived ones: no warning
    out = json.loads(captured.out)
    assert out["network"] == "local"
    assert out["contracts"]["operator"]["raw"] == raw(pool.operator)
    assert out["contracts"]["registry"]["raw"] == raw(pool.registry)
    assert out["contracts"]["distribution"]["raw"] == raw(pool.distribution)
    assert out["worker_owner_address"] == friendly(pool.distribution, "testnet")
    assert pool.pool_info().commission_bps == 1250
