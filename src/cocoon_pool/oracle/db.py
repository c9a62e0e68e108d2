"""Engine, sessions and schema migrations (Alembic, configured from Python).

No ``alembic.ini`` is needed: the migration scripts ship inside the package and
:func:`alembic_config` points Alembic at them, handing over an open connection.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.config import Config
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from cocoon_pool import database
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


SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long an oracle write waits for SQLite's lock: shard processes sharing one file each
write a whole poll (tens of thousands of rows) in one transaction."""


def _longer_busy_timeout(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def make_engine(url: str) -> Engine:
    engine = database.engine_from_url(
        url,
        usage_error=OracleConfigError,
        hint="check database_url; PostgreSQL needs its driver installed (e.g. psycopg)",
    )
    if engine.dialect.name == "sqlite":
        # Registered after the shared pragmas, so this timeout is the one that holds.
        event.listen(engine, "connect", _longer_busy_timeout)
    return engine


def alembic_config(engine: Engine) -> Config:
    return database.alembic_config(engine, MIGRATIONS_DIR)


def upgrade_head(engine: Engine) -> None:
    """Bring the schema to the newest revision (a no-op when it already is)."""
    database.upgrade_to_head(
        engine, alembic_config(engine), component="oracle", database_error=OracleDatabaseError
    )


def open_database(url: str) -> tuple[Engine, sessionmaker[Session]]:
    """An engine on ``url`` with the schema at head, and a session factory for it."""
    engine = make_engine(url)
    upgrade_head(engine)
    return engine, sessionmaker(engine, expire_on_commit=False)
