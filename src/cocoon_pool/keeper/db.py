"""Engine, sessions and schema migrations of the keeper's database.

The keeper keeps its own Alembic history and version table (``keeper_alembic_version``), so
it can share a database with the oracle or the indexer without touching their schemas.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from cocoon_pool.keeper.errors import KeeperDatabaseError, KeeperUsageError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "keeper_alembic_version"


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    # WAL: the oracle or `history` may read the same file while the keeper writes;
    # busy_timeout waits for a lock instead of failing at once.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def make_engine(url: str) -> Engine:
    try:
        make_url(url)
        engine = create_engine(url)
    except (ArgumentError, SQLAlchemyError, ImportError) as exc:
        raise KeeperUsageError(
            f"cannot use database {url!r}: {exc}",
            "use e.g. sqlite:///keeper.db or postgresql+psycopg://user@host/dbname",
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
        raise KeeperDatabaseError(
            f"cannot migrate the keeper database {engine.url.render_as_string()}: {exc}",
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
