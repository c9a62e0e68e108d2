"""The oracle service: sample members, keep the schedule across restarts, sign reports.

All state lives in the database, so a restarted oracle continues where it stopped: it
waits until ``poll_interval`` has passed since the last stored sample, and epochs are
accounted from whatever samples are stored.

Every poll is stored with its verdict (:func:`judge_poll`). A discarded poll keeps its
samples for the record, but the metrics leave them out.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from cocoon_pool.closing import Closing
from cocoon_pool.contracts.reports import OracleSigner
from cocoon_pool.oracle.config import MemberConfig, OracleConfig
from cocoon_pool.oracle.db import open_database
from cocoon_pool.oracle.errors import OracleConfigError, OracleDatabaseError, OracleReportError
from cocoon_pool.oracle.metrics import EpochWindow
from cocoon_pool.oracle.models import Base, Poll, Report, Sample
from cocoon_pool.oracle.poller import (
    SAMPLE_COLUMNS,
    PollResult,
    PollSettings,
    PollVerdict,
    judge_poll,
    poll_once,
)
from cocoon_pool.oracle.reports import StoredReport, store_report
from cocoon_pool.signals import on_stop_signals

log = logging.getLogger("cocoon_pool.oracle")

Clock = Callable[[], float]
Sleeper = Callable[[float], bool]
"""Sleep up to the given seconds; False when woken early because the oracle must stop."""


class StopFlag:
    """Set by SIGINT/SIGTERM; the loop finishes the poll in progress, then stops."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def sleep(self, seconds: float) -> bool:
        return not self._event.wait(max(0.0, seconds))


def stop_on_signals(stop: StopFlag) -> AbstractContextManager[None]:
    """Route SIGINT and SIGTERM to ``stop`` (main thread only), restoring the old handlers."""

    def handler(signum: int) -> None:
        log.info("received %s: finishing the current poll", signal.Signals(signum).name)
        stop.set()

    return on_stop_signals(handler)


@dataclass(frozen=True)
class RunSummary:
    polls: int
    samples: int
    down: int
    reports: int
    stopped: bool
    discarded: int = 0
    """Polls discarded as the oracle's own failure (their samples are in ``samples``)."""


@dataclass(frozen=True)
class PollRecord:
    """One stored poll: its samples and whether they count."""

    poll_id: int
    taken_at: int
    duration_ms: int
    verdict: PollVerdict
    results: list[PollResult]

    @property
    def discarded(self) -> bool:
        return self.verdict.discarded


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count``: the members this oracle process polls and stores.

    Several processes (on one machine or several) share one database, each polling its
    shard; reports are built from every shard's samples. A member's shard follows from its
    address alone, so adding or reordering members in the config moves no one else.
    """

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise OracleConfigError(
                f"shard {self.index}/{self.count} does not exist",
                f"give --shard i/n with 0 <= i < n, e.g. --shard 0/{max(self.count, 2)}",
            )

    @classmethod
    def parse(cls, text: str) -> Shard:
        index, sep, count = text.partition("/")
        try:
            if not sep:
                raise ValueError(text)
            shard = cls(int(index), int(count))
        except ValueError:
            raise OracleConfigError(
                f"--shard {text!r} is not of the form i/n", "e.g. --shard 0/2 and --shard 1/2"
            ) from None
        return shard

    def holds(self, address: str) -> bool:
        # Raw addresses are ``<wc>:<64 hex>`` account ids, themselves hashes: evenly spread.
        return int(address.rpartition(":")[2], 16) % self.count == self.index

    def members(self, members: Sequence[MemberConfig]) -> tuple[MemberConfig, ...]:
        return tuple(m for m in members if self.holds(m.address))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


INSERT_BATCH = 5_000
"""Rows per INSERT: large enough that per-statement cost vanishes, small enough for any
driver's parameter limits."""


