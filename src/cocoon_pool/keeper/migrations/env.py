"""Alembic environment of the keeper database (the body is shared: ``cocoon_pool.database``).

The version table is the keeper's own, so the oracle's and the indexer's migrations in the
same database never mix with it; autogenerate ignores tables without the ``keeper_`` prefix.
"""

from __future__ import annotations

from cocoon_pool.database import run_migrations
from cocoon_pool.keeper.db import VERSION_TABLE
from cocoon_pool.keeper.models import Base

target_metadata = Base.metadata

run_migrations(
    target_metadata, component="keeper", version_table=VERSION_TABLE, table_prefix="keeper_"
)
