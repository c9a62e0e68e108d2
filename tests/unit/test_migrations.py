"""The indexer's and keeper's Alembic scripts, run as modules of the package.

Why not only through ``open_database``: Alembic loads these files under made-up module names
(``env_py``), so the package-scoped coverage run never sees them, and nothing else checks
that a fresh upgrade builds exactly the models' tables or that downgrade removes them again.
"""

from __future__ import annotations

import importlib
import io
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, create_engine, inspect

from cocoon_pool import database
from cocoon_pool.indexer import db as indexer_db
from cocoon_pool.indexer.errors import IndexerDatabaseError, IndexerUsageError

# The revisions are imported here, at collection, on purpose: coverage decides once per file
# whether to trace it, by the module name of the first code run from it. Imported under the
# package's name before any test lets Alembic load them (as ``v0001_initial_py``), they count
# in a whole-suite ``--cov=cocoon_pool`` run too.
from cocoon_pool.indexer.migrations.versions import v0001_initial as indexer_initial
from cocoon_pool.indexer.models import Base as IndexerBase
from cocoon_pool.keeper import db as keeper_db
from cocoon_pool.keeper.migrations.versions import v0001_initial as keeper_initial
from cocoon_pool.keeper.models import Base as KeeperBase

COMPONENTS = {
    "indexer": (
        indexer_db,
        IndexerBase.metadata,
        "cocoon_pool.indexer.migrations",
        "indexer_",
    ),
    "keeper": (keeper_db, KeeperBase.metadata, "cocoon_pool.keeper.migrations", "keeper_"),
}
REVISIONS = {"indexer": indexer_initial, "keeper": keeper_initial}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'schema.db'}")
    yield engine
    engine.dispose()


def fresh_import(name: str) -> ModuleType:
    """``name`` executed now (env.py does its work at import time)."""
    sys.modules.pop(name, None)
    return importlib.import_module(name)


def schema_diff(engine: Engine, metadata: MetaData, prefix: str) -> list[object]:
    """Alembic's differences between the database and the models (the version table aside)."""

    def ours(name: str | None, type_: str, _parent: object) -> bool:
        return type_ != "table" or (
            (name or "").startswith(prefix) and not (name or "").endswith("alembic_version")
        )

    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": ours}
        )
        return list(compare_metadata(context, metadata))


@pytest.mark.parametrize("component", sorted(COMPONENTS))
def test_the_first_revision_builds_the_models_and_downgrade_removes_them(
    component: str, engine: Engine
) -> None:
    _, metadata, _, prefix = COMPONENTS[component]
    revision = REVISIONS[component]
    assert revision.down_revision is None
    with engine.begin() as conn, Operations.context(MigrationContext.configure(conn)):
        revision.upgrade()
    tables = set(inspect(engine).get_table_names())
    assert tables == set(metadata.tables)
    assert all(name.startswith(prefix) for name in tables)
    assert schema_diff(engine, metadata, prefix) == []
    with engine.begin() as conn, Operations.context(MigrationContext.configure(conn)):
        revision.downgrade()
    assert inspect(engine).get_table_names() == []


@pytest.mark.parametrize("component", sorted(COMPONENTS))
def test_env_upgrades_on_the_given_connection_into_its_own_version_table(
    component: str, engine: Engine
) -> None:
    db, metadata, package, prefix = COMPONENTS[component]
    config = db.alembic_config(engine)
    script = ScriptDirectory.from_config(config)
    head = script.get_current_head()
    assert head is not None

    def upgrade(rev: object, _context: object) -> object:
        return script._upgrade_revs("head", rev)  # type: ignore[arg-type]

    with engine.begin() as conn:
        config.attributes["connection"] = conn
        with EnvironmentContext(config, script, fn=upgrade, destination_rev="head"):
            fresh_import(f"{package}.env")
    tables = set(inspect(engine).get_table_names())
    assert tables == set(metadata.tables) | {db.VERSION_TABLE}
    assert schema_diff(engine, metadata, prefix) == []
    with engine.connect() as conn:
        assert (
            MigrationContext.configure(
                conn, opts={"version_table": db.VERSION_TABLE}
            ).get_current_revision()
            == head
        )


