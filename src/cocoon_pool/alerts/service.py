"""The alerts service: find new alerts, store each once, deliver to every sink.

A round (:meth:`AlertService.run_once`):

1. **Find.** Each configured source is read after its cursor (docs/alerts.md). The new
   alerts, their delivery rows (one per sink, ``pending``) and the moved cursors are
   committed in one transaction, so a crash either keeps all of it or none, and a restart
   neither repeats nor skips an alert. An alert whose dedupe key is already stored is
   dropped. Alerts below ``min_severity`` or older than ``max_age`` (an old history read for
   the first time) are stored without deliveries: the operator page shows them, no chat
   gets them.
2. **Deliver.** Each sink gets its pending alerts, oldest first; each is marked ``sent``
   as soon as the sink took it. A sink that fails (after its own retries) keeps the rest
   pending for the next round, so one bad sink neither loses alerts nor holds up another.

Delivery is at least once: a crash between a send and its commit sends that alert again,
with the same dedupe key (the webhook's ``X-Cocoon-Alert-Key`` header).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from cocoon_pool import database
from cocoon_pool.alerts import detectors
from cocoon_pool.alerts.alert import Alert, severity_rank
from cocoon_pool.alerts.config import AlertsSettings
from cocoon_pool.alerts.db import open_database
from cocoon_pool.alerts.errors import AlertsDatabaseError, AlertsUsageError, SinkError
from cocoon_pool.alerts.models import STATE_PENDING, STATE_SENT, AlertRow, Delivery
from cocoon_pool.alerts.recent import alert_of
from cocoon_pool.alerts.sinks import Sink, TelegramSink, WebhookSink, tls_context
from cocoon_pool.closing import Closing

log = logging.getLogger("cocoon_pool.alerts")
Clock = Callable[[], float]


@dataclass
class RoundResult:
    """What one round found and delivered."""

    found: list[Alert] = field(default_factory=list)
    sent: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    """Sink name -> the error that stopped it this round."""
    pending: int = 0
    """Deliveries still pending after the round."""
    waiting: list[str] = field(default_factory=list)
    """Sources whose database has no tables yet (the component never ran there)."""

    def as_dict(self) -> dict[str, object]:
        return {
            "found": [a.as_dict() for a in self.found],
            "sent": self.sent,
            "failed": self.failed,
            "pending": self.pending,
            "waiting": self.waiting,
        }


def build_sinks(settings: AlertsSettings) -> list[Sink]:
    sinks: list[Sink] = []
    if settings.telegram is not None:
        sinks.append(TelegramSink(settings.telegram, settings.retry))
    if settings.webhook is not None:
        sinks.append(WebhookSink(settings.webhook, settings.retry))
    return sinks


class AlertService(Closing):
    """The alerts database, read-only engines on the sources, and the sinks."""

    def __init__(
        self,
        settings: AlertsSettings,
        *,
        sinks: Sequence[Sink] | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.engine: Engine
        self.sessions: sessionmaker[Session]
        self.engine, self.sessions = open_database(settings.database_url)
        self._sources: dict[str, Engine] = {}
        self._http: httpx.Client | None = None
        self.sinks: list[Sink] = list(build_sinks(settings) if sinks is None else sinks)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
        if self._http is not None:
            self._http.close()
        for engine in self._sources.values():
            engine.dispose()
        self.engine.dispose()

    def now(self) -> int:
        return int(self.clock())

    def _fetch(self, url: str) -> httpx.Response:
        if self._http is None:
            self._http = httpx.Client(timeout=self.settings.retry.timeout, verify=tls_context())
        return self._http.get(url)

    # -- finding ---------------------------------------------------------------------------

    def _source(self, url: str) -> Engine:
        if url not in self._sources:
            self._sources[url] = database.engine_from_url(
                url,
                usage_error=AlertsUsageError,
                hint="check the database URLs of [alerts] in pool.toml",
            )
        return self._sources[url]

    def _read(
        self,
        url: str | None,
        tables: tuple[str, ...],
        name: str,
        result: RoundResult,
        find: Callable[[Session], list[Alert]],
    ) -> list[Alert]:
        if url is None:
            return []
        engine = self._source(url)
        if not detectors.has_tables(engine, *tables):
            result.waiting.append(name)
            return []
        with Session(engine) as source:
            return find(source)

    def find(self, result: RoundResult | None = None) -> list[Alert]:
        """Read every source after its cursor; store and return the new alerts."""
        result = RoundResult() if result is None else result
        s = self.settings
        now = self.now()
        try:
            with self.sessions.begin() as state:
                found: list[Alert] = []
                found += self._read(
                    s.oracle_database,
                    ("oracle_samples", "oracle_polls", "oracle_reports"),
                    "oracle",
                    result,
                    lambda o: (
                        detectors.worker_outages(state, o, s.outage_samples)
                        + detectors.tier_drops(state, o)
                    ),
                )
                found += self._read(
                    s.indexer_database,
                    ("indexer_events", "indexer_payouts"),
                    "indexer",
                    result,
                    lambda i: (
                        detectors.pool_events(state, i) + detectors.payouts(state, i, s.payouts)
                    ),
                )
                found += self._read(
                    s.keeper_database,
                    ("keeper_actions",),
                    "keeper",
                    result,
                    lambda k: detectors.keeper_failures(state, k, s.keeper_failures),
                )
                if s.keeper_metrics is not None:
                    found += detectors.keeper_health(state, s.keeper_metrics, now, self._fetch)
                stored = self._store(state, found, now)
        except SQLAlchemyError as exc:
            raise AlertsDatabaseError(
                f"an alerts round failed on its databases: {exc}",
                "check that the databases in [alerts] are reachable; nothing was stored, the "
                "next round reads the same rows again",
            ) from exc
        result.found.extend(stored)
        return stored

    def _store(self, state: Session, found: list[Alert], now: int) -> list[Alert]:
        keys = [a.dedupe_key for a in found]
        known = set(state.scalars(select(AlertRow.dedupe_key).where(AlertRow.dedupe_key.in_(keys))))
        stored: list[Alert] = []
        floor = severity_rank(self.settings.min_severity)
        for alert in found:
            if alert.dedupe_key in known:
                continue
            known.add(alert.dedupe_key)
            row = AlertRow(
                dedupe_key=alert.dedupe_key,
                kind=alert.kind,
                severity=alert.severity,
                title=alert.title[:200],
                text=alert.text,
                created_at=now,
                occurred_at=alert.occurred_at,
                details=dict(alert.details),
            )
            state.add(row)
            fresh = now - alert.occurred_at <= self.settings.max_age
            if fresh and severity_rank(alert.severity) >= floor:
                for sink in self.sinks:
                    state.add(Delivery(alert=row, sink=sink.name, state=STATE_PENDING, attempts=0))
            stored.append(alert_of(row))
            log.info("alert %s: %s", alert.kind, alert.title)
        return stored

    # -- delivering ------------------------------------------------------------------------

    def deliver(self, result: RoundResult | None = None) -> RoundResult:
        """Send every pending delivery whose sink is configured; stop a sink at its first
        failure (the rest stay pending, in order, for the next round)."""
        result = RoundResult() if result is None else result
        for sink in self.sinks:
            with self.sessions() as state:
                pending = state.scalars(
                    select(Delivery)
                    .join(Delivery.alert)
                    .where(Delivery.sink == sink.name, Delivery.state == STATE_PENDING)
                    .order_by(AlertRow.id)
                ).all()
                for delivery in pending:
                    delivery.attempts += 1
                    try:
                        sink.send(alert_of(delivery.alert))
                    except SinkError as exc:
                        delivery.last_error = exc.message
                        state.commit()
                        result.failed[sink.name] = exc.message
                        log.warning("sink %s failed, retried next round: %s", sink.name, exc)
                        break
                    delivery.state, delivery.sent_at = STATE_SENT, self.now()
                    delivery.last_error = None
                    state.commit()
                    result.sent += 1
        with self.sessions() as state:
            result.pending = len(
                state.scalars(select(Delivery.id).where(Delivery.state == STATE_PENDING)).all()
            )
        return result

    def run_once(self) -> RoundResult:
        result = RoundResult()
        self.find(result)
        return self.deliver(result)

    def run(
        self,
        stop: threading.Event,
        *,
        interval: float | None = None,
        on_round: Callable[[RoundResult], None] | None = None,
    ) -> int:
        """Rounds every ``interval`` seconds until ``stop`` is set; returns the rounds run.

        A database that cannot be read is logged and tried again next round: the cursors did
        not move, so nothing is lost.
        """
        wait = self.settings.poll_interval if interval is None else interval
        rounds = 0
        while not stop.is_set():
            try:
                result = self.run_once()
            except AlertsDatabaseError as exc:
                log.error("%s", exc)
            else:
                if on_round is not None:
                    on_round(result)
            rounds += 1
            if stop.wait(wait):
                break
        return rounds

    def send_test(self) -> dict[str, str | None]:
        """One test alert to every sink, now; sink -> None (sent) or the error."""
        if not self.sinks:
            raise AlertsUsageError(
                "no sink is configured",
                "set telegram_chat_id (with a bot token) or webhook_url in [alerts]",
            )
        alert = detectors.test_alert(self.now())
        outcome: dict[str, str | None] = {}
        for sink in self.sinks:
            try:
                sink.send(alert)
                outcome[sink.name] = None
            except SinkError as exc:
                outcome[sink.name] = exc.message
        return outcome
