"""`deploy` and `status` against a local devnet, the paths the main CLI tests leave out: the
table output, the services' health (JSON and text /healthz answers, the oracle's last poll),
a config without an endpoint, a pool that is not deployed, and MAINNET's confirmation."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from sqlalchemy import text
from tonutils.contracts import WalletV4R2
from typer.testing import CliRunner

from cocoon_pool.cli.keeper_cmd import keeper_app
from cocoon_pool.contracts.reports import OracleSigner
from cocoon_pool.devnet import Devnet
from cocoon_pool.oracle.db import open_database
from cocoon_pool.oracle.models import Poll
from local_http import local_http_server
from network_fixtures import devnet_admin, pool_toml, run_cli, serve_devnet, write_pool_toml

ADMIN_WORDS = list(WalletV4R2.create(None)[3])  # type: ignore[arg-type]
SIGNER = OracleSigner.from_seed_text("cli-edges-oracle")
ENV = "CLI_EDGES_TEST_WORDS"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[tuple[Devnet, str]]:
    yield from serve_devnet(ADMIN_WORDS)


def config_for(tmp_path: Path, url: str, admin: str, **kwargs: object) -> Path:
    text_ = pool_toml(url, admin, mnemonic_env=ENV, oracle_key=SIGNER.public_key, **kwargs)  # type: ignore[arg-type]
    return write_pool_toml(tmp_path, text_)


def no_endpoint(tmp_path: Path, admin: str) -> Path:
    text_ = pool_toml("x", admin, mnemonic_env=ENV, oracle_key=SIGNER.public_key)
    text_ = text_.replace('[api]\nendpoint = "x"\n', "")
    return write_pool_toml(tmp_path, text_)


def healthz(body: bytes) -> Callable[[BaseHTTPRequestHandler], None]:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200 if handler.path == "/healthz" else 404)
        handler.end_headers()
        handler.wfile.write(body)

    return answer


def test_deploy_prints_its_tables_then_status_reads_services_health(
    endpoint: tuple[Devnet, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, url, admin = devnet_admin(endpoint, monkeypatch, ENV, ADMIN_WORDS)
    config = config_for(tmp_path, url, admin, pool_id=11)
    code, out, err = run_cli(["deploy", "--config", str(config)], capsys)
    assert code == 0, err
    flat = " ".join(out.split())
    assert "dry run on the embedded chain" in flat and "deployed and verified on local" in flat
    assert "checks passed; recorded in" in flat and "worker owner_address:" in flat
    record = json.loads((tmp_path / "deployments" / "local.json").read_text())
    assert record["first_transaction"] is not None

    code, out, err = run_cli(["deploy", "--config", str(config)], capsys)
    assert code == 0, err
    assert "already deployed: verified on local" in " ".join(out.split())

    oracle_db = f"sqlite:///{tmp_path / 'oracle.db'}"
    engine, sessions = open_database(oracle_db)
    engine.dispose()
    with (
        local_http_server(healthz(b'{"ok": true, "steps": 3}')) as keeper_port,
    ):
        code, out, err = run_cli(
            [
                "status",
                "--config",
                str(config),
                "--keeper",
                f"http://127.0.0.1:{keeper_port}/",
                "--oracle-db",
                oracle_db,
                "--json",
            ],
            capsys,
        )
    assert code == 0, err
    report = json.loads(out)
    assert report["keeper"] == {"ok": True, "details": {"ok": True, "steps": 3}}
    assert report["oracle"] == {"ok": False, "details": "no poll stored yet"}

    engine, sessions = open_database(oracle_db)
    with sessions() as session:
        session.add(
            Poll(taken_at=100, members=4, down=1, unreachable=0, discarded=False, duration_ms=5)
        )
        session.add(
            Poll(taken_at=50, members=4, down=4, unreachable=4, discarded=True, duration_ms=5)
        )
        session.commit()
        assert session.execute(text("select count(*) from oracle_polls")).scalar() == 2
    engine.dispose()
    with local_http_server(healthz(b"fine\n")) as keeper_port:
        code, out, err = run_cli(
            [
                "status",
                "--config",
                str(config),
                "--keeper",
                f"http://127.0.0.1:{keeper_port}",
                "--oracle-db",
                oracle_db,
                "--json",
            ],
            capsys,
        )
    assert code == 0, err
    report = json.loads(out)
    assert report["keeper"] == {"ok": True, "details": "fine"}
    oracle = report["oracle"]
    assert oracle["ok"] is True  # the newest poll (taken at 100) counted
    assert oracle["details"]["members"] == 4 and oracle["details"]["down"] == 1
    assert oracle["details"]["last_poll_seconds_ago"] > 0

    code, out, err = run_cli(["status", "--config", str(config), "--oracle-db", oracle_db], capsys)
    assert code == 0, err
    rows = {
        cells[0]: cells[1]
        for line in out.splitlines()
        if len(cells := [c.strip() for c in line.strip("│┃ ").split("│")]) == 2
    }
    assert rows["oracle health"] == "ok" and rows["open epoch"].startswith("1 (")
    assert rows["members"] == "0" and "active" in out


def test_status_and_deploy_need_an_endpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, " ".join(ADMIN_WORDS))
    config = no_endpoint(tmp_path, "0:" + "66" * 32)
    code, _, err = run_cli(["status", "--config", str(config)], capsys)
    assert code == 2 and "pool.toml names no API endpoint" in err and "Traceback" not in err
    assert "set [api] endpoint" in err
    code, _, err = run_cli(["deploy", "--config", str(config), "--json"], capsys)
    flat = " ".join(err.split())
    assert code == 2 and "names no API endpoint for the local network" in flat
    assert "Traceback" not in err


def test_status_of_a_pool_that_is_not_deployed(
    endpoint: tuple[Devnet, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, url, admin = devnet_admin(endpoint, monkeypatch, ENV, ADMIN_WORDS)
    config = config_for(tmp_path, url, admin, pool_id=12)
    code, _, err = run_cli(["status", "--config", str(config)], capsys)
    flat = " ".join(err.split())
    assert code == 1 and "no pool is deployed at" in flat and "cocoon-pool deploy" in flat
    assert "Traceback" not in err


def test_a_mainnet_deploy_asks_first_and_stops_on_no(
    endpoint: tuple[Devnet, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, url, admin = devnet_admin(endpoint, monkeypatch, ENV, ADMIN_WORDS)
    config = config_for(tmp_path, url, admin, pool_id=13, network="mainnet")
    monkeypatch.setattr(sys, "stdin", io.StringIO("n\n"))
    code, out, err = run_cli(["deploy", "--config", str(config), "--json"], capsys)
    assert code == 130 and "aborted" in err
    assert "MAINNET" in out + err
    assert not (tmp_path / "deployments").exists()


def test_keeper_run_once_prints_its_totals_and_refuses_wrong_addresses(
    endpoint: tuple[Devnet, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, url, admin = devnet_admin(endpoint, monkeypatch, ENV, ADMIN_WORDS)
    config = config_for(tmp_path, url, admin, pool_id=14)
    code, _, err = run_cli(["deploy", "--config", str(config), "--json"], capsys)
    assert code == 0, err
    oracle_db = f"sqlite:///{tmp_path / 'oracle.db'}"
    open_database(oracle_db)[0].dispose()
    argv = ["run", "--once", "--config", str(config), "--oracle-db", oracle_db]
    argv += ["--metrics-port", "0", "--settle-seconds", "0"]
    result = CliRunner().invoke(keeper_app, argv)
    assert result.exit_code == 0, result.output
    totals = dict(pair.split("=") for pair in result.stdout.split())
    assert totals["closed"] == "0" and totals["failures"] == "0"
    assert "serving metrics" in result.stderr and "/metrics" in result.stderr

    wrong = config_for(
        tmp_path,
        url,
        admin,
        pool_id=14,
        extra=f'\n[addresses]\ndistribution = "0:{"99" * 32}"\n',
    )
    result = CliRunner().invoke(keeper_app, ["run", "--once", "--config", str(wrong), *argv[4:]])
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert "is not the operator's distribution" in " ".join(result.stderr.split())

    bare = no_endpoint(tmp_path, admin)
    result = CliRunner().invoke(keeper_app, ["run", "--once", "--config", str(bare), *argv[4:]])
    assert result.exit_code == 2 and "names no API endpoint" in " ".join(result.stderr.split())
