"""Every component's migrations down to nothing and back up, through Alembic's own loader (the
way `open_database` runs them), on the given connection.

The oracle's and the alerts' revisions have a downgrade too; nothing else runs them. Coverage
sees these files by directory (pyproject ``[tool.coverage.run] source_dirs``), since Alembic
loads them under made-up module names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from cocoon_pool.alerts import db as alerts_db
from cocoon_pool.alerts.models import Base as AlertsBase
from cocoon_pool.oracle import db as oracle_db
from cocoon_pool.oracle.models import Base as OracleBase

OracleEngine = Callable[[str], Engine]


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'migrations.db'}"


def _run(engine: Engine, config: Config, action: Callable[[Config], None]) -> None:
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        action(config)


def _revision(engine: Engine, version_table: str) -> str | None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": version_table})
        return context.get_current_revision()


@pytest.mark.parametrize(
    ("db", "metadata_tables", "version_table"),
    [
        (oracle_db, set(OracleBase.metadata.tables), "alembic_version"),
        (alerts_db, set(AlertsBase.metadata.tables), alerts_db.VERSION_TABLE),
    ],
    ids=["oracle", "alerts"],
)
def test_head_to_base_and_back_leaves_exactly_the_models(
    db: ModuleType, metadata_tables: set[str], version_table: str, db_url: str
) -> None:
    engine = db.make_engine(db_url)
    try:
        db.upgrade_head(engine)
        assert set(inspect(engine).get_table_names()) == metadata_tables | {version_table}
        head = _revision(engine, version_table)
        assert head is not None
        config = db.alembic_config(engine)
        _run(engine, config, lambda c: command.downgrade(c, "base"))
        assert set(inspect(engine).get_table_names()) == {version_table}
        assert _revision(engine, version_table) is None
        db.upgrade_head(engine)
        assert set(inspect(engine).get_table_names()) == metadata_tables | {version_table}
        assert _revision(engine, version_table) == head
    finally:
        engine.dispose()


def test_oracle_downgrade_of_the_polls_revision_removes_only_its_parts(db_url: str) -> None:
    """v0002 added the polls table, samples.poll_id and reports.discarded_slots; one step
    down removes those and keeps the first revision's tables and columns."""
    engine = oracle_db.make_engine(db_url)
    try:
        oracle_db.upgrade_head(engine)
        config = oracle_db.alembic_config(engine)
        _run(engine, config, lambda c: command.downgrade(c, "-1"))
        found = inspect(engine)
        tables = set(found.get_table_names())
        assert "oracle_polls" not in tables
        assert {"oracle_samples", "oracle_reports"} <= tables
        samples = {c["name"] for c in found.get_columns("oracle_samples")}
        reports = {c["name"] for c in found.get_columns("oracle_reports")}
        assert "poll_id" not in samples and "member" in samples
        assert "discarded_slots" not in reports
        assert found.get_foreign_keys("oracle_samples") == []
        # and up again: the polls revision applies cleanly on top of the first one
        oracle_db.upgrade_head(engine)
        again = inspect(engine)
        assert "oracle_polls" in set(again.get_table_names())
        assert "poll_id" in {c["name"] for c in again.get_columns("oracle_samples")}
    finally:
        engine.dispose()
