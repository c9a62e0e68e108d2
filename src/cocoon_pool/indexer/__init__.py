"""The pool indexer: follows a pool's contracts through a :class:`TransactionSource`, stores
their transactions and decoded events (SQLAlchemy 2 + Alembic, SQLite or PostgreSQL) and
derives the history members and operators need: payouts, stakes, commission, epoch results.

See ``docs/indexer.md`` for the tables, the commands and the CSV columns.
"""

from __future__ import annotations

from cocoon_pool.indexer.db import open_database, upgrade_head
from cocoon_pool.indexer.errors import (
    IndexerDatabaseError,
    IndexerSourceError,
    IndexerUsageError,
)
from cocoon_pool.indexer.history import (
    CSV_COLUMNS,
    CsvRow,
    History,
    csv_rows,
    csv_text,
    explorer_url,
    load_history,
    write_csv,
)
from cocoon_pool.indexer.indexer import IndexCounts, index, index_once, parse_address
from cocoon_pool.indexer.source import (
    NETWORKS,
    EmulatedChainSource,
    TransactionSource,
    network_source,
)

__all__ = [
    "CSV_COLUMNS",
    "NETWORKS",
    "CsvRow",
    "EmulatedChainSource",
    "History",
    "IndexCounts",
    "IndexerDatabaseError",
    "IndexerSourceError",
    "IndexerUsageError",
    "TransactionSource",
    "csv_rows",
    "csv_text",
    "explorer_url",
    "index",
    "index_once",
    "load_history",
    "network_source",
    "open_database",
    "parse_address",
    "upgrade_head",
    "write_csv",
]
