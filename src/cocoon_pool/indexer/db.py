"""Engine, sessions and schema migrations of the indexer's database.

The indexer keeps its own Alembic history and version table (``indexer_alembic_version``),
so it can share a database with the oracle without either touching the other's schema.
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from cocoon_pool import database
from cocoon_pool.indexer.errors import IndexerDatabaseError, IndexerUsageError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "indexer_alembic_version"


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite URL (None for other back ends and in-memory databases)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise IndexerUsageError(
            f"{url!r} is not a database URL",
            "use e.g. sqlite:///indexer.db or postgresql+psycopg://user@host/dbname",
        ) from exc
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def make_engine(url: str) -> Engine:
    sqlite_path(url)  # validates the URL with a clear message
    return database.engine_from_url(
        url,
        usage_error=IndexerUsageError,
        hint=(
            "check --database; PostgreSQL needs its driver: pip install psycopg "
            "and a postgresql+psycopg:// URL"
        ),
    )


def alembic_config(engine: Engine) -> Config:
    return database.alembic_config(engine, MIGRATIONS_DIR)


def upgrade_head(engine: Engine) -> None:
    """Bring the schema to the newest revision (a no-op when it already is)."""
    database.upgrade_to_head(
        engine, alembic_config(engine), component="indexer", database_error=IndexerDatabaseError
    )


def open_database(url: str) -> tuple[Engine, sessionmaker[Session]]:
    """An engine on ``url`` with the schema at head, and a session factory for it."""
    return database.open_at_head(make_engine(url), upgrade_head)
