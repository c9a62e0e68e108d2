"""Errors of the alerts service; all of them are CocoonPoolErrors with a hint."""

from __future__ import annotations

from cocoon_pool.errors import CocoonPoolError, UsageError


class AlertsUsageError(UsageError):
    """A bad argument or configuration: no [alerts] table, a bad URL, no sink to test."""


class AlertsDatabaseError(CocoonPoolError):
    """The alerts database (or a database it reads) could not be opened, migrated or read."""


class SinkError(CocoonPoolError):
    """A sink could not deliver an alert; the alert stays pending and is retried."""