@pytest.mark.parametrize("component", sorted(COMPONENTS))
def test_env_without_a_connection_uses_the_configured_url(component: str, engine: Engine) -> None:
    """The ``alembic`` command line points at the folder: env.py opens the URL itself."""
    db, metadata, package, _ = COMPONENTS[component]
    config = db.alembic_config(engine)
    script = ScriptDirectory.from_config(config)

    def upgrade(rev: object, _context: object) -> object:
        return script._upgrade_revs("head", rev)  # type: ignore[arg-type]

    with EnvironmentContext(config, script, fn=upgrade, destination_rev="head"):
        fresh_import(f"{package}.env")
    assert set(inspect(engine).get_table_names()) == set(metadata.tables) | {db.VERSION_TABLE}


def test_env_offline_renders_the_upgrade_as_sql(engine: Engine) -> None:
    config = indexer_db.alembic_config(engine)
    script = ScriptDirectory.from_config(config)

    def upgrade(rev: object, _context: object) -> object:
        return script._upgrade_revs("head", rev)  # type: ignore[arg-type]

    out = io.StringIO()
    config.output_buffer = out
    with EnvironmentContext(
        config, script, fn=upgrade, destination_rev="head", as_sql=True, starting_rev=None
    ):
        fresh_import("cocoon_pool.indexer.migrations.env")
    sql = out.getvalue()
    assert "CREATE TABLE indexer_contracts" in sql
    assert f"CREATE TABLE {indexer_db.VERSION_TABLE}" in sql
    assert inspect(engine).get_table_names() == []  # offline: nothing touched the database


def test_env_without_connection_or_url_says_so(engine: Engine) -> None:
    config = keeper_db.alembic_config(engine)
    config.set_main_option("sqlalchemy.url", "")
    config.file_config.remove_option("alembic", "sqlalchemy.url")
    script = ScriptDirectory.from_config(config)
    with (
        EnvironmentContext(config, script, fn=lambda rev, ctx: []),
        pytest.raises(RuntimeError, match=r"no connection and no sqlalchemy\.url for the keeper"),
    ):
        database.run_migrations(KeeperBase.metadata, component="keeper")


def test_a_url_no_engine_can_use_is_a_usage_error_with_the_hint() -> None:
    with pytest.raises(IndexerUsageError, match="cannot use database 'nosuchdb://x/y'") as e:
        database.engine_from_url("nosuchdb://x/y", usage_error=IndexerUsageError, hint="fix it")
    assert e.value.hint == "fix it"


def test_a_database_that_cannot_be_opened_fails_to_migrate_and_releases_the_engine(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'missing-dir' / 'indexer.db'}"
    engine = indexer_db.make_engine(url)
    disposed: list[bool] = []
    original = engine.dispose

    def dispose(close: bool = True) -> None:
        disposed.append(True)
        original(close)

    engine.dispose = dispose  # type: ignore[method-assign]
    with pytest.raises(IndexerDatabaseError, match="cannot migrate the indexer database") as e:
        database.open_at_head(engine, indexer_db.upgrade_head)
    assert "exists, is reachable and writable" in e.value.hint
    assert disposed == [True]
    assert not (tmp_path / "missing-dir").exists()


def test_autogenerate_only_compares_the_components_own_tables(engine: Engine) -> None:
    """Two components in one database: each one's env ignores the other's tables."""
    indexer_db.upgrade_head(engine)
    keeper_db.upgrade_head(engine)
    for db, metadata in ((indexer_db, IndexerBase.metadata), (keeper_db, KeeperBase.metadata)):
        config = db.alembic_config(engine)
        script = ScriptDirectory.from_config(config)
        found: list[object] = []

        def compare(
            rev: object,
            context: MigrationContext,
            found: list[object] = found,
            metadata: MetaData = metadata,
        ) -> list[object]:
            found.extend(compare_metadata(context, metadata))
            return []

        with engine.begin() as conn:
            config.attributes["connection"] = conn
            with EnvironmentContext(config, script, fn=compare):
                fresh_import(f"{db.__name__.rsplit('.', 1)[0]}.migrations.env")
        assert found == []
