"""Errors of the oracle; all of them are CocoonPoolErrors with a hint."""

from __future__ import annotations

from cocoon_pool.errors import CocoonPoolError, UsageError


class OracleConfigError(UsageError):
    """The oracle's TOML configuration (or a command-line override) is invalid."""


class OracleDatabaseError(CocoonPoolError):
    """The oracle's database could not be opened, migrated or written."""


class OracleReportError(CocoonPoolError):
    """A report cannot be built (epoch not over, metrics out of bounds...)."""
