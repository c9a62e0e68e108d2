"""Alembic environment of the indexer database (the body is shared: ``cocoon_pool.database``).

The version table is the indexer's own, so the oracle's migrations in the same database are
never confused with it; autogenerate ignores tables without the ``indexer_`` prefix.
"""

from __future__ import annotations

from cocoon_pool.database import run_migrations
from cocoon_pool.indexer.db import VERSION_TABLE
from cocoon_pool.indexer.models import Base

target_metadata = Base.metadata

run_migrations(
    target_metadata, component="indexer", version_table=VERSION_TABLE, table_prefix="indexer_"
)
