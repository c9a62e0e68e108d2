"""`cocoon-pool deploy` to the local network: dry run, deploy from the admin's signed wallet,
verification of every code hash and get-method, the deployment record, and a second run that
finds the pool and only verifies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tonutils.contracts import WalletV4R2

from cocoon_pool.chain.types import raw_address
from cocoon_pool.contracts.addresses import derive_pool_addresses
from cocoon_pool.contracts.reports import OracleSigner
from cocoon_pool.deploy import expected_code_hashes
from cocoon_pool.devnet import Devnet
from cocoon_pool.pool_config import load_pool_file
from network_fixtures import devnet_admin, pool_toml, run_cli, serve_devnet, write_pool_toml

ADMIN_WORDS = list(WalletV4R2.create(None)[3])  # type: ignore[arg-type]
SIGNER = OracleSigner.from_seed_text("deploy-oracle")
ENV = "DEPLOY_TEST_WORDS"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[tuple[Devnet, str]]:
    yield from serve_devnet(ADMIN_WORDS)


def write_config(tmp_path: Path, url: str, admin: str, pool_id: int = 0) -> Path:
    text = pool_toml(url, admin, mnemonic_env=ENV, oracle_key=SIGNER.public_key, pool_id=pool_id)
    return write_pool_toml(tmp_path, text)


def test_deploy_verifies_records_and_is_idempotent(
    endpoint: tuple[Devnet, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, url, admin = devnet_admin(endpoint, monkeypatch, ENV, ADMIN_WORDS)
    config = write_config(tmp_path, url, admin)
    pool_file = load_pool_file(config)
    expected = derive_pool_addresses(pool_file.admin, pool_file.params(), pool_file.pauser)

    code, out, err = run_cli(["deploy", "--config", str(config), "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    deployed = result["deploy"]
    assert not deployed["already_deployed"]
    assert deployed["transactions"] == result["dry_run"]["transactions"]
    contracts = deployed["contracts"]
    assert contracts["operator"]["address"] == raw_address(expected.operator)
    assert contracts["distribution"]["address"] == raw_address(expected.distribution)
    hashes = expected_code_hashes()
    assert {name: c["code_hash"] for name, c in contracts.items()} == hashes
    assert "poolInfo.oracle_keys" in deployed["checks"] and len(deployed["checks"]) >= 20
    # The dry run's contracts end with the same balances as the real ones.
    assert {n: c["balance_nanoton"] for n, c in result["dry_run"]["contracts"].items()} == {
        n: c["balance_nanoton"] for n, c in contracts.items()
    }
    record = json.loads((tmp_path / "deployments" / "local.json").read_text())
    assert record["contracts"] == contracts and record["first_transaction"] is not None

    code, out, err = run_cli(["deploy", "--config", str(config), "--json"], capsys)
    assert code == 0, err
    again = json.loads(out)["deploy"]
    assert again["already_deployed"] and again["transactions"] == 0
    kept = json.loads((tmp_path / "deployments" / "local.json").read_text())
    assert kept["first_transaction"] == record["first_transaction"]


def test_deploy_refuses_a_wallet_that_is_not_the_admin(
    endpoint: tuple[Devnet, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, url = endpoint
    monkeypatch.setenv(ENV, " ".join(ADMIN_WORDS))
    config = write_config(tmp_path, url, "0:" + "77" * 32, pool_id=1)
    code, _, err = run_cli(["deploy", "--config", str(config)], capsys)
    assert code == 2
    assert "is not the admin" in " ".join(err.split()) and "Traceback" not in err


def test_dry_run_needs_no_network(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/api/v2", "0:" + "66" * 32)
    code, out, err = run_cli(["deploy", "--config", str(config), "--dry-run", "--json"], capsys)
    assert code == 0, err
    dry = json.loads(out)["dry_run"]
    assert dry["transactions"] >= 5 and dry["fees_nanoton"] > 0
    assert not (tmp_path / "deployments").exists()


def test_network_guard(
    endpoint: tuple[Devnet, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, url = endpoint
    config = write_config(tmp_path, url, "0:" + "66" * 32)
    code, _, err = run_cli(["deploy", "--config", str(config), "--network", "mainnet"], capsys)
    assert code == 2 and "is for local" in err


def test_status_reads_a_deployed_pool(
    endpoint: tuple[Devnet, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, url, admin = devnet_admin(endpoint, monkeypatch, ENV, ADMIN_WORDS)
    config = write_config(tmp_path, url, admin, pool_id=7)
    code, _, err = run_cli(["deploy", "--config", str(config), "--json"], capsys)
    assert code == 0, err
    code, out, err = run_cli(["status", "--config", str(config), "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    params = load_pool_file(config).params()
    assert report["status"] == "active" and report["commission_bps"] == params.commission_bps
    assert report["epoch"]["open"] == 1 and report["members"]["count"] == 0
    assert report["money_nanoton"]["received"] == 0 and report["reporting"] is None
    assert report["money_nanoton"]["operator_stake"] >= params.min_operator_stake
    code, out, err = run_cli(
        ["status", "--config", str(config), "--keeper", "http://127.0.0.1:9"], capsys
    )
    assert code == 0 and "keeper health" in out and "NOT OK" in out
