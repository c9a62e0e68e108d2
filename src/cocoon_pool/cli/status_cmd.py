"""`cocoon-pool status`: one look at a deployed pool — config, epoch, pot, members, health."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from cocoon_pool.cli.output import console, print_json, tons
from cocoon_pool.contracts.pool import Pool
from cocoon_pool.contracts.storage import STATUS_NAMES
from cocoon_pool.errors import CocoonPoolError, UsageError


def pool_status(pool: Pool, now: int) -> dict[str, Any]:
    """Everything the get-methods say, as plain numbers (nanoton, seconds)."""
    info = pool.pool_info()
    ledger = pool.ledger()
    registry = pool.registry_info()
    reporting = pool.reporting_epoch()
    epoch_end = ledger.epoch_start + ledger.epoch_length
    return {
        "status": STATUS_NAMES.get(info.status, str(info.status)),
        "commission_bps": info.commission_bps,
        "next_commission": (
            {"bps": ledger.next_commission_bps, "from_epoch": ledger.next_commission_epoch}
            if ledger.next_commission_epoch
            else None
        ),
        "paused": ledger.paused,
        "winding_down": ledger.winding_down,
        "epoch": {
            "open": ledger.current_epoch,
            "started": ledger.epoch_start,
            "ends": epoch_end,
            "seconds_left": max(epoch_end - now, 0),
            "income_so_far_nanoton": ledger.open_income,
        },
        "reporting": (
            {
                "epoch": reporting.epoch,
                "deadline": reporting.deadline,
                "seconds_left": max(reporting.deadline - now, 0),
                "reporters": reporting.reporters,
                "net_nanoton": reporting.net,
            }
            if reporting.active
            else None
        ),
        "members": {"count": registry.member_count, "total_stake_nanoton": registry.total_stake},
        "money_nanoton": {
            "received": ledger.received,
            "commission": ledger.commission,
            "commission_unpaid": ledger.commission_unpaid,
            "paid": ledger.paid,
            "owed_in_final_epochs": ledger.unsettled,
            "pending": ledger.pending_credit,
            "reserve": ledger.reserve,
            "operator_stake": info.operator_stake,
        },
        "epochs_closed": ledger.epochs_closed,
    }


def health(url: str) -> dict[str, Any]:
    """GET a service's /healthz: its JSON (or text) and whether it answered 200."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/healthz", timeout=5) as response:
            body = response.read().decode()
            try:
                return {"ok": True, "details": json.loads(body)}
            except ValueError:
                return {"ok": True, "details": body.strip()}
    except (urllib.error.URLError, OSError) as exc:
        return {"ok": False, "details": str(getattr(exc, "reason", exc))}


def oracle_health(database_url: str, now: int) -> dict[str, Any]:
    """The oracle's last poll from its database: when, and whether it was discarded."""
    from sqlalchemy import select  # noqa: PLC0415

    from cocoon_pool.oracle.db import open_database  # noqa: PLC0415
    from cocoon_pool.oracle.models import Poll  # noqa: PLC0415

    engine, sessions = open_database(database_url)
    try:
        with sessions() as session:
            last = session.scalars(select(Poll).order_by(Poll.taken_at.desc()).limit(1)).first()
            if last is None:
                return {"ok": False, "details": "no poll stored yet"}
            return {
                "ok": not last.discarded,
                "details": {
                    "last_poll_seconds_ago": now - last.taken_at,
                    "members": last.members,
                    "down": last.down,
                    "discarded": last.discarded,
                },
            }
    finally:
        engine.dispose()


def status(
    config: Annotated[Path, typer.Option(help="The pool's pool.toml.")],
    keeper: Annotated[
        str | None, typer.Option(help="The keeper's metrics URL (http://127.0.0.1:9101).")
    ] = None,
    oracle_db: Annotated[
        str | None, typer.Option(help="The oracle's database URL, for its last poll.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """The pool's config, the open epoch and its time left, the pot, pending and owed
    amounts, members and totals, and the keeper's and the oracle's health."""
    from cocoon_pool.contracts.addresses import derive_pool_addresses  # noqa: PLC0415
    from cocoon_pool.pool_config import load_pool_file  # noqa: PLC0415

    pool_file = load_pool_file(config)
    if pool_file.endpoint is None:
        raise UsageError(
            f"{config.name} names no API endpoint", hint="set [api] endpoint in the pool.toml"
        )
    operator = pool_file.addresses.operator or (
        derive_pool_addresses(pool_file.admin, pool_file.params(), pool_file.pauser).operator
    )
    now = int(time.time())
    with pool_file.network_chain() as chain:
        if chain.get_state(operator).status != "active":
            raise CocoonPoolError(
                f"no pool is deployed at {operator.to_str()}",
                hint="deploy it (cocoon-pool deploy), or set [addresses] operator",
            )
        report = pool_status(Pool(chain, operator), now)
    report["network"] = pool_file.network
    report["operator"] = operator.to_str(is_user_friendly=False)
    if keeper is not None:
        report["keeper"] = health(keeper)
    if oracle_db is not None:
        report["oracle"] = oracle_health(oracle_db, now)
    if as_json:
        print_json(report)
        return
    _print(report)


def _print(report: dict[str, Any]) -> None:
    epoch = report["epoch"]
    money = report["money_nanoton"]
    table = Table(title=f"pool {report['operator']} on {report['network']}: {report['status']}")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("commission", f"{report['commission_bps'] / 100:g} %")
    table.add_row("open epoch", f"{epoch['open']} ({epoch['seconds_left'] // 3600} h left)")
    table.add_row("income so far (TON)", tons(epoch["income_so_far_nanoton"]))
    table.add_row("members", str(report["members"]["count"]))
    table.add_row("staked (TON)", tons(report["members"]["total_stake_nanoton"]))
    for key, value in money.items():
        table.add_row(f"{key.replace('_', ' ')} (TON)", tons(value))
    if report["reporting"] is not None:
        r = report["reporting"]
        table.add_row("reporting epoch", f"{r['epoch']}: {r['reporters']} reports")
    for service in ("keeper", "oracle"):
        if service in report:
            table.add_row(f"{service} health", "ok" if report[service]["ok"] else "NOT OK")
    console.print(table)
