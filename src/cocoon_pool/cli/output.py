"""Consoles and formatting shared by every command."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from typing import Any

from rich.console import Console

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
