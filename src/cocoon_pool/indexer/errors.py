"""Errors of the indexer; all of them are CocoonPoolErrors with a hint."""

from __future__ import annotations

from cocoon_pool.errors import CocoonPoolError, UsageError


class IndexerUsageError(UsageError):
    """A bad argument: an unparsable address or database URL, conflicting options."""


class IndexerDatabaseError(CocoonPoolError):
    """The indexer's database could not be opened, migrated, read or written."""


class IndexerSourceError(CocoonPoolError):
    """The transaction source failed or returned something the indexer cannot trust."""
