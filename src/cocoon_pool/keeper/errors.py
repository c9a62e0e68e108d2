"""Errors of the keeper; all of them are CocoonPoolErrors with a hint."""

from __future__ import annotations

from cocoon_pool.errors import CocoonPoolError, UsageError


class KeeperUsageError(UsageError):
    """A bad argument or configuration: a database URL, a missing pool address."""


class KeeperDatabaseError(CocoonPoolError):
    """The keeper's (or the oracle's) database could not be opened, migrated or read."""
