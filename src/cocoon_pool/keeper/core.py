"""The keeper: closes epochs, relays the oracle's signed reports, finalizes, cranks payouts.

Every action is idempotent, so a keeper killed at any point (kill -9) and restarted never
pays anyone twice and never skips anyone:

1. Before sending, the keeper asks the chain whether the action is already done (the epoch is
   closed, the member's ``last_reported_epoch`` reached the epoch, the member has no unclaimed
   slip for the epoch...). Done means done, whoever did it: nothing is sent.
2. Otherwise it writes its intent (state ``sending``) and commits it, then sends.
3. When the trace comes back it records the outcome (``done``, or ``failed`` with a retry
   time that backs off exponentially).

A restart that finds an intent ``sending`` cannot know whether the message left; it waits
``settle_seconds`` (how long a sent message can still be on its way; 0 on the embedded chain,
where a send returns only after its whole trace ran) and then asks the chain, as in step 1.
The chain is the only truth; the database only remembers intents, retries and final states,
so that finished work is not re-checked on every step.

The keeper's core takes a ``Chain``, a ``SendingWallet`` and a ``Pool``, so it runs on the
embedded chain (tests) and over the network back end alike.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from typing import NamedTuple, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from ton_core import Address, Cell

from cocoon_pool.chain.protocol import Chain, SendingWallet
from cocoon_pool.chain.types import Trace, raw_address
from cocoon_pool.contracts.constants import fee
from cocoon_pool.contracts.pool import Pool
from cocoon_pool.errors import GetMethodError
from cocoon_pool.keeper.logs import LOGGER_NAME
from cocoon_pool.keeper.metrics import Metrics
from cocoon_pool.keeper.models import (
    FINAL_STATES,
    KIND_CLOSE,
    KIND_CRANK,
    KIND_FINALIZE,
    KIND_REPORT,
    NO_MEMBER,
    STATE_DONE,
    STATE_FAILED,
    STATE_SENDING,
    STATE_SKIPPED,
    Action,
    Cursor,
)

log = logging.getLogger(LOGGER_NAME)

PAID_THROUGH = "paid_through_epoch"
"""Cursor: every epoch up to this one has all its known members' payouts done."""


@dataclass(frozen=True)
class SignedReport:
    """One member's signed ``SubmitReport`` body for one epoch, ready to relay as is."""

    epoch: int
    member: Address
    body: Cell


class ReportSource(Protocol):
    """Where the keeper finds the signed reports of an epoch (the oracle's database)."""

    def reports(self, epoch: int) -> Sequence[SignedReport]: ...


@dataclass(frozen=True)
class KeeperSettings:
    settle_seconds: float = 180.0
    """How long a message that may have been sent can still land. A send whose outcome is
    unknown (a crash, a timeout) is not repeated before this; then the chain decides. Keep it
    above the wallet's external-message validity (tonutils: 60 s) plus the time to deliver."""
    backoff_base: float = 5.0
    """Seconds before the 2nd try of a failed action; doubled after each failure."""
    backoff_max: float = 900.0
    slack_seconds: int = 0
    """Added to every time condition (epoch end, report deadline): a real network's block
    time can lag the clock the keeper reads, and a message sent a little early is refused."""


class ActionKey(NamedTuple):
    """What an action acts on; unique in the keeper's database."""

    kind: str
    epoch: int
    member: str
    """Raw address, or ``NO_MEMBER`` for the epoch-wide actions."""


class Verdict(Enum):
    SEND = "send"
    DONE = "done"
    """The chain shows it done: record it and never look again."""
    SKIP = "skip"
    """Never to be done (e.g. the member left): record it and never look again."""
    WAIT = "wait"
    """Not now (too early, reports still in flight, member not verified yet): look next step."""


@dataclass(frozen=True)
class Check:
    verdict: Verdict
    note: str = ""


class Outcome(Enum):
    SENT = "sent"
    DONE = "done"
    SKIPPED = "skipped"
    WAITING = "waiting"
    FAILED = "failed"


