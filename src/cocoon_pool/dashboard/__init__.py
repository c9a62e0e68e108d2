"""The web dashboard (``cocoon-pool dashboard``): pool, member, operator and what-if pages
served by FastAPI from the indexer database and the chain's get-methods.

See ``docs/dashboard.md``.
"""

from __future__ import annotations

from cocoon_pool.dashboard.app import AlertsProvider, create_app, no_alerts
from cocoon_pool.dashboard.data import Dashboard, MemberNotFound

__all__ = ["AlertsProvider", "Dashboard", "MemberNotFound", "create_app", "no_alerts"]
