"""`cocoon-pool whatif`: the pool's recorded epochs replayed with another commission or tier
rates, next to what each member got (cocoon_pool.whatif)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cocoon_pool.cli.index_cmd import ConfigOption, DatabaseOption, resolve
from cocoon_pool.cli.output import console, one_line_errors, print_json, tons

Bps = Annotated[int | None, typer.Option(help="Basis points (100 = 1 %); default: today's rule.")]


def whatif(
    *,
    commission: Annotated[
        int | None,
        typer.Option(help="Commission in bps (500..1500); default: each epoch's recorded one."),
    ] = None,
    bonus_bps: Bps = None,
    minor_penalty_bps: Bps = None,
    major_penalty_bps: Bps = None,
    outage_penalty_bps: Bps = None,
    database: DatabaseOption = None,
    config: ConfigOption = None,
    pool: Annotated[
        str | None, typer.Option("--pool", help="The pool (PoolOperator address) if several.")
    ] = None,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="Print one CSV row per member and epoch.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """What each member would have received on the pool's recorded epochs with another
    commission or tier rates, next to what they got (the reference model replayed)."""
    from cocoon_pool.indexer import IndexerUsageError, open_database, parse_address  # noqa: PLC0415
    from cocoon_pool.indexer.db import sqlite_path  # noqa: PLC0415
    from cocoon_pool.whatif import TierRates, csv_text, what_if  # noqa: PLC0415

    with one_line_errors():
        if as_csv and as_json:
            raise IndexerUsageError("--csv and --json both print", "choose one of them")
        target = resolve(config, database, pool=pool)
        defaults = TierRates()
        rates = TierRates(
            bonus_bps=defaults.bonus_bps if bonus_bps is None else bonus_bps,
            minor_penalty_bps=(
                defaults.minor_penalty_bps if minor_penalty_bps is None else minor_penalty_bps
            ),
            major_penalty_bps=(
                defaults.major_penalty_bps if major_penalty_bps is None else major_penalty_bps
            ),
            outage_penalty_bps=(
                defaults.outage_penalty_bps if outage_penalty_bps is None else outage_penalty_bps
            ),
        )
        pool_raw = parse_address(target.pool) if target.pool is not None else None
        path = sqlite_path(target.database)
        if path is not None and not path.exists():
            raise IndexerUsageError(
                f"there is no indexer database at {path}",
                "run `cocoon-pool index --database ...` first, or check the path",
            )
        engine, sessions = open_database(target.database)
        try:
            with sessions() as session:
                result = what_if(session, pool=pool_raw, commission_bps=commission, rates=rates)
        finally:
            engine.dispose()
    if as_json:
        print_json(result.to_json())
        return
    if as_csv:
        print(csv_text(result), end="")
        return
    _print(result)


def _print(result: object) -> None:
    from cocoon_pool.whatif import WhatIf  # noqa: PLC0415

    assert isinstance(result, WhatIf)
    rates = result.rates
    scenario = (
        "recorded commission"
        if result.commission_bps is None
        else f"commission {result.commission_bps / 100:g} %"
    )
    table = Table(
        title=f"what-if on {len(result.epochs)} recorded epochs: {scenario}, bonus "
        f"{rates.bonus_bps / 100:g} %, penalties {rates.minor_penalty_bps / 100:g} / "
        f"{rates.major_penalty_bps / 100:g} / +{rates.outage_penalty_bps / 100:g} %"
    )
    for column in ("member", "epochs", "got (TON)", "would have got (TON)", "difference (TON)"):
        table.add_column(column, justify="left" if column == "member" else "right")
    for t in result.members:
        got = tons(t.actual) + (f" (+{t.unsettled} unsettled)" if t.unsettled else "")
        table.add_row(t.member, str(t.epochs), got, tons(t.whatif), tons(t.difference))
    console.print(table)
    recorded, scenario_commission = result.commission
    console.print(
        f"commission: {tons(recorded)} TON recorded, {tons(scenario_commission)} TON in this "
        "scenario",
        highlight=False,
    )
    console.print(
        "model = chain: the replay with the recorded parameters gives every settled share"
        if result.baseline_matches
        else "WARNING: some settled shares differ from the replay with the recorded parameters",
        highlight=False,
    )
