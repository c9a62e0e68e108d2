"""Alembic environment of the oracle database (the body is shared: ``cocoon_pool.database``).

The oracle came first, so it keeps Alembic's default version table and sees every table.
"""

from __future__ import annotations

from cocoon_pool.database import run_migrations
from cocoon_pool.oracle.models import Base

target_metadata = Base.metadata

run_migrations(target_metadata, component="oracle")
