"""Consoles and formatting shared by every command."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from typing import Any

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


def _say(line: str) -> None:
    error_console.print(line, highlight=False, markup=False, soft_wrap=True)
