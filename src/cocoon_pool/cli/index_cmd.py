"""`cocoon-pool index` and `cocoon-pool history`: index a pool's chain history into a
database, then show it (payouts, stakes, commission, epoch results) or export a CSV."""

from __future__ import annotations

import os
import signal
import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from cocoon_pool.cli.output import (
    console,
    error_console,
    one_line_errors,
    print_json,
    tons,
)
from cocoon_pool.signals import on_stop_signals

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from cocoon_pool.indexer.history import History
    from cocoon_pool.indexer.indexer import IndexCounts
    from cocoon_pool.indexer.models import IndexedContract
    from cocoon_pool.indexer.source import TransactionSource

# SQLAlchemy, Alembic and the emulator are imported inside the commands: every other
# `cocoon-pool` command would otherwise pay for them at start-up.

index_app = typer.Typer(
    help="Index a pool's transactions and events; show payouts, stakes and commission.",
    no_args_is_help=True,
)

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        "-d",
        help="Database URL: sqlite:///indexer.db or postgresql+psycopg://user@host/dbname "
        "(default: the pool.toml's [database] url).",
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(help="The pool.toml: its database, network, endpoint and pool by default."),
]


@dataclass(frozen=True)
class Target:
    """What to index or show: the options given, completed from the pool.toml."""

    database: str
    pool: str | None
    network: str
    endpoint: str | None
    api_key: str | None


def resolve(
    config: Path | None,
    database: str | None,
    *,
    pool: str | None = None,
    network: str | None = None,
    endpoint: str | None = None,
    api_key_env: str | None = None,
) -> Target:
    """Options win over the pool.toml; without either, a clear error."""
    from cocoon_pool.indexer import IndexerUsageError  # noqa: PLC0415

    api_key = os.environ.get(api_key_env) if api_key_env else None
    if config is not None:
        from cocoon_pool.contracts.addresses import derive_pool_addresses  # noqa: PLC0415
        from cocoon_pool.pool_config import load_pool_file  # noqa: PLC0415

        pool_file = load_pool_file(config)
        if pool is None:
            operator = (
                pool_file.addresses.operator
                or derive_pool_addresses(
                    pool_file.admin, pool_file.params(), pool_file.pauser
                ).operator
            )
            pool = operator.to_str(is_user_friendly=False)
        key = pool_file.api_key()
        if api_key is None and key is not None:
            api_key = key.get_secret_value()
        return Target(
            database or pool_file.database_url,
            pool,
            network or pool_file.network,
            endpoint or pool_file.endpoint,
            api_key,
        )
    if database is None:
        raise IndexerUsageError(
            "no database to use", "pass --database <URL>, or --config pool.toml"
        )
    return Target(database, pool, network or "mainnet", endpoint, api_key)


JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _stop_on_signals(stop: threading.Event) -> AbstractContextManager[None]:
    """SIGINT/SIGTERM end the loop after the pass in progress (its pages are committed)."""

    def handler(signum: int) -> None:
        name = signal.Signals(signum).name
        error_console.print(f"received {name}: finishing the current pass", highlight=False)
        stop.set()

    return on_stop_signals(handler)


def _short(address: str | None) -> str:
    if not address:
        return ""
    wc, _, hex_part = address.partition(":")
    return f"{wc}:{hex_part[:6]}…{hex_part[-4:]}" if len(hex_part) > 12 else address


def _contract_json(c: IndexedContract) -> dict[str, Any]:
    return {
        "address": c.address,
        "pool": c.pool,
        "role": c.role,
        "member": c.member,
        "network": c.network,
        "transactions": c.transactions,
        "last_lt": c.last_lt,
        "last_utime": c.last_utime,
    }


def _contracts(session: Session, pools: list[str]) -> list[IndexedContract]:
    from sqlalchemy import select  # noqa: PLC0415

    from cocoon_pool.indexer.indexer import ROLE_ORDER  # noqa: PLC0415
    from cocoon_pool.indexer.models import IndexedContract  # noqa: PLC0415

    found = session.scalars(select(IndexedContract).where(IndexedContract.pool.in_(pools)))
    return sorted(found, key=lambda c: (c.pool, ROLE_ORDER.get(c.role, 9), c.id))


