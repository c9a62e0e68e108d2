"""Engine, sessions and schema migrations of the indexer's database.

The indexer keeps its own Alembic history and version table (``indexer_alembic_version``),
so it can share a database with the oracle without either touching the other's schema.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from cocoon_pool.indexer.errors import IndexerDatabaseError, IndexerUsageError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "indexer_alembic_version"


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    # WAL lets `history` read while `index` writes; busy_timeout waits for a lock instead
    # of failing at once.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


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
    try:
        engine = create_engine(url)
    except (ArgumentError, SQLAlchemyError, ImportError) as exc:
        raise IndexerUsageError(
            f"cannot use database {url!r}: {exc}",
            "check --database; PostgreSQL needs its driver: pip install psycopg "
            "and a postgresql+psycopg:// URL",
        ) from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Percent signs in passwords would be read as interpolation by configparser.
    config.set_main_option(
        "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
    )
    return config


def upgrade_head(engine: Engine) -> None:
    """Bring the schema to the newest revision (a no-op when it already is)."""
    config = alembic_config(engine)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except SQLAlchemyError as exc:
        raise IndexerDatabaseError(
            f"cannot migrate the indexer database {engine.url.render_as_string()}: {exc}",
            "check that the database exists, is reachable and writable",
        ) from exc


def open_database(url: str) -> tuple[Engine, sessionmaker[Session]]:
    """An engine on ``url`` with the schema at head, and a session factory for it."""
    engine = make_engine(url)
    try:
        upgrade_head(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine, sessionmaker(engine, expire_on_commit=False)
