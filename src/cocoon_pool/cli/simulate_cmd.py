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
    if not (result.conservation.conserved and result.reference_match):
        raise typer.Exit(1)


def show_result(result: SimulationResult) -> None:
    table = Table(title=f"{result.config.participants} members, {result.config.epochs} epochs")
    for column in ("member", "tier", "contribution", "base", "bonus", "penalty", "paid (TON)"):
        table.add_column(column, justify="left" if column in ("member", "tier") else "right")
    for m in result.members:
        table.add_row(
            m.name,
            m.tier,
            f"{m.contribution:,}",
            tons(m.base),
            tons(m.bonus),
            tons(m.penalty),
            tons(m.paid),
        )
    console.print(table)
    c = result.conservation
    summary = Table(title="summary", show_header=False)
    summary.add_column("item")
    summary.add_column("TON", justify="right")
    for label, value in (
        ("received", c.received),
        ("commission", c.commission),
        ("paid", c.paid),
        ("owed, not yet sent", c.owed),
        ("income of the open epoch", c.open_income),
        ("reserve", c.reserve),
        ("fees (storage + income gas)", c.fees),
    ):
        summary.add_row(label, tons(value))
    summary.add_row("conserved", "yes" if c.conserved else "NO")
    summary.add_row("matches reference model", "yes" if result.reference_match else "NO")
    console.print(summary)
    for line in result.mismatches:
        console.print(f"[red]{line}[/red]")
