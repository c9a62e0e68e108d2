"""Engine and Alembic plumbing shared by the oracle's, the indexer's and the keeper's databases.

Each component keeps its own migrations folder, version table and error types (so several
can share one database and the CLI names the right one in its messages); only the
mechanics live here. The components' ``db`` modules and ``migrations/env.py`` files are thin
wrappers that pass those in.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from cocoon_pool.errors import CocoonPoolError

# The components' errors all take ``(message, hint)``.
ErrorType = Callable[[str, str], CocoonPoolError]


ADDRESS_LENGTH = 80
"""Raw addresses are ``<wc>:<64 hex>`` (at most 68 characters); a little headroom."""

# Named constraints keep migrations portable: PostgreSQL and SQLite pick different default
# names, and Alembic needs a stable name to alter or drop a constraint later.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def named_metadata() -> MetaData:
    """A component's own table metadata, with the shared constraint names."""
    return MetaData(naming_convention=NAMING_CONVENTION)


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    # WAL lets readers (`oracle report`, `history`, another component on the same file) read
    # while a daemon writes; busy_timeout waits for a lock instead of failing at once.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def engine_from_url(url: str, *, usage_error: ErrorType, hint: str) -> Engine:
    """An engine on ``url``; a bad URL or a missing driver raises ``usage_error(..., hint)``."""
    try:
        make_url(url)
        engine = create_engine(url)
    except (ArgumentError, SQLAlchemyError, ImportError) as exc:
        raise usage_error(f"cannot use database {url!r}: {exc}", hint) from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def alembic_config(engine: Engine, migrations_dir: Path) -> Config:
    """An Alembic config for the scripts in ``migrations_dir`` (no ``alembic.ini`` needed)."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    # Percent signs in passwords would be read as interpolation by configparser.
    config.set_main_option(
        "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
    )
    return config


def upgrade_to_head(
    engine: Engine, config: Config, *, component: str, database_error: ErrorType
) -> None:
    """Bring the schema to the newest revision (a no-op when it already is).

    The open connection is handed to ``env.py`` (see :func:`run_migrations`) so the upgrade
    runs in one transaction on this very engine.
    """
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except SQLAlchemyError as exc:
        raise database_error(
            f"cannot migrate the {component} database {engine.url.render_as_string()}: {exc}",
            "check that the database exists, is reachable and writable",
        ) from exc


def open_at_head(
    engine: Engine, upgrade: Callable[[Engine], None]
) -> tuple[Engine, sessionmaker[Session]]:
    """``engine`` after ``upgrade`` brought its schema to head, and a session factory for it.

    A failed upgrade disposes the engine, so a caller that gives up leaks no connections.
    """
    try:
        upgrade(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine, sessionmaker(engine, expire_on_commit=False)


def run_migrations(
    metadata: MetaData,
    *,
    component: str,
    version_table: str | None = None,
    table_prefix: str | None = None,
) -> None:
    """The body of a component's ``migrations/env.py``.

    Configured from Python (the component's ``db.alembic_config``): the caller passes an
    open connection in ``config.attributes["connection"]``; without one (the ``alembic`` CLI
    pointed at the folder) the URL from the config is used. ``version_table`` and
    ``table_prefix`` let components share a database: each keeps its own Alembic history,
    and autogenerate ignores the tables of the others. Left at None, Alembic's defaults apply.
    """
    # Only pass what the component sets, so Alembic's defaults stay in force otherwise.
    shared: dict[str, Any] = {"target_metadata": metadata}
    if version_table is not None:
        shared["version_table"] = version_table

    def include_name(name: str | None, type_: str, _parent: Any) -> bool:
        return type_ != "table" or (name or "").startswith(table_prefix or "")

    online: dict[str, Any] = dict(shared, compare_type=True)
    if table_prefix is not None:
        online["include_name"] = include_name

    def run(connection: Connection) -> None:
        # render_as_batch: SQLite cannot ALTER most things; batch mode recreates the table.
        context.configure(
            connection=connection,
            render_as_batch=connection.dialect.name == "sqlite",
            **online,
        )
        with context.begin_transaction():
            context.run_migrations()

    if context.is_offline_mode():
        context.configure(
            url=context.config.get_main_option("sqlalchemy.url"), literal_binds=True, **shared
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError(f"no connection and no sqlalchemy.url for the {component} migrations")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            run(conn)
    finally:
        engine.dispose()
