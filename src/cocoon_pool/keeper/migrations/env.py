"""Alembic environment of the keeper database.

Configured from Python (``cocoon_pool.keeper.db.alembic_config``): the caller passes an
open connection in ``config.attributes["connection"]``; without one (the ``alembic`` CLI
pointed at this folder) the URL from the config is used. The version table is the keeper's
own, so the oracle's and the indexer's migrations in the same database never mix with it.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection, create_engine

from cocoon_pool.keeper.db import VERSION_TABLE
from cocoon_pool.keeper.models import Base

target_metadata = Base.metadata


def _include_name(name: str | None, type_: str, _parent: Any) -> bool:
    # Autogenerate must ignore other tables sharing the database (the oracle's, the indexer's).
    return type_ != "table" or (name or "").startswith("keeper_")


def _run(connection: Connection) -> None:
    # render_as_batch: SQLite cannot ALTER most things; batch mode recreates the table.
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        include_name=_include_name,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("no connection and no sqlalchemy.url for the keeper migrations")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
