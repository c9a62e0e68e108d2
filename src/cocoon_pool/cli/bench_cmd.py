"""`cocoon-pool bench ...`: gas per operation (deterministic), and the longer benchmarks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cocoon_pool.bench import GAS_GOALS, measure_gas
from cocoon_pool.cli.bench_coverage_cmd import coverage
from cocoon_pool.cli.bench_fuzz_cmd import fuzz
from cocoon_pool.cli.bench_oracle_cmd import oracle
from cocoon_pool.cli.bench_profile_cmd import profile
from cocoon_pool.cli.bench_scale_cmd import scale
from cocoon_pool.cli.output import console, error_console, print_json

bench_app = typer.Typer(
    help=(
        "Benchmarks: gas per operation and where it goes, TVM coverage, fuzzing, the oracle"
        " and the chain at scale."
    ),
    no_args_is_help=True,
)


@bench_app.command("gas")
def gas(
    small: Annotated[int, typer.Option(help="Members in the small pool.")] = 10,
    large: Annotated[int, typer.Option(help="Members in the large pool.")] = 1_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    snapshot: Annotated[
        Path | None, typer.Option(help="Also write the figures to this JSON file.")
    ] = None,
) -> None:
    """Gas of every operation's whole trace in a small and a large pool (must be equal)."""
    if small < 5 or large < 5:
        raise typer.BadParameter("pool sizes must be at least 5 (one member per tier)")
    sizes = (small, large)
    results = {}
    for n in sizes:
        if not as_json:
            error_console.print(f"building a pool of {n} members...")
        results[n] = measure_gas(n)
    equal = results[small] == results[large]
    report = {
        "members": list(sizes),
        "gas": {str(n): results[n] for n in sizes},
        "equal": equal,
        "goals": GAS_GOALS,
    }
    if snapshot is not None:
        # Committed snapshots make every gas change show up in a diff.
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        snapshot.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if as_json:
        print_json(report)
    else:
        table = Table(title="gas per operation (whole trace, wallets excluded)")
        table.add_column("operation")
        for n in sizes:
            table.add_column(f"N = {n:,}", justify="right")
        table.add_column("goal", justify="right")
        for op, value in results[small].items():
            goal = GAS_GOALS.get(op)
            table.add_row(op, f"{value:,}", f"{results[large][op]:,}", f"{goal:,}" if goal else "")
        console.print(table)
        console.print("equal at both sizes: " + ("yes" if equal else "[red]NO[/red]"))
    if not equal:
        raise typer.Exit(1)


bench_app.command("coverage")(coverage)
bench_app.command("fuzz")(fuzz)
bench_app.command("oracle")(oracle)
bench_app.command("profile")(profile)
bench_app.command("scale")(scale)
