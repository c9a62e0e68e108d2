"""`cocoon-pool dashboard`: the web dashboard of a deployed pool (--config) or of a demo pool
on the embedded chain (--demo)."""

from __future__ import annotations

import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cocoon_pool.cli.output import error_console, one_line_errors
from cocoon_pool.errors import UsageError

if TYPE_CHECKING:
    from fastapi import FastAPI


def serve(app: FastAPI, host: str, port: int) -> None:
    """Run the server until Ctrl-C (tests replace this)."""
    import uvicorn  # noqa: PLC0415

    uvicorn.run(app, host=host, port=port, log_level="warning")


SERVE: list[Callable[[Any, str, int], None]] = [serve]
"""The server runner in use; a one-element list so tests can swap it."""


def _check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UsageError(
                f"cannot listen on {host}:{port}: {exc.strerror}",
                hint="pick another --port (or --host)",
            ) from None


def dashboard(
    *,
    config: Annotated[
        Path | None, typer.Option(help="The pool's pool.toml (database, network, endpoint).")
    ] = None,
    database: Annotated[
        str | None,
        typer.Option("--database", "-d", help="Indexer database URL (default: the pool.toml's)."),
    ] = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Serve a demo pool built on the embedded chain (3 members, 3 epochs) from a "
            "temporary SQLite database.",
        ),
    ] = False,
    keeper: Annotated[
        str | None, typer.Option(help="The keeper's metrics URL (http://127.0.0.1:9101).")
    ] = None,
    oracle: Annotated[
        str | None, typer.Option(help="The oracle's metrics URL (/healthz and /metrics).")
    ] = None,
    oracle_db: Annotated[
        str | None, typer.Option(help="The oracle's database URL, for its last poll.")
    ] = None,
) -> None:
    """Serve the web dashboard: pool, member, operator and what-if pages."""
    with one_line_errors():
        if demo and config is not None:
            raise UsageError("--demo builds its own pool", hint="leave out --config or --demo")
        if not demo and config is None:
            raise UsageError("no pool to show", hint="pass --config pool.toml, or --demo")
        _check_port(host, port)
        if demo:
            _serve_demo(host, port, keeper, oracle, oracle_db)
        else:
            assert config is not None
            _serve_pool(
                config,
                database=database,
                host=host,
                port=port,
                keeper=keeper,
                oracle=oracle,
                oracle_db=oracle_db,
            )


def _serve_demo(
    host: str, port: int, keeper: str | None, oracle: str | None, oracle_db: str | None
) -> None:
    from cocoon_pool.dashboard import create_app  # noqa: PLC0415
    from cocoon_pool.dashboard.demo import seed_demo  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="cocoon-dashboard-") as folder:
        error_console.print("building the demo pool on the embedded chain…")
        built = seed_demo(f"sqlite:///{Path(folder) / 'demo.db'}")
        built.board.keeper_url, built.board.oracle_url = keeper, oracle
        built.board.oracle_db = oracle_db
        try:
            error_console.print(f"dashboard on http://{host}:{port}/ (Ctrl-C stops it)")
            SERVE[0](create_app(built.board, title="Cocoon GPU pool (demo)"), host, port)
        finally:
            built.close()


def _serve_pool(
    config: Path,
    *,
    database: str | None,
    host: str,
    port: int,
    keeper: str | None,
    oracle: str | None,
    oracle_db: str | None,
) -> None:
    from cocoon_pool.alerts.config import alerts_database_url  # noqa: PLC0415
    from cocoon_pool.cli.index_cmd import resolve  # noqa: PLC0415
    from cocoon_pool.contracts.pool import Pool  # noqa: PLC0415
    from cocoon_pool.dashboard import Dashboard, create_app  # noqa: PLC0415
    from cocoon_pool.indexer import open_database, parse_address  # noqa: PLC0415
    from cocoon_pool.pool_config import load_pool_file  # noqa: PLC0415

    target = resolve(config, database)
    pool_file = load_pool_file(config)
    alerts_url = alerts_database_url(pool_file)
    assert target.pool is not None  # resolve() derives it from the file
    engine, sessions = open_database(target.database)
    try:
        with pool_file.network_chain() as chain:
            from ton_core import Address  # noqa: PLC0415

            board = Dashboard(
                sessions=sessions,
                pool=Pool(chain, Address(parse_address(target.pool))),
                network=pool_file.network,
                clock=lambda: int(time.time()),
                keeper_url=keeper,
                oracle_url=oracle,
                oracle_db=oracle_db,
            )
            error_console.print(f"dashboard on http://{host}:{port}/ (Ctrl-C stops it)")
            provider = (lambda: alerts_for_page(alerts_url)) if alerts_url else (lambda: [])
            SERVE[0](create_app(board, alerts_provider=provider), host, port)
    finally:
        engine.dispose()


def alerts_for_page(database_url: str, limit: int = 50) -> list[dict[str, object]]:
    """What ``cocoon-pool alerts`` recorded, in the operator page's terms."""
    from cocoon_pool.alerts import recent_alerts  # noqa: PLC0415

    return [
        {
            "level": alert["severity"],
            "time": alert["created_at"],
            "kind": alert["kind"],
            "message": f"{alert['title']}: {alert['text']}",
        }
        for alert in recent_alerts(database_url, limit)
    ]
