"""`cocoon-pool bench coverage`: TVM instructions executed vs present, per pool contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from cocoon_pool import tvm_coverage
from cocoon_pool.cli.output import console, error_console, one_line_errors, print_json
from cocoon_pool.contracts.build import checkout_contracts_dir

SNAPSHOT = Path("benchmarks") / "snapshots" / "tvm_coverage.json"


def _default_snapshot() -> Path | None:
    """The committed snapshot of the checkout this runs from; None once installed."""
    contracts = checkout_contracts_dir()
    return None if contracts is None else contracts.parent / SNAPSHOT


def coverage(  # noqa: PLR0917 (a Typer command: one parameter per option)
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    missed: Annotated[
        bool, typer.Option("--missed", help="Also list every unexecuted block of instructions.")
    ] = False,
    matrix: Annotated[
        bool,
        typer.Option(
            "--matrix/--no-matrix",
            help="Also send every message struct from every role to every contract (slower).",
        ),
    ] = True,
    snapshot: Annotated[
        Path | None,
        typer.Option(help=f"Where to write the JSON figures (default: the checkout's {SNAPSHOT})."),
    ] = None,
    as_markdown: Annotated[
        bool,
        typer.Option(
            "--markdown", help="Print the Results and unexecuted-block tables of docs/coverage.md."
        ),
    ] = False,
    no_snapshot: Annotated[
        bool, typer.Option("--no-snapshot", help="Write no snapshot file.")
    ] = False,
) -> None:
    """Per contract: TVM instructions executed vs present (from the emulator's VM logs, while
    a scenario driver replays the pool's life and every kind of refusal), with Tolk lines."""
    with one_line_errors():
        if not as_json:
            error_console.print("replaying the scenarios on the embedded chain...")
        report = tvm_coverage.pool_coverage(matrix=matrix)
    data = report.to_json()
    target = None if no_snapshot else (snapshot or _default_snapshot())
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    if as_json:
        print_json(data)
        return
    if as_markdown:
        console.print(tvm_coverage.markdown(data), markup=False, highlight=False, soft_wrap=True)
        return
    _print_table(data)
    if missed:
        _print_missed(data)
    if data["failed_steps"]:
        error_console.print(f"{len(data['failed_steps'])} driver steps raised (see --json).")
    if target is not None:
        error_console.print(f"snapshot: {target}")


def _print_table(data: dict[str, Any]) -> None:
    table = Table(title="TVM coverage (instructions executed vs present)")
    for col, justify in (
        ("contract", "left"),
        ("present", "right"),
        ("executed", "right"),
        ("%", "right"),
        ("% of reachable", "right"),
        ("missed blocks", "right"),
        ("Tolk lines fully run", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for name, c in data["contracts"].items():
        lines = tvm_coverage.tolk_lines_text(c)
        table.add_row(
            name,
            f"{c['instructions_present']:,}",
            f"{c['instructions_executed']:,}",
            f"{c['percent']:.2f}",
            f"{c['percent_of_reachable']:.2f}",
            f"{len(c['missed']):,}",
            lines,
        )
    console.print(table)
    total = data["all"]
    console.print(
        f"all: {total['instructions_executed']:,} of {total['instructions_present']:,} "
        f"({total['percent']:.2f} %); of the {total['reachable_instructions']:,} reachable "
        f"(present less {total['unreachable_instructions']:,} unreachable or defensive): "
        f"{total['percent_of_reachable']:.2f} %, {total['reachable_not_executed']:,} not run"
    )
    console.print(
        f"{data['logged_requests']:,} emulator requests logged, "
        f"{data['driver_steps']:,} driver steps, {data['seconds']:.0f} s"
    )


def _print_missed(data: dict[str, Any]) -> None:
    for name, c in data["contracts"].items():
        console.print(f"[bold]{name}[/bold]: {len(c['missed'])} unexecuted blocks")
        for block in c["missed"]:
            first, last = block["asm_lines"]
            where = ", ".join(block["tolk_lines"]) or "no Tolk line"
            head = " ; ".join(block["instructions"][:4])
            more = f" (+{len(block['instructions']) - 4})" if len(block["instructions"]) > 4 else ""
            console.print(f"  asm {first}-{last} [{where}]: {head}{more}", markup=False)
            verdict = block.get("verdict", "reachable")
            reason = block.get("reason") or "not reached yet by the scenario driver"
            console.print(f"    {verdict}: {reason}", markup=False)
