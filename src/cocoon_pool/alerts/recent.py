"""Reading stored alerts back: what the dashboard's operator page shows.

Imports neither the service nor pool.toml's loader, so ``cocoon_pool.alerts`` stays cheap to
import (and pool_config can include the ``[alerts]`` schema without a cycle).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session

from cocoon_pool import database
from cocoon_pool.alerts.alert import Alert
from cocoon_pool.alerts.detectors import has_tables
from cocoon_pool.alerts.errors import AlertsDatabaseError, AlertsUsageError
from cocoon_pool.alerts.models import AlertRow


def alert_of(row: AlertRow) -> Alert:
    return Alert(
        kind=row.kind,
        severity=row.severity,
        title=row.title,
        text=row.text,
        dedupe_key=row.dedupe_key,
        occurred_at=row.occurred_at,
        created_at=row.created_at,
        details=row.details,
    )


def _missing_file(url: str) -> bool:
    """An SQLite file that does not exist: reading it must not create it."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return False  # engine_from_url names the problem
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return False
    return not Path(database).exists()


def recent_alerts(database_url: str, limit: int = 50) -> list[dict[str, object]]:
    """The newest ``limit`` alerts, newest first, each with its deliveries (for the
    dashboard's operator page). An alerts database that was never created has none."""
    if limit < 1 or _missing_file(database_url):
        return []
    engine = database.engine_from_url(
        database_url, usage_error=AlertsUsageError, hint="pass the alerts database URL"
    )
    try:
        if not has_tables(engine, "alerts_alerts", "alerts_deliveries"):
            return []
        with Session(engine) as session:
            rows = session.scalars(select(AlertRow).order_by(AlertRow.id.desc()).limit(limit)).all()
            return [
                {
                    "id": row.id,
                    **alert_of(row).as_dict(),
                    "deliveries": [
                        {
                            "sink": d.sink,
                            "state": d.state,
                            "attempts": d.attempts,
                            "sent_at": d.sent_at,
                            "last_error": d.last_error,
                        }
                        for d in row.deliveries
                    ],
                }
                for row in rows
            ]
    except SQLAlchemyError as exc:
        raise AlertsDatabaseError(
            f"cannot read the alerts database: {exc}", "check the alerts database URL"
        ) from exc
    finally:
        engine.dispose()
