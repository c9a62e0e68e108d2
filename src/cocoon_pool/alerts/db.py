"""Engine, sessions and schema migrations of the alerts database.

The alerts service keeps its own Alembic history and version table
(``alerts_alembic_version``) and prefixes every table with ``alerts_``, so it can share a
database with the indexer and the keeper (pool.toml's ``[database] url``).
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cocoon_pool import database
from cocoon_pool.alerts.errors import AlertsDatabaseError, AlertsUsageError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "alerts_alembic_version"


def make_engine(url: str) -> Engine:
    return database.engine_from_url(
        url,
        usage_error=AlertsUsageError,
        hint="use e.g. sqlite:///alerts.db or postgresql+psycopg://user@host/dbname",
    )


def alembic_config(engine: Engine) -> Config:
    return database.alembic_config(engine, MIGRATIONS_DIR)


def upgrade_head(engine: Engine) -> None:
    """Bring the schema to the newest revision (a no-op when it already is)."""
    database.upgrade_to_head(
        engine, alembic_config(engine), component="alerts", database_error=AlertsDatabaseError
    )


def open_database(url: str) -> tuple[Engine, sessionmaker[Session]]:
    """An engine on ``url`` with the schema at head, and a session factory for it."""
    return database.open_at_head(make_engine(url), upgrade_head)