def _print_index(contracts: list[IndexedContract], counts: IndexCounts) -> None:
    from cocoon_pool.indexer.history import iso_utc  # noqa: PLC0415

    table = Table(title="indexed contracts")
    for name in ("role", "address", "member", "transactions", "last lt", "last seen (UTC)"):
        table.add_column(name, justify="right" if name in ("transactions", "last lt") else "left")
    for c in contracts:
        table.add_row(
            c.role,
            c.address,
            _short(c.member),
            f"{c.transactions:,}",
            str(c.last_lt),
            iso_utc(c.last_utime) if c.last_utime is not None else "",
        )
    console.print(table)
    console.print(
        f"added {counts.transactions} transactions and {counts.events} events: "
        f"{counts.payouts} payouts, {counts.stakes} stake changes, "
        f"{counts.commissions} commission payments, {counts.epoch_updates} epoch updates; "
        f"{counts.new_contracts} new contracts",
        highlight=False,
    )


def _say_pass(counts: IndexCounts) -> None:
    """One line per pass on stderr, so a long-running indexer shows it is alive."""
    error_console.print(
        f"pass: {counts.transactions} transactions, {counts.events} events, "
        f"{counts.new_contracts} new contracts",
        highlight=False,
    )


@index_app.command("index")
def index(
    *,
    database: DatabaseOption = None,
    config: ConfigOption = None,
    pool: Annotated[
        str | None, typer.Option("--pool", help="The pool's PoolOperator address.")
    ] = None,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Build a small pool on the embedded chain (3 members, 3 epochs) and index "
            "it once; the demo chain does not advance by itself.",
        ),
    ] = False,
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
    interval: Annotated[
        float, typer.Option(min=0.1, help="Seconds between passes (without --once).")
    ] = 10.0,
    network: Annotated[
        str | None,
        typer.Option(help="Network of --pool: mainnet (default), testnet or local (a devnet)."),
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option(help="The network's TON HTTP API (toncenter v2) base URL.")
    ] = None,
    api_key_env: Annotated[
        str | None, typer.Option(help="Environment variable holding the API key, if any.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Index a pool's transactions and events; re-running resumes from the stored cursor."""
    from cocoon_pool.indexer import (  # noqa: PLC0415
        IndexerUsageError,
        index_once,
        network_source,
        open_database,
        parse_address,
    )
    from cocoon_pool.indexer import index as index_loop  # noqa: PLC0415

    with one_line_errors():
        if demo and pool is not None:
            raise IndexerUsageError(
                "--demo deploys its own pool", "leave out --pool, or leave out --demo"
            )
        target = resolve(
            config,
            database,
            pool=pool,
            network=network,
            endpoint=endpoint,
            api_key_env=api_key_env,
        )
        database, pool = target.database, None if demo else target.pool
        if not demo and pool is None:
            raise IndexerUsageError(
                "no pool to index", "pass --pool <PoolOperator address>, or --demo"
            )
        pools: list[str]
        source: TransactionSource
        if demo:
            from cocoon_pool.indexer.demo import build_demo  # noqa: PLC0415

            engine, sessions = open_database(database)
            try:
                if not as_json:
                    error_console.print("building the demo pool on the embedded chain…")
                built = build_demo()
                source = built.source
                pools = [parse_address(built.operator)]
                with sessions() as session:
                    counts = index_once(session, source, pools)
                    contracts = _contracts(session, pools)
            finally:
                engine.dispose()
        else:
            assert pool is not None
            pools = [parse_address(pool)]
            # The source is checked before the database is touched: no empty database is
            # left behind by a command that cannot run.
            source = network_source(target.network, target.endpoint, target.api_key)
            engine, sessions = open_database(database)
            try:
                with sessions() as session:
                    if once:
                        counts = index_once(session, source, pools)
                    else:
                        stop = threading.Event()
                        with _stop_on_signals(stop):
                            counts = index_loop(
                                session,
                                source,
                                pools,
                                interval=interval,
                                stop=stop,
                                on_pass=None if as_json else _say_pass,
                            )
                    contracts = _contracts(session, pools)
            finally:
                engine.dispose()
    if as_json:
        print_json(
            {
                "network": source.network,
                "pools": pools,
                "counts": counts.as_dict(),
                "contracts": [_contract_json(c) for c in contracts],
            }
        )
    else:
        _print_index(contracts, counts)


def _tx_cell(history: History, pool: str, tx_hash: str, explorer: str) -> str:
    return history.link(pool, tx_hash, explorer) or tx_hash


def _history_json(history: History, explorer: str) -> dict[str, Any]:
    from cocoon_pool.indexer.history import iso_utc  # noqa: PLC0415

    def facts(x: Any) -> dict[str, Any]:
        return {
            "time": iso_utc(x.utime),
            "utime": x.utime,
            "pool": x.pool,
            "contract": x.contract,
            "tx_hash": x.tx_hash,
            "explorer_url": history.link(x.pool, x.tx_hash, explorer),
        }

    return {
        "payouts": [
            {
                "kind": p.kind,
                "member": p.member,
                "epoch": p.epoch,
                "amount_nanoton": p.amount,
                "pending_carry_nanoton": p.pending_carry,
                "paid_now": p.paid_now,
                "transferred_nanoton": p.transferred,
                **facts(p),
            }
            for p in history.payouts
        ],
        "stakes": [
            {
                "kind": s.kind,
                "member": s.member,
                "amount_nanoton": s.amount,
                "member_count": s.member_count,
                **facts(s),
            }
            for s in history.stakes
        ],
        "commissions": [
            {"recipient": c.recipient, "amount_nanoton": c.amount, **facts(c)}
            for c in history.commissions
        ],
        "epochs": [
            {
                "pool": e.row.pool,
                "epoch": e.row.epoch,
                "start": e.row.start_time,
                "end": e.row.end_time,
                "report_deadline": e.row.report_deadline,
                "received_nanoton": e.row.received,
                "commission_nanoton": e.row.commission,
                "net_nanoton": e.row.net,
                "reserve_in_nanoton": e.row.reserve_in,
                "penalty_pool_nanoton": e.row.penalty_pool,
                "bonus_paid_nanoton": e.row.bonus_paid,
                "claimable_nanoton": e.row.claimable,
                "reporters": e.row.reporters,
                "settled": e.settled,
                "paid_nanoton": e.paid,
                "dust_nanoton": e.row.dust,
                "closed_tx": e.row.closed_tx,
                "finalized_tx": e.row.finalized_tx,
            }
            for e in history.epochs
        ],
    }


def _opt_tons(value: int | None) -> str:
    return "" if value is None else tons(value)


def _print_history(history: History, explorer: str) -> None:
    from cocoon_pool.indexer.history import iso_utc  # noqa: PLC0415

    if not (history.payouts or history.stakes or history.commissions or history.epochs):
        console.print("nothing indexed yet: run `cocoon-pool index` first")
        return
    if history.payouts:
        table = Table(title="payouts (TON)")
        for name in ("time (UTC)", "epoch", "member", "share", "carried", "status", "sent"):
            right = name in ("share", "carried", "sent")
            table.add_column(name, justify="right" if right else "left")
        table.add_column("transaction", overflow="fold")
        for p in history.payouts:
            status = "paid" if p.paid_now else "[yellow]pending[/yellow]"
            table.add_row(
                iso_utc(p.utime),
                "" if p.epoch is None else str(p.epoch),
                _short(p.member),
                tons(p.amount) if p.kind == "reward" else "",
                tons(p.pending_carry) if p.kind == "reward" else tons(p.amount),
                status if p.kind == "reward" else "pending taken out",
                tons(p.transferred),
                escape(_tx_cell(history, p.pool, p.tx_hash, explorer)),
            )
        console.print(table)
    if history.stakes:
        table = Table(title="stakes (TON)")
        for name in ("time (UTC)", "change", "member", "amount", "members"):
            table.add_column(name, justify="right" if name in ("amount", "members") else "left")
        table.add_column("transaction", overflow="fold")
        for s in history.stakes:
            table.add_row(
                iso_utc(s.utime),
                s.kind,
                _short(s.member),
                tons(s.amount),
                "" if s.member_count is None else str(s.member_count),
                escape(_tx_cell(history, s.pool, s.tx_hash, explorer)),
            )
        console.print(table)
    if history.commissions:
        table = Table(title="commission collected (TON)")
        for name in ("time (UTC)", "recipient", "amount"):
            table.add_column(name, justify="right" if name == "amount" else "left")
        table.add_column("transaction", overflow="fold")
        for c in history.commissions:
            table.add_row(
                iso_utc(c.utime),
                _short(c.recipient),
                tons(c.amount),
                escape(_tx_cell(history, c.pool, c.tx_hash, explorer)),
            )
        console.print(table)
    if history.epochs:
        # Reserve-in and the settled count are left to --json: with them the table no longer
        # fits 160 columns and Rich would cut the amounts.
        table = Table(title="epoch results (TON)")
        names = ("epoch", "received", "commission", "net", "penalties", "bonus", "claimable")
        for name in (*names, "reports", "paid", "dust"):
            table.add_column(name, justify="right", no_wrap=True)
        for e in history.epochs:
            r = e.row
            table.add_row(
                str(r.epoch),
                _opt_tons(r.received),
                _opt_tons(r.commission),
                _opt_tons(r.net),
                _opt_tons(r.penalty_pool),
                _opt_tons(r.bonus_paid),
                _opt_tons(r.claimable),
                "" if r.reporters is None else str(r.reporters),
                tons(e.paid),
                _opt_tons(r.dust),
            )
        console.print(table)


@index_app.command("history")
def history(
    *,
    database: DatabaseOption = None,
    config: ConfigOption = None,
    member: Annotated[
        str | None, typer.Option("--member", help="Only this member's payouts and stakes.")
    ] = None,
    pool: Annotated[
        str | None, typer.Option("--pool", help="Only this pool (PoolOperator address).")
    ] = None,
    csv_file: Annotated[
        Path | None,
        typer.Option("--csv", help="Also write the money movements as CSV (a tax report)."),
    ] = None,
    explorer: Annotated[
        str, typer.Option(help="Explorer of the transaction links: tonviewer or tonscan.")
    ] = "tonviewer",
    as_json: JsonOption = False,
) -> None:
    """Show the indexed payouts, stakes, commission and epoch results."""
    from cocoon_pool.indexer import (  # noqa: PLC0415
        IndexerUsageError,
        csv_rows,
        explorer_url,
        load_history,
        open_database,
        parse_address,
        write_csv,
    )
    from cocoon_pool.indexer.db import sqlite_path  # noqa: PLC0415

    with one_line_errors():
        database = resolve(config, database).database
        explorer_url("embedded", "", explorer)  # validates --explorer before any work
        member_raw = parse_address(member) if member is not None else None
        pool_raw = parse_address(pool) if pool is not None else None
        path = sqlite_path(database)
        if path is not None and not path.exists():
            raise IndexerUsageError(
                f"there is no indexer database at {path}",
                "run `cocoon-pool index --database ...` first, or check the path",
            )
        engine, sessions = open_database(database)
        try:
            with sessions() as session:
                found = load_history(session, member_raw, pool_raw)
        finally:
            engine.dispose()
        rows = csv_rows(found, explorer)
        if csv_file is not None:
            write_csv(rows, csv_file)
    if as_json:
        data = _history_json(found, explorer)
        data = {"member": member_raw, "pool": pool_raw, **data}
        data["csv"] = None if csv_file is None else {"path": str(csv_file), "rows": len(rows)}
        print_json(data)
        return
    _print_history(found, explorer)
    if csv_file is not None:
        console.print(f"wrote {len(rows)} rows to {escape(str(csv_file))}", highlight=False)
