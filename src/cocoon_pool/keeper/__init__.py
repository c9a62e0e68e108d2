"""The keeper: an off-chain loop that closes epochs, relays the oracle's signed reports,
finalizes epochs and cranks every member's payout, idempotently (docs/keeper.md)."""

from __future__ import annotations

from cocoon_pool.keeper.core import (
    Keeper,
    KeeperSettings,
    ReportSource,
    SignedReport,
    StepResult,
    run_loop,
)
from cocoon_pool.keeper.db import open_database
from cocoon_pool.keeper.errors import KeeperDatabaseError, KeeperUsageError
from cocoon_pool.keeper.metrics import Metrics, serve_metrics

__all__ = [
    "Keeper",
    "KeeperDatabaseError",
    "KeeperSettings",
    "KeeperUsageError",
    "Metrics",
    "ReportSource",
    "SignedReport",
    "StepResult",
    "open_database",
    "run_loop",
    "serve_metrics",
]
