"""Consoles and formatting shared by every command."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from cocoon_pool.errors import CocoonPoolError, UsageError

# When output is piped, Rich would assume 80 columns and truncate the amounts.
console = Console() if sys.stdout.isatty() else Console(width=160)
error_console = Console(stderr=True)
NANO = Decimal(10**9)


def tons(nanotons: int) -> str:
    """9-decimal TON amount, exact (no float rounding)."""
    return f"{Decimal(nanotons) / NANO:,.9f}"


def print_json(data: Any) -> None:
    """Exactly one JSON document on stdout, nothing else."""
    print(json.dumps(data, indent=2, sort_keys=False))


def emit_report(
    report: dict[str, Any], *, snapshot: Path | None, as_json: bool, show: Callable[[], None]
) -> None:
    """Write the benchmark snapshot (if asked), then print the report as JSON or via `show`."""
    if snapshot is not None:
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        snapshot.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if as_json:
        print_json(report)
    else:
        show()


def report_error(exc: CocoonPoolError) -> int:
    """Print one of our errors for a person (never a traceback); return the exit code.

    Usage errors (bad arguments or config) are one line with the hint and exit 2; other
    failures print the hint on a second line and exit 1. Markup is off because messages
    quote user input, which may contain brackets.
    """
    if isinstance(exc, UsageError):
        _say(f"error: {exc.message} (hint: {exc.hint})")
        return 2
    _say(f"error: {exc.message}")
    if exc.hint:
        _say(f"hint: {exc.hint}")
    return 1


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Our errors as one line plus a hint (exit 2 for usage, 1 otherwise), never a traceback.

    Why in each command and not only in ``main``: the sub-apps also run on their own
    (CliRunner, other entry points), and a bad option or config must not end in a traceback
    there either.
    """
    try:
        yield
    except CocoonPoolError as exc:
        raise typer.Exit(report_error(exc)) from None


def _say(line: str) -> None:
    error_console.print(line, highlight=False, markup=False, soft_wrap=True)
