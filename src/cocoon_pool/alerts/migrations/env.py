"""Alembic environment of the alerts database (the body is shared: ``cocoon_pool.database``).

The version table is the alerts service's own, so it can share a database with the indexer,
the keeper or the oracle; autogenerate ignores tables without the ``alerts_`` prefix.
"""

from __future__ import annotations

from cocoon_pool.alerts.db import VERSION_TABLE
from cocoon_pool.alerts.models import Base
from cocoon_pool.database import run_migrations

target_metadata = Base.metadata

run_migrations(
    target_metadata, component="alerts", version_table=VERSION_TABLE, table_prefix="alerts_"
)
