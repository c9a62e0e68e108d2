"""Alerts for a pool's operator: worker outages and tier drops (the oracle's database),
payouts and parameter changes, proposals and pauses (the indexer's), keeper failures (the
keeper's database and ``/healthz``), sent to a Telegram chat and a signed JSON webhook.

Every alert is stored once under its dedupe key with the cursors of the sources it came
from, so restarts resume and nothing is sent twice; a failing sink is retried next round.
See ``docs/alerts.md``. The service itself is :class:`cocoon_pool.alerts.service.AlertService`
(imported from there: it loads pool.toml's settings, which include ``[alerts]``).
"""

from __future__ import annotations

from cocoon_pool.alerts.alert import KINDS, Alert
from cocoon_pool.alerts.errors import AlertsDatabaseError, AlertsUsageError, SinkError
from cocoon_pool.alerts.recent import recent_alerts

__all__ = [
    "KINDS",
    "Alert",
    "AlertsDatabaseError",
    "AlertsUsageError",
    "SinkError",
    "recent_alerts",
]
