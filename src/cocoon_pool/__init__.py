"""Cocoon GPU pool toolkit: TON contracts, an embedded emulated chain and the tools around them."""

from __future__ import annotations

__version__ = "0.1.0"
