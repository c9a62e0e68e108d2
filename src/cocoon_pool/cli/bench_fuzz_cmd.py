"""`cocoon-pool bench fuzz`: generated messages against the real contracts, every invariant
checked after each one (see cocoon_pool.fuzz and docs/fuzzing.md)."""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from cocoon_pool.cli.output import console, error_console, one_line_errors, print_json
from cocoon_pool.fuzz import TARGETS, FuzzEngine, FuzzReport, FuzzWorld, merge_reports

WORKER_SEED_STRIDE = 1_000_003
"""Worker ``i`` of a parallel run uses seed ``seed + i * WORKER_SEED_STRIDE``."""


def _progress_line(report: FuzzReport, label: str) -> None:
    error_console.print(
        f"{label}{report.messages:,} messages, {report.transactions:,} transactions, "
        f"{report.rate:.1f} messages/s, {len(report.violations)} invariant breaks",
        highlight=False,
        markup=False,
    )


def _run(
    messages: int,
    *,
    seed: int,
    episode: int,
    max_seconds: float | None,
    progress_every: int,
    label: str = "",
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Build the pool and run the seeded loop; the report as a dict, with how it ended."""
    started = time.monotonic()
    engine = FuzzEngine(FuzzWorld.build())
    build_seconds = time.monotonic() - started

    def result(stopped: str | None) -> dict[str, Any]:
        report = engine.report
        if stopped is None and report.messages < messages:
            stopped = "time limit"
        return {"stopped": stopped, "build_seconds": round(build_seconds, 3), **report.as_dict()}

    def progress(report: FuzzReport) -> None:
        _progress_line(report, label)
        if on_progress is not None:
            on_progress(result("running"))

    stopped: str | None = None
    try:
        engine.run(
            messages,
            seed=seed,
            episode_length=episode,
            max_seconds=max_seconds,
            progress=progress if progress_every else None,
            progress_every=progress_every or 1,
        )
    except KeyboardInterrupt:
        # Ctrl-C (or SIGINT from a supervisor) still reports what was sent so far.
        stopped = "interrupted"
    return result(stopped)


def _worker(job: tuple[int, int, int, float | None, int, int]) -> dict[str, Any]:
    messages, seed, episode, max_seconds, progress_every, index = job
    return _run(
        messages,
        seed=seed,
        episode=episode,
        max_seconds=max_seconds,
        progress_every=progress_every,
        label=f"[worker {index}] ",
    )


def _print_report(data: dict[str, Any]) -> None:
    by_contract: dict[str, dict[str, int]] = data["by_contract"]
    table = Table(title=f"fuzz messages per contract and op class (seed {data['seed']})")
    table.add_column("op class")
    for target in TARGETS:
        table.add_column(target, justify="right")
    ops = sorted({op for counts in by_contract.values() for op in counts})
    for op in ops:
        table.add_row(op, *(f"{by_contract.get(t, {}).get(op, 0):,}" for t in TARGETS))
    accepted, refused = data["accepted"], data["refused"]
    table.add_row(
        "[bold]accepted / refused[/bold]",
        *(f"{accepted.get(t, 0):,} / {refused.get(t, 0):,}" for t in TARGETS),
    )
    console.print(table)
    kinds = ", ".join(f"{kind} {count:,}" for kind, count in data["by_kind"].items())
    senders = ", ".join(f"{who} {count:,}" for who, count in data["by_sender"].items())
    console.print(f"body kinds: {kinds}", highlight=False)
    console.print(f"senders: {senders}", highlight=False)
    console.print(
        f"{data['messages']:,} messages ({data['synthetic_messages']:,} synthetic) in "
        f"{data['seconds']:,.1f} s on {data['workers']} worker(s): "
        f"{data['messages_per_second']:,.1f} messages/s, {data['transactions']:,} "
        f"transactions, {data['refused_transactions_checked']:,} refused transactions "
        f"checked, {data['conservation_checks']:,} conservation checks",
        highlight=False,
    )
    if data["stopped"]:
        console.print(f"stopped early ({data['stopped']})", highlight=False)
    for note, count in data["informational"].items():
        console.print(f"informational: {note}: {count:,}", highlight=False)
    violations: list[dict[str, Any]] = data["violations"]
    if not violations:
        console.print("invariant breaks: none")
        return
    console.print(f"[red]invariant breaks: {len(violations)}[/red]")
    for v in violations:
        console.print(
            f"#{v['index']} {v['invariant']}: {v['message']}\n  {v['detail']}",
            highlight=False,
            markup=False,
        )


def fuzz(  # noqa: PLR0917 (a Typer command takes one parameter per option)
    messages: Annotated[int, typer.Option(help="How many messages to send.", min=1)] = 100_000,
    seed: Annotated[int, typer.Option(help="Seed of the generator (same seed, same run).")] = 1,
    episode: Annotated[
        int, typer.Option(help="Messages per episode (each starts on a fresh fork).", min=1)
    ] = 25,
    workers: Annotated[
        int,
        typer.Option(
            help="Processes, each with its own pool and Node helper; worker i uses seed "
            f"seed + i * {WORKER_SEED_STRIDE:,}.",
            min=1,
        ),
    ] = 1,
    max_seconds: Annotated[
        float | None,
        typer.Option(help="Stop after this many seconds with what was sent so far."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    snapshot: Annotated[
        Path | None, typer.Option(help="Also write the figures to this JSON file.")
    ] = None,
    progress_every: Annotated[
        int, typer.Option(help="Print progress to stderr every N messages (0: never).", min=0)
    ] = 1_000,
) -> None:
    """Fuzz every pool contract with generated messages; exit 1 on any invariant break."""
    with one_line_errors():
        header = {"requested_messages": messages, "seed": seed, "episode_length": episode}

        def finish(parts: list[dict[str, Any]]) -> dict[str, Any]:
            merged = merge_reports(parts)
            stopped = next((p["stopped"] for p in parts if p["stopped"]), None)
            return {
                **header,
                "workers": workers,
                "complete": stopped is None and merged["messages"] >= messages,
                "stopped": stopped,
                "build_seconds": max(p["build_seconds"] for p in parts),
                **merged,
            }

        def write(data: dict[str, Any]) -> None:
            if snapshot is not None:
                snapshot.parent.mkdir(parents=True, exist_ok=True)
                snapshot.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

        if not as_json:
            error_console.print("building the pool under fuzz...")
        if workers == 1:
            # A long run killed midway still leaves its figures so far in the snapshot.
            part = _run(
                messages,
                seed=seed,
                episode=episode,
                max_seconds=max_seconds,
                progress_every=progress_every,
                on_progress=lambda partial: write(finish([partial])),
            )
            parts = [part]
        else:
            shares = [messages // workers + (i < messages % workers) for i in range(workers)]
            jobs = [
                (share, seed + i * WORKER_SEED_STRIDE, episode, max_seconds, progress_every, i)
                for i, share in enumerate(shares)
            ]
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                parts = list(pool.map(_worker, jobs))
        final = finish(parts)
        write(final)
        if as_json:
            print_json(final)
        else:
            _print_report(final)
        if final["violations"]:
            raise typer.Exit(1)