def store_samples(session: Session, poll_id: int, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert sample rows (PollResult.row_tuple) of one poll in bulk.

    Plain driver ``executemany`` with positional rows: ORM objects, and even SQLAlchemy
    Core's per-row parameter processing, cost seconds at 100,000 rows.
    """
    connection = session.connection()
    columns = ("poll_id", *SAMPLE_COLUMNS)
    mark = _PARAM_MARKS.get(connection.dialect.paramstyle)
    for start in range(0, len(rows), INSERT_BATCH):
        batch = [(poll_id, *row) for row in rows[start : start + INSERT_BATCH]]
        if mark is None:  # a driver with named parameters only: SQLAlchemy binds them
            statement = insert(Base.metadata.tables[Sample.__tablename__])
            connection.execute(statement, [dict(zip(columns, r, strict=True)) for r in batch])
            continue
        sql = (
            f"INSERT INTO {Sample.__tablename__} ({', '.join(columns)}) "
            f"VALUES ({', '.join([mark] * len(columns))})"
        )
        connection.exec_driver_sql(sql, batch)


_PARAM_MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}
"""Positional placeholder per DB-API paramstyle (SQLite: qmark; psycopg: pyformat)."""


class Oracle(Closing):
    """An open oracle database plus the configuration it serves."""

    def __init__(
        self, config: OracleConfig, clock: Clock = time.time, shard: Shard | None = None
    ) -> None:
        self.config = config
        self.clock = clock
        self.shard = shard
        self.members = config.members if shard is None else shard.members(config.members)
        """The members this process polls: all of them, or its shard's."""
        self.engine: Engine
        self.sessions: sessionmaker[Session]
        self.engine, self.sessions = open_database(config.database_url)
        self._signer: OracleSigner | None = None
        self._skipped: set[int] = set()

    def close(self) -> None:
        self.engine.dispose()

    @property
    def signer(self) -> OracleSigner:
        if self._signer is None:
            self._signer = self.config.key.load()
        return self._signer

    def now(self) -> int:
        return int(self.clock())

    # -- sampling -------------------------------------------------------------------------

    def poll_settings(self) -> PollSettings:
        return PollSettings(
            timeout=self.config.timeout,
            concurrency=self.config.concurrency,
            distribution=self.config.distribution if self.config.check_owner else None,
            attempts=self.config.attempts,
            retry_backoff=self.config.retry_backoff,
            budget=self.config.poll_budget,
        )

    def poll(self, taken_at: int | None = None) -> PollRecord:
        """Poll every member once; store the poll and its samples in one transaction."""
        at = self.now() if taken_at is None else taken_at
        started = time.monotonic()
        results = poll_once(self.members, self.poll_settings(), at)
        duration_ms = int((time.monotonic() - started) * 1000)
        verdict = judge_poll(
            results,
            self.config.discard_poll_down_fraction,
            self.config.discard_poll_min_members,
        )
        row = Poll(
            taken_at=at,
            members=verdict.members,
            down=verdict.down,
            unreachable=verdict.unreachable,
            discarded=verdict.discarded,
            reason=verdict.reason,
            duration_ms=duration_ms,
        )
        # Built before the transaction: another shard may be waiting for the write lock.
        rows = [r.row_tuple() for r in results]
        try:
            with self.sessions.begin() as session:
                session.add(row)
                session.flush()  # assigns row.id for the samples
                store_samples(session, row.id, rows)
        except SQLAlchemyError as exc:
            raise OracleDatabaseError(
                f"cannot store samples: {exc}", "check that the database is reachable and writable"
            ) from exc
        if verdict.discarded:
            log.warning(
                "poll at %d discarded, its samples count for nobody: %s", at, verdict.reason
            )
        return PollRecord(row.id, at, duration_ms, verdict, results)

    def sample(self, taken_at: int | None = None) -> list[PollResult]:
        """Poll every member once and store the samples (see :meth:`poll`)."""
        return self.poll(taken_at).results

    def last_sample_at(self) -> int | None:
        with self.sessions() as session:
            return session.scalar(select(func.max(Sample.taken_at)))

    def first_sample_at(self) -> int | None:
        with self.sessions() as session:
            return session.scalar(select(func.min(Sample.taken_at)))

    def next_due(self) -> int:
        """When the next poll is due: ``poll_interval`` after the last stored sample."""
        last = self.last_sample_at()
        return self.now() if last is None else last + self.config.interval

    def run(
        self,
        stop: StopFlag,
        iterations: int | None = None,
        sleep: Sleeper | None = None,
    ) -> RunSummary:
        """Poll on schedule until ``stop`` is set or ``iterations`` polls are done."""
        sleeper = sleep or stop.sleep
        # One shard reports for all, from every shard's samples: the others only poll.
        auto_report = self.config.auto_report and (self.shard is None or self.shard.index == 0)
        if auto_report:
            _ = self.signer  # a bad key fails at start, not at the end of an epoch
        polls = samples = down = reports = discarded = 0
        while not stop.is_set() and (iterations is None or polls < iterations):
            wait = self.next_due() - self.clock()
            if wait > 0:
                if not sleeper(wait):
                    break
                continue
            record = self.poll()
            failed = record.verdict.down
            polls += 1
            samples += len(record.results)
            down += failed
            discarded += record.discarded
            log.info(
                "poll %d: %d up, %d down%s",
                polls,
                len(record.results) - failed,
                failed,
                " (discarded)" if record.discarded else "",
            )
            if auto_report:
                reports += self.auto_report()
        return RunSummary(polls, samples, down, reports, stop.is_set(), discarded)

    # -- epochs and reports ---------------------------------------------------------------

    def window(
        self, epoch: int, start: int | None = None, length: int | None = None
    ) -> EpochWindow:
        cfg_start, cfg_length = (
            self.config.epoch.window_of(epoch) if start is None or length is None else (0, 0)
        )
        return EpochWindow(
            epoch=epoch,
            start=cfg_start if start is None else start,
            length=cfg_length if length is None else length,
            interval=self.config.interval,
        )

    def report(
        self, epoch: int, start: int | None = None, length: int | None = None
    ) -> list[StoredReport]:
        """Compute, sign and store (once) every member's report for an ended epoch."""
        window = self.window(epoch, start, length)
        now = self.now()
        if now < window.end:
            raise OracleReportError(
                f"epoch {epoch} runs until {window.end} (now {now}); it is not over yet",
                "report an epoch after it has ended, or pass --start/--length for another window",
            )
        signer = self.signer
        try:
            with self.sessions.begin() as session:
                return [
                    store_report(
                        session,
                        signer=signer,
                        distribution=self.config.distribution,
                        member=member.address,
                        window=window,
                        scoring=self.config.scoring,
                        now=now,
                        global_id=self.config.global_id,
                        key_index=self.config.key_index,
                    )
                    for member in self.config.members
                ]
        except SQLAlchemyError as exc:
            raise OracleDatabaseError(
                f"cannot store reports: {exc}", "check that the database is reachable and writable"
            ) from exc

    def auto_report(self) -> int:
        """Sign the last ended epoch once, if the oracle sampled it from its first slot."""
        now = self.now()
        epoch = self.config.epoch.epoch_at(now) - 1
        if epoch < self.config.epoch.first:
            return 0
        window = self.window(epoch)
        with self.sessions() as session:
            done = session.scalar(
                select(func.count()).select_from(Report).where(Report.epoch == epoch)
            )
        if done and done >= len(self.config.members):
            return 0
        first = self.first_sample_at()
        if first is None or first >= window.start + self.config.interval:
            if not done and epoch not in self._skipped:
                self._skipped.add(epoch)
                log.info(
                    "epoch %d not reported automatically: sampling began after its first slot; "
                    "run `cocoon-pool oracle report --epoch %d` to report it anyway",
                    epoch,
                    epoch,
                )
            return 0
        stored = self.report(epoch)
        new = sum(r.status == "new" for r in stored)
        log.info("epoch %d: %d new signed reports stored", epoch, new)
        return new
