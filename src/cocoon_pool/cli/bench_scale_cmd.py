"""`cocoon-pool bench scale`: a whole pool of N members on the embedded chain, timed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cocoon_pool.cli.output import console, emit_report, error_console, one_line_errors
from cocoon_pool.scale import DEFAULT_BATCH, SMALL_POOL, ScaleConfig, ScaleResult, run_scale

MIB = 1024 * 1024


def scale(  # noqa: PLR0917 (a Typer command: one parameter per option)
    participants: Annotated[
        int, typer.Option("--participants", "-n", min=1, help="Members in the pool.")
    ] = 100_000,
    epochs: Annotated[int, typer.Option("--epochs", "-e", min=1, max=52, help="Epochs.")] = 1,
    batch: Annotated[
        int, typer.Option(min=1, max=10_000, help="Members per request to the Node helper.")
    ] = DEFAULT_BATCH,
    check_every: Annotated[
        int,
        typer.Option(
            min=0, help="Also check conservation after every k-th batch (0: at phase ends)."
        ),
    ] = 0,
    full_wallets: Annotated[
        bool,
        typer.Option(
            "--full-wallets",
            help="Run every wallet's code (as the tests do) instead of plain wallet accounts.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    snapshot: Annotated[
        Path | None, typer.Option(help="Also write the figures to this JSON file.")
    ] = None,
) -> None:
    """A full pool of N members (registration, bind + verify, reports, close/finalize,
    payouts): wall time, peak memory, transactions per second against the raw @ton/sandbox
    executor, and gas per operation next to the same run at N = 10 (must be equal)."""
    began = time.perf_counter()
    last = [0.0]

    def progress(phase: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if as_json or (now - last[0] < 5 and done != total):
            return
        last[0] = now
        error_console.print(f"{phase}: {done:,}/{total:,} members, {now - began:,.0f} s")

    with one_line_errors():
        config = ScaleConfig(
            participants=participants,
            epochs=epochs,
            batch=batch,
            check_every=check_every,
            plain_wallets=not full_wallets,
        )
        config.validate()
        if not as_json:
            error_console.print(f"running the pool at N = {SMALL_POOL} and N = {participants:,}...")
        result = run_scale(config, progress)
    report = result.as_json()
    emit_report(report, snapshot=snapshot, as_json=as_json, show=lambda: _print(result))
    if not result.ok:
        raise typer.Exit(1)


def _print(r: ScaleResult) -> None:
    n = r.config.participants
    phases = Table(title=f"a pool of {n:,} members, {r.config.epochs} epoch(s)")
    for col in ("phase", "operations", "transactions", "seconds", "tx/s"):
        phases.add_column(col, justify="left" if col == "phase" else "right")
    for p in r.phases:
        phases.add_row(
            p.name,
            f"{p.operations:,}",
            f"{p.transactions:,}",
            f"{p.seconds:,.1f}",
            f"{p.tx_per_second:,.1f}",
        )
    phases.add_row(
        "total", "", f"{r.transactions:,}", f"{r.chain_seconds:,.1f}", f"{r.tx_per_second:,.1f}"
    )
    console.print(phases)
    wallets = "plain accounts, no wallet transactions" if r.config.plain_wallets else "full"
    console.print(
        f"transactions per member: {r.transactions / n:,.1f} (wallets: {wallets}); "
        f"helper CPU per member: {1000 * r.node_cpu_seconds / n:,.1f} ms"
    )
    console.print(f"wall time: {r.wall_seconds:,.1f} s")
    console.print(
        f"peak memory: Python {r.python_peak_rss / MIB:,.0f} MiB + Node "
        f"{r.node_peak_rss / MIB:,.0f} MiB = {(r.python_peak_rss + r.node_peak_rss) / MIB:,.0f} MiB"
    )
    console.print(
        f"throughput: chain {r.tx_per_second:,.1f} tx/s end to end "
        f"(inside the helper {r.node_tx_per_second:,.1f} tx/s, of which the emulator "
        f"{r.node_emulate_seconds:,.1f} s of {r.node_handler_seconds:,.1f} s); raw @ton/sandbox "
        f"executor {r.raw_executor_tps:,.1f} tx/s on {r.raw_sampled:,} of the run's "
        f"transactions: chain/raw = {r.raw_ratio:.2f}"
    )
    console.print(
        f"CPU: helper {r.node_cpu_seconds:,.1f} s, Python {r.python_cpu_seconds:,.1f} s; per CPU "
        f"second of the helper: chain {r.node_cpu_tx_per_second:,.1f} tx, raw executor "
        f"{r.raw_executor_cpu_tps:,.1f} tx: chain/raw = {r.raw_cpu_ratio:.2f}"
    )
    console.print(
        f"raw executor with sandbox's default config (as its Blockchain runs): "
        f"{r.raw_default_tps:,.1f} tx/s, {r.raw_default_cpu_tps:,.1f} tx per CPU second"
    )
    gas = Table(title="gas per operation, whole trace, wallets excluded (min-max over the run)")
    gas.add_column("operation")
    gas.add_column(f"N = {SMALL_POOL}", justify="right")
    gas.add_column(f"N = {n:,}", justify="right")
    for op, value in r.gas.items():
        small = r.small_gas.get(op)
        gas.add_row(op, _range(small.as_list()) if small else "", _range(value.as_list()))
    console.print(gas)
    console.print("gas equal at both sizes: " + ("yes" if r.gas_equal else "[red]NO[/red]"))
    counters = Table(title=f"the pool's counters at N = {n:,}")
    counters.add_column("counter")
    counters.add_column("value", justify="right")
    for name, count in r.counters.items():
        counters.add_row(name, f"{count:,}")
    console.print(counters)
    console.print(
        f"conservation: {'holds' if r.conserved else '[red]BROKEN[/red]'} "
        f"({r.conservation_checks} checks); payouts equal the model: "
        + ("yes" if r.reference_match else f"[red]NO[/red] ({len(r.mismatches)})")
    )


def _range(values: list[int]) -> str:
    low, high = values
    return f"{low:,}" if low == high else f"{low:,}-{high:,}"
