"""Engine, sessions and schema migrations (Alembic, configured from Python).

No ``alembic.ini`` is needed: the migration scripts ship inside the package and
:func:`alembic_config` points Alembic at them, handing over an open connection.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from cocoon_pool.oracle.errors import OracleConfigError, OracleDatabaseError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def resolve_database_url(url: str, base_dir: Path) -> str:
    """Make a relative SQLite path relative to ``base_dir`` (the config file's folder).

    Why: ``sqlite:///oracle.db`` would otherwise depend on the daemon's working directory,
    and a restart from another directory would silently start an empty database.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise OracleConfigError(
            f"database_url {url!r} is not a database URL",
            "use e.g. sqlite:///oracle.db or postgresql://user@host/dbname",
        ) from exc
    if parsed.get_backend_name() != "sqlite":
        return url
    database = parsed.database
    if not database or database == ":memory:" or Path(database).is_absolute():
        return url
    return parsed.set(database=str((base_dir / database).resolve())).render_as_string(
        hide_password=False
    )


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    # WAL lets `oracle report` read while `oracle run` writes; busy_timeout waits for locks
    # instead of failing immediately.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def make_engine(url: str) -> Engine:
    try:
        engine = create_engine(url)
    except (ArgumentError, SQLAlchemyError, ImportError) as exc:
        raise OracleConfigError(
            f"cannot use database {url!r}: {exc}",
            "check database_url; PostgreSQL needs its driver installed (e.g. psycopg)",
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
        raise OracleDatabaseError(
            f"cannot migrate the oracle database {engine.url.render_as_string()}: {exc}",
            "check that the database exists, is reachable and writable",
        ) from exc


def open_database(url: str) -> tuple[Engine, sessionmaker[Session]]:
    """An engine on ``url`` with the schema at head, and a session factory for it."""
    engine = make_engine(url)
    upgrade_head(engine)
    return engine, sessionmaker(engine, expire_on_commit=False)
