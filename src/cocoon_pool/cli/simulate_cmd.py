"""`cocoon-pool simulate`: the full pool lifecycle on the embedded chain."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cocoon_pool.cli.output import console, print_json, tons
from cocoon_pool.simulate import Simulation, SimulationConfig, SimulationResult


def simulate(
    participants: Annotated[
        int, typer.Option("--participants", "-n", help="Members to register.")
    ] = 10,
    epochs: Annotated[int, typer.Option("--epochs", "-e", help="Epochs to run.")] = 3,
    seed: Annotated[int, typer.Option("--seed", "-s", help="Seed of the random metrics.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Deploy a pool on the embedded chain and run it: members, income, reports, payouts."""
    sim = Simulation(SimulationConfig(participants=participants, epochs=epochs, seed=seed))
    if as_json:
        result = sim.run()
        print_json(result.as_json())
    else:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as bar:
            task = bar.add_task("simulating", total=sim.steps_total())
            sim.progress = lambda step: bar.update(task, advance=1, description=step)
            result = sim.run()
        show_result(result)
    if not (
        result.conservation.conserved and result.reference_match and not result.figure_mismatches
    ):
        raise typer.Exit(1)


def plural(count: int, noun: str) -> str:
    """``1 member``, ``2 members``, ``0 members``."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


MEMBER_COLUMNS = (
    "member",
    "tier",
    "contribution",
    "base (TON)",
    "bonus (TON)",
    "penalty (TON)",
    "paid (TON)",
    "pending (TON)",
)


def show_result(result: SimulationResult) -> None:
    config = result.config
    title = f"{plural(config.participants, 'member')}, {plural(config.epochs, 'epoch')}"
    table = Table(title=title, show_footer=True)
    totals = {
        "paid (TON)": tons(sum(m.paid for m in result.members)),
        "pending (TON)": tons(sum(m.pending for m in result.members)),
    }
    for column in MEMBER_COLUMNS:
        table.add_column(
            column,
            footer="total" if column == "member" else totals.get(column, ""),
            justify="left" if column in ("member", "tier") else "right",
        )
    for m in result.members:
        table.add_row(
            m.name,
            m.tier,
            f"{m.contribution:,}",
            tons(m.base),
            tons(m.bonus),
            tons(m.penalty),
            tons(m.paid),
            tons(m.pending),
        )
    console.print(table)
    s = result.summary
    summary = Table(title="summary", show_header=False)
    summary.add_column("item")
    summary.add_column("TON", justify="right")
    for label, value in (
        ("received", s.received),
        ("commission", s.commission),
        ("paid to members", s.paid),
        ("owed to members, not yet sent", s.owed),
        ("income of the open epoch", s.open_income),
        ("reserve", s.reserve),
        ("storage and gas paid from pool income", s.income_fees),
    ):
        summary.add_row(label, f"{tons(value)} TON")
    summary.add_section()
    summary.add_row(
        "storage paid from the floor (next income refills it)", f"{tons(s.floor_storage)} TON"
    )
    summary.add_row("conserved", "yes" if result.conservation.conserved else "NO")
    summary.add_row("members add up to the summary", "no" if result.figure_mismatches else "yes")
    summary.add_row("matches reference model", "yes" if result.reference_match else "NO")
    console.print(summary)
    for line in result.mismatches + result.figure_mismatches:
        console.print(f"[red]{line}[/red]")