@dataclass
class StepResult:
    closed: int = 0
    finalized: int = 0
    relayed: int = 0
    cranked: int = 0
    failures: int = 0
    waiting: int = 0
    """Actions held back this step: backoff, a message in flight, or not due yet."""
    errors: list[str] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return self.closed + self.finalized + self.relayed + self.cranked

    def as_dict(self) -> dict[str, int]:
        return {
            "closed": self.closed,
            "finalized": self.finalized,
            "relayed": self.relayed,
            "cranked": self.cranked,
            "failures": self.failures,
            "waiting": self.waiting,
        }


_COUNTER_OF = {
    KIND_CLOSE: ("closed", "epochs_closed"),
    KIND_FINALIZE: ("finalized", "epochs_finalized"),
    KIND_REPORT: ("relayed", "reports_relayed"),
    KIND_CRANK: ("cranked", "payouts_sent"),
}


class Keeper:
    """One pool's keeper. ``step()`` does everything that is due now, once."""

    def __init__(
        self,
        *,
        chain: Chain,
        wallet: SendingWallet,
        pool: Pool,
        sessions: sessionmaker[Session],
        reports: ReportSource,
        clock: Callable[[], int],
        settings: KeeperSettings | None = None,
        metrics: Metrics | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.chain = chain
        self.wallet = wallet
        self.pool = pool
        self.sessions = sessions
        self.reports = reports
        self.clock = clock
        """The chain's time in unix seconds (block time), which the contracts compare with."""
        self.settings = settings or KeeperSettings()
        self.metrics = metrics or Metrics()
        self.wall = wall
        """Wall time for retries and in-flight waits (not the chain's time)."""

    # -- the step -------------------------------------------------------------------------

    def step(self) -> StepResult:
        """Close, finalize, relay and crank whatever is due now; never raises an Exception
        (each failure is counted, logged and retried on a later step)."""
        result = StepResult()
        with self.sessions() as session:
            for phase in (
                self._gauges,
                self._reconcile,
                self._finalize,
                self._close,
                self._relay,
                self._payouts,
            ):
                try:
                    phase(session, result)
                except Exception as exc:
                    # A read failed (network down, API error): this phase waits for the next
                    # step; the others may still be able to work.
                    session.rollback()
                    self._failed(result, f"{phase.__name__.strip('_')}: {exc}")
        self.metrics.set("last_step_timestamp_seconds", self.wall())
        self.metrics.set("last_step_ok", 0 if result.failures else 1)
        return result

    def _failed(self, result: StepResult, error: str) -> None:
        result.failures += 1
        result.errors.append(error)
        self.metrics.inc("failures")
        log.warning("keeper action failed", extra={"event": "failure", "error": error})

    def _gauges(self, _session: Session, _result: StepResult) -> None:
        ledger = self.pool.ledger()
        self.metrics.set("pool_open_income_nanoton", ledger.open_income)
        self.metrics.set("pool_unsettled_nanoton", ledger.unsettled)
        self.metrics.set("current_epoch", ledger.current_epoch)
        self.metrics.set("wallet_balance_nanoton", self.chain.get_balance(self.wallet.address))

    # -- phases ---------------------------------------------------------------------------

    def _reconcile(self, session: Session, result: StepResult) -> None:
        """Settle the open intents of earlier runs against the chain. The phases below only
        look at what is due now, so a close or a report whose window has passed would otherwise
        stay ``sending`` forever; this only records, it never sends."""
        open_rows = session.scalars(
            select(Action).where(Action.state.not_in(FINAL_STATES)).order_by(Action.id)
        ).all()
        now = self._now_ms()
        for row in open_rows:
            if self._in_flight(row, now):
                continue
            key = ActionKey(row.kind, row.epoch, row.member)
            verdict = self._check_for(key)
            if verdict.verdict in (Verdict.DONE, Verdict.SKIP):
                self._finish(session, row, verdict, now)

    def _check_for(self, key: ActionKey) -> Check:
        if key.kind == KIND_CLOSE:
            return self._close_check(key.epoch)
        if key.kind == KIND_FINALIZE:
            return self._finalize_check(key.epoch)
        if key.kind == KIND_REPORT:
            return self._report_check(Address(key.member), key.epoch)
        return self._crank_check(Address(key.member), key.epoch)

    def _finalize(self, session: Session, result: StepResult) -> None:
        reporting = self.pool.reporting_epoch()
        if not reporting.active or self.clock() <= reporting.deadline + self.settings.slack_seconds:
            return
        epoch = reporting.epoch
        self._perform(
            session,
            result,
            ActionKey(KIND_FINALIZE, epoch, NO_MEMBER),
            check=lambda: self._finalize_check(epoch),
            send=lambda: self.pool.finalize_epoch(self.wallet),
        )

    def _finalize_check(self, epoch: int) -> Check:
        reporting = self.pool.reporting_epoch()
        if not reporting.active or reporting.epoch != epoch:
            return Check(Verdict.DONE, "chain: the epoch is final")
        if self.pool.ledger().paused:
            return Check(Verdict.WAIT, "the pool is paused")
        if reporting.in_flight:
            # The contract refuses to freeze an epoch with reports on their way.
            return Check(Verdict.WAIT, f"{reporting.in_flight} reports in flight")
        if self.clock() <= reporting.deadline + self.settings.slack_seconds:
            return Check(Verdict.WAIT, "the report window is open")
        return Check(Verdict.SEND)

    def _close(self, session: Session, result: StepResult) -> None:
        ledger = self.pool.ledger()
        if self.clock() < ledger.epoch_start + ledger.epoch_length + self.settings.slack_seconds:
            return
        epoch = ledger.current_epoch
        self._perform(
            session,
            result,
            ActionKey(KIND_CLOSE, epoch, NO_MEMBER),
            check=lambda: self._close_check(epoch),
            send=lambda: self.pool.close_epoch(self.wallet),
        )

    def _close_check(self, epoch: int) -> Check:
        ledger = self.pool.ledger()
        if ledger.current_epoch > epoch:
            return Check(Verdict.DONE, "chain: the epoch is closed")
        if ledger.paused:
            return Check(Verdict.WAIT, "the pool is paused")
        if self.clock() < ledger.epoch_start + ledger.epoch_length + self.settings.slack_seconds:
            return Check(Verdict.WAIT, "the epoch is not over")
        if self.pool.reporting_epoch().active:
            # Closing would also finalize the previous epoch; the keeper finalizes first,
            # explicitly, so each message does one thing and its failure is clear.
            return Check(Verdict.WAIT, "the previous epoch is not final yet")
        return Check(Verdict.SEND)

    def _relay(self, session: Session, result: StepResult) -> None:
        reporting = self.pool.reporting_epoch()
        if not reporting.active:
            return
        if self.clock() > reporting.deadline - self.settings.slack_seconds:
            return
        if self.pool.ledger().paused:
            return
        epoch = reporting.epoch
        for report in self.reports.reports(epoch):
            if report.epoch != epoch:
                continue
            member, body = report.member, report.body
            self._perform(
                session,
                result,
                ActionKey(KIND_REPORT, epoch, raw_address(member)),
                check=partial(self._report_check, member, epoch),
                send=partial(self.wallet.send, self.pool.distribution, fee("REPORT_FEE"), body),
            )

    def _report_check(self, member: Address, epoch: int) -> Check:
        try:
            info = self.pool.participant_info(member)
        except GetMethodError:
            # A member who never registered has no contract to ask: its report can never
            # count, so it is skipped like a deregistered one rather than retried as a failure
            # forever. Only then is the account's state read (one more request, off the
            # common path); any other error stays a failure, retried with backoff.
            target = self.pool.participant_address(member)
            if self.pool.chain.get_state(target).status == "active":
                raise
            return Check(Verdict.SKIP, "not registered (no Participant contract)")
        if not info.registered:
            return Check(Verdict.SKIP, "not registered")
        if info.last_reported_epoch >= epoch:
            return Check(Verdict.DONE, "chain: the member's report is in")
        if not info.verified:
            # The member's contract would refuse it (NOT_VERIFIED); the admin may still verify
            # the worker inside the window.
            return Check(Verdict.WAIT, "member not verified")
        reporting = self.pool.reporting_epoch()
        if not reporting.active or reporting.epoch != epoch:
            return Check(Verdict.SKIP, "the report window is over")
        return Check(Verdict.SEND)

    def _payouts(self, session: Session, result: StepResult) -> None:
        reporting = self.pool.reporting_epoch()
        ledger = self.pool.ledger()
        last_final = reporting.epoch - 1 if reporting.active else ledger.current_epoch - 1
        paid_through = self._cursor(session, PAID_THROUGH)
        contiguous = True
        for epoch in range(max(paid_through, 0) + 1, last_final + 1):
            complete = True
            if self.pool.final_epoch(epoch).found:
                for report in self.reports.reports(epoch):
                    member = report.member
                    outcome = self._perform(
                        session,
                        result,
                        ActionKey(KIND_CRANK, epoch, raw_address(member)),
                        check=partial(self._crank_check, member, epoch),
                        send=partial(self.pool.crank_payout, self.wallet, member, epoch),
                    )
                    complete = complete and outcome in (Outcome.DONE, Outcome.SKIPPED)
            # Not found: every slip of the epoch was claimed and it retired (or nobody
            # contributed); nothing is left to pay.
            contiguous = contiguous and complete
            if contiguous:
                self._set_cursor(session, PAID_THROUGH, epoch)

    def _crank_check(self, member: Address, epoch: int) -> Check:
        if not self.pool.unclaimed(member, epoch).found:
            # Paid by a crank (ours or anyone's), claimed by the member, or never accepted.
            return Check(Verdict.DONE, "chain: no unclaimed slip")
        return Check(Verdict.SEND)

    # -- one idempotent action ------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self.wall() * 1000)

    def _row(self, session: Session, kind: str, epoch: int, member: str) -> Action | None:
        return session.scalars(
            select(Action).where(
                Action.kind == kind, Action.epoch == epoch, Action.member == member
            )
        ).one_or_none()

    def _perform(
        self,
        session: Session,
        result: StepResult,
        key: ActionKey,
        *,
        check: Callable[[], Check],
        send: Callable[[], Trace],
    ) -> Outcome:
        kind, epoch, member = key
        row = self._row(session, kind, epoch, member)
        if row is not None and row.state in FINAL_STATES:
            return Outcome.DONE if row.state == STATE_DONE else Outcome.SKIPPED
        now = self._now_ms()
        if row is not None and row.next_attempt_ms > now:
            result.waiting += 1
            return Outcome.WAITING
        if row is not None and self._in_flight(row, now):
            result.waiting += 1
            return Outcome.WAITING
        fields = {"event": kind, "epoch": epoch, "member": member or None}
        try:
            verdict = check()
        except Exception as exc:
            return self._record_failure(session, result, row=row, key=key, exc=exc, now=now)
        if verdict.verdict is Verdict.WAIT:
            result.waiting += 1
            log.debug("waiting", extra={**fields, "reason": verdict.note})
            return Outcome.WAITING
        if verdict.verdict in (Verdict.DONE, Verdict.SKIP):
            row = row or self._new_row(session, kind, epoch, member, now)
            return self._finish(session, row, verdict, now)

        # The intent, durable before the message leaves: a restart will ask the chain first.
        row = row or self._new_row(session, kind, epoch, member, now)
        row.state = STATE_SENDING
        row.attempts += 1
        row.sent_at_ms = now
        row.updated_ms = now
        session.commit()
        try:
            trace = send()
        except Exception as exc:
            # The message may or may not have left: never retry before it could have landed.
            return self._record_failure(
                session, result, row=row, key=key, exc=exc, now=now, unknown=True
            )
        first = trace.transactions[0].hash if trace.transactions else None
        failed = trace.failed()
        done = self._now_ms()
        row.tx_hash = first
        row.updated_ms = done
        if failed:
            codes = ", ".join(f"{tx.address_raw[:10]}… exit {tx.exit_code}" for tx in failed)
            refused = RuntimeError(f"refused: {codes}")
            return self._record_failure(session, result, row=row, key=key, exc=refused, now=done)
        row.state = STATE_DONE
        row.failures = 0
        row.note = "sent"
        session.commit()
        attr, counter = _COUNTER_OF[kind]
        setattr(result, attr, getattr(result, attr) + 1)
        self.metrics.inc(counter)
        log.info(f"{kind} sent", extra={**fields, "tx": first, "attempt": row.attempts})
        return Outcome.SENT

    def _in_flight(self, row: Action, now: int) -> bool:
        """An earlier run may have sent this and died: the message can still land."""
        return (
            row.state == STATE_SENDING
            and row.sent_at_ms is not None
            and now - row.sent_at_ms < self.settings.settle_seconds * 1000
        )

    def _finish(self, session: Session, row: Action, verdict: Check, now: int) -> Outcome:
        row.state = STATE_DONE if verdict.verdict is Verdict.DONE else STATE_SKIPPED
        row.note = verdict.note
        row.updated_ms = now
        session.commit()
        fields = {"event": row.kind, "epoch": row.epoch, "member": row.member or None}
        log.info(f"{row.kind} {row.state}", extra={**fields, "reason": verdict.note})
        return Outcome.DONE if verdict.verdict is Verdict.DONE else Outcome.SKIPPED

    def _new_row(self, session: Session, kind: str, epoch: int, member: str, now: int) -> Action:
        row = Action(
            kind=kind,
            epoch=epoch,
            member=member,
            state=STATE_FAILED,
            attempts=0,
            failures=0,
            next_attempt_ms=0,
            created_ms=now,
            updated_ms=now,
        )
        session.add(row)
        return row

    def _record_failure(
        self,
        session: Session,
        result: StepResult,
        *,
        row: Action | None,
        key: ActionKey,
        exc: Exception,
        now: int,
        unknown: bool = False,
    ) -> Outcome:
        kind, epoch, member = key
        row = row or self._new_row(session, kind, epoch, member, now)
        row.failures += 1
        # Exponential in the consecutive failures, capped: a flaky API is retried soon, a
        # lasting refusal costs at most one fee per backoff_max.
        delay = min(self.settings.backoff_base * 2 ** (row.failures - 1), self.settings.backoff_max)
        if unknown:
            delay = max(delay, self.settings.settle_seconds)
        row.state = STATE_FAILED
        row.last_error = str(exc)[:2000]
        row.next_attempt_ms = now + int(delay * 1000)
        row.updated_ms = now
        session.commit()
        what = f"{kind} epoch {epoch} {member}".strip()  # no member: no stray space
        self._failed(result, f"{what}: {exc}")
        return Outcome.FAILED

    # -- cursors --------------------------------------------------------------------------

    def _cursor(self, session: Session, name: str) -> int:
        row = session.get(Cursor, name)
        return 0 if row is None else row.value

    def _set_cursor(self, session: Session, name: str, value: int) -> None:
        row = session.get(Cursor, name)
        if row is None:
            session.add(Cursor(name=name, value=value))
        elif row.value < value:
            row.value = value
        session.commit()


def run_loop(
    keeper: Keeper,
    *,
    interval: float,
    stop: threading.Event,
    once: bool = False,
    on_step: Callable[[StepResult], None] | None = None,
) -> StepResult:
    """Step every ``interval`` seconds until ``stop`` is set (or once); the last result."""
    while True:
        result = keeper.step()
        if on_step is not None:
            on_step(result)
        if once or stop.wait(interval):
            return result
