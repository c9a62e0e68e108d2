"""`cocoon-pool bench profile`: where each payout path's gas goes, by instruction class."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cocoon_pool.cli.output import console, error_console, one_line_errors, print_json
from cocoon_pool.gas_profile import (
    PATH_NAMES,
    PAYOUT_GOAL,
    GasClass,
    PathProfile,
    classify,
    profile_payouts,
)


def profile(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    steps: Annotated[
        str | None,
        typer.Option(
            "--steps",
            metavar="PATH",
            help="Also list every instruction of one path with its gas and class "
            "(payout, claim, payout_pending or claim_pending).",
        ),
    ] = None,
) -> None:
    """Each payout path's gas split by instruction class (from the TVM log), and what would be
    left with no stack moves and no code-cell jumps at all: if that is still above the goal,
    only fewer transactions, cells or messages can meet it."""
    if steps is not None and steps not in PATH_NAMES:
        raise typer.BadParameter(
            f"unknown path {steps!r}: use one of {', '.join(PATH_NAMES)}", param_hint="--steps"
        )
    with one_line_errors():
        if not as_json:
            error_console.print("running every payout path with the TVM's gas log...")
        paths = profile_payouts()
    if as_json:
        print_json({"goal": PAYOUT_GOAL, "paths": [p.to_json() for p in paths]})
        return
    console.print(_paths_table(paths))
    console.print(_transactions_table(paths))
    if steps is not None:
        console.print(_steps_table(next(p for p in paths if p.name == steps)))


def _mark(value: int) -> str:
    return f"{value:,} " + ("✔" if value <= PAYOUT_GOAL else "✘")


def _paths_table(paths: list[PathProfile]) -> Table:
    table = Table(title=f"payout paths: gas by instruction class (goal ≤ {PAYOUT_GOAL:,})")
    table.add_column("path")
    table.add_column("gas", justify="right")
    table.add_column("fixed¹", justify="right")
    table.add_column("code-cell jumps", justify="right")
    table.add_column("stack moves", justify="right")
    table.add_column("other", justify="right")
    table.add_column("no stack moves", justify="right")
    table.add_column("no stack moves, no jumps", justify="right")
    for p in paths:
        table.add_row(
            p.name,
            _mark(p.gas),
            f"{p.fixed:,}",
            f"{p.total(GasClass.CODE_CELLS):,}",
            f"{p.total(GasClass.STACK):,}",
            f"{p.total(GasClass.OTHER):,}",
            _mark(p.without_stack),
            _mark(p.without_stack_and_code_cells),
        )
    table.caption = (
        "¹ method lookup, cells created, messages sent, reserve and data cells read: what the "
        "path's transactions, cells and messages cost whatever the code"
    )
    return table


def _transactions_table(paths: list[PathProfile]) -> Table:
    table = Table(title="per transaction")
    table.add_column("path")
    table.add_column("contract")
    table.add_column("message in")
    table.add_column("gas", justify="right")
    table.add_column("instr.", justify="right")
    for kind in GasClass:
        table.add_column(kind.value, justify="right")
    for p in paths:
        for t in p.transactions:
            table.add_row(
                p.name,
                t.contract,
                t.op,
                f"{t.gas:,}",
                f"{t.instructions:,}",
                *(f"{t.by_class.get(kind, 0):,}" for kind in GasClass),
            )
    return table


def _steps_table(path: PathProfile) -> Table:
    table = Table(title=f"{path.name}: every instruction")
    table.add_column("contract")
    table.add_column("#", justify="right")
    table.add_column("instruction")
    table.add_column("gas", justify="right")
    table.add_column("class")
    for t in path.transactions:
        for n, (mnemonic, gas) in enumerate(t.steps, 1):
            table.add_row(t.contract, str(n), mnemonic, str(gas), classify(mnemonic).value)
    return table
