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

Reports are the one action sent in batches: every member's report is checked and recorded on
its own row as above, but those due together travel chained in one ``SubmitReport`` message
(``KeeperSettings.report_batch_size``), so a member's report costs its share of one message.

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
from cocoon_pool.chain.types import Trace, Transaction, raw_address
from cocoon_pool.contracts.messages import SubmitReport
from cocoon_pool.contracts.pool import Pool
from cocoon_pool.contracts.reports import (
    MAX_REPORTS_PER_BATCH,
    batch_message,
    cheap_batch_size,
    report_value,
)
from cocoon_pool.errors import GetMethodError
from cocoon_pool.keeper.errors import KeeperUsageError
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


REFUSED = "refused:"
"""How ``last_error`` starts when the chain refused the action's message (not a network error)."""


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
    report_batch_size: int | None = None
    """Most members' reports chained into one ``SubmitReport`` message, 1 to
    ``MAX_REPORTS_PER_BATCH``; None: ``cheap_batch_size`` of the pool's oracle quorum (10 at one
    key), the most whose signature checks the TVM prices at 26 gas each (every check past a
    transaction's tenth costs about 4,000). A message costs ``REPORT_BATCH_FEE`` once plus
    ``REPORT_FEE`` per report (the unspent part comes back); the contract refuses a whole batch
    for one bad report, which the keeper then relays again one report per message."""

    def __post_init__(self) -> None:
        size = self.report_batch_size
        if size is not None and not 1 <= size <= MAX_REPORTS_PER_BATCH:
            raise KeeperUsageError(
                f"a report batch of {size} is not possible",
                f"use 1 to {MAX_REPORTS_PER_BATCH} reports per message: the contract refuses "
                "larger batches (REPORT_BATCH_TOO_LARGE)",
            )


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
    """Not now (too early, the pool paused, member not verified yet): look next step."""


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
    report_batches: int = 0
    """``SubmitReport`` messages the distribution accepted; ``relayed`` counts their reports."""
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
            "report_batches": self.report_batches,
            "failures": self.failures,
            "waiting": self.waiting,
        }


_COUNTER_OF = {
    KIND_CLOSE: ("closed", "epochs_closed"),
    KIND_FINALIZE: ("finalized", "epochs_finalized"),
    KIND_REPORT: ("relayed", "reports_relayed"),
    KIND_CRANK: ("cranked", "payouts_sent"),
}


@dataclass(frozen=True)
class _Due:
    """A member's report the chain says to relay now: its action and its parsed signed body."""

    key: ActionKey
    row: Action | None
    body: SubmitReport


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
        fresh: list[_Due] = []
        alone: list[_Due] = []
        seen: set[str] = set()
        for report in self.reports.reports(epoch):
            member = raw_address(report.member)
            if report.epoch != epoch or member in seen:
                continue  # a second report of a member would only be refused as a replay
            seen.add(member)
            due = self._due_report(session, result, report)
            if due is None:
                continue
            # A report the chain refused last time (a bad signature, a member's contract that
            # said no) goes alone, so that it cannot take a batch of good ones down with it
            # again; it costs its own message only while it keeps failing.
            (alone if _was_refused(due.row) else fresh).append(due)
        batches: list[list[_Due]] = []
        if fresh:
            # The quorum is read only when there is something to batch (one get-method call).
            size = self.settings.report_batch_size or cheap_batch_size(
                self.pool.pool_info().oracle_quorum
            )
            batches = [fresh[i : i + size] for i in range(0, len(fresh), size)]
        for batch in [*batches, *([due] for due in alone)]:
            self._relay_batch(session, result, batch)

    def _due_report(
        self, session: Session, result: StepResult, report: SignedReport
    ) -> _Due | None:
        """The report's action if it is to be sent now; otherwise None (done, skipped, waiting,
        or a failure recorded on its row)."""
        key = ActionKey(KIND_REPORT, report.epoch, raw_address(report.member))
        outcome, row = self._ready(
            session, result, key, partial(self._report_check, report.member, report.epoch)
        )
        if outcome is not None:
            return None
        try:
            body = SubmitReport.from_cell(report.body)
        except Exception as exc:
            # A body that does not parse fails alone, before it could spoil a batch.
            unreadable = ValueError(f"the oracle's signed body does not parse: {exc}")
            self._record_failure(
                session, result, row=row, key=key, exc=unreadable, now=self._now_ms()
            )
            return None
        return _Due(key, row, body)

    def _relay_batch(self, session: Session, result: StepResult, batch: Sequence[_Due]) -> None:
        """Send ``batch`` as one ``SubmitReport`` chain and record every member's outcome."""
        rows = self._intend(session, [(due.key, due.row) for due in batch])
        message = batch_message([due.body for due in batch], batch[0].body.query_id)
        try:
            trace = self.wallet.send(
                self.pool.distribution, report_value(len(batch)), message.to_cell()
            )
        except Exception as exc:
            # The message may or may not have left: no member of it is retried before it could
            # have landed, and then the chain says, member by member, what is left to send.
            now = self._now_ms()
            for due, row in zip(batch, rows, strict=True):
                self._record_failure(
                    session,
                    result,
                    row=row,
                    key=due.key,
                    exc=exc,
                    now=now,
                    unknown=True,
                    count=False,
                )
            epoch = batch[0].key.epoch
            self._failed(result, f"report epoch {epoch} (batch of {len(batch)}): {exc}")
            return
        submit = self._submit_transaction(trace)
        if len(batch) > 1 and submit is not None and not submit.success:
            # The contract checks every report of a batch and refuses the whole batch for one
            # bad report (a signature off the oracle set, say), so nothing of it counted and
            # its value came back. Rather than guess which report it was (the exit code does
            # not say), relay each of them alone, now, while the window is open: the good ones
            # count, the bad one fails on its own row and is retried alone, with backoff.
            log.warning(
                "report batch refused; relaying its reports one by one",
                extra={
                    "event": KIND_REPORT,
                    "epoch": batch[0].key.epoch,
                    "reports": len(batch),
                    "tx": submit.hash,
                    "error": _codes([submit]),
                },
            )
            for due, row in zip(batch, rows, strict=True):
                self._relay_batch(session, result, [_Due(due.key, row, due.body)])
            return
        self._record_batch(session, result, batch, rows, trace=trace, submit=submit)

    def _submit_transaction(self, trace: Trace) -> Transaction | None:
        """The distribution's transaction of the relayed ``SubmitReport`` (None: it never got
        there, e.g. the keeper's wallet could not send)."""
        found = trace.find_all(self.pool.distribution, SubmitReport.PREFIX)
        return next((tx for tx in found if tx.in_message and not tx.in_message.bounced), None)

    def _record_batch(
        self,
        session: Session,
        result: StepResult,
        batch: Sequence[_Due],
        rows: Sequence[Action],
        *,
        trace: Trace,
        submit: Transaction | None,
    ) -> None:
        failed = trace.failed()
        first = trace.transactions[0].hash if trace.transactions else None
        now = self._now_ms()
        if submit is None or not submit.success:
            # Nothing of it counted: each member failed, with the trace's exit codes. Only a
            # refusal by the distribution marks the report as refused (sent alone next time);
            # a message that never got there (the wallet failed) says nothing about the report.
            why = REFUSED if submit is not None else "not delivered:"
            error = RuntimeError(f"{why} {_codes(failed)}")
            for due, row in zip(batch, rows, strict=True):
                row.tx_hash = first
                self._record_failure(session, result, row=row, key=due.key, exc=error, now=now)
            return
        # Every report of the batch counted and went on to its member's contract as ApplyReport,
        # which records the slip or refuses it (the refusal bounces, and the distribution takes
        # the report back out). A member's outcome is its own contract's transaction.
        contract_of = {
            due.key.member: raw_address(self.pool.participant_address(Address(due.key.member)))
            for due in batch
        }
        mine = set(contract_of.values())
        refused_at: dict[str, list[Transaction]] = {}
        for tx in failed:
            refused_at.setdefault(tx.address_raw, []).append(tx)
        applied = 0
        for due, row in zip(batch, rows, strict=True):
            row.tx_hash = first
            own = refused_at.get(contract_of[due.key.member])
            if own:
                refused = RuntimeError(f"{REFUSED} {_codes(own)}")
                self._record_failure(session, result, row=row, key=due.key, exc=refused, now=now)
            else:
                self._record_sent(session, result, row, due.key, now)
                applied += 1
        result.report_batches += 1
        self.metrics.inc("report_batches")
        log.info(
            "report batch sent",
            extra={
                "event": KIND_REPORT,
                "epoch": batch[0].key.epoch,
                "reports": len(batch),
                "applied": applied,
                "tx": first,
            },
        )
        others = [tx for tx in failed if tx.address_raw not in mine]
        if others:
            # Not any member's contract (a bounce that failed on its way back, say): the reports
            # are in, but somebody should look at it.
            self._failed(result, f"report epoch {batch[0].key.epoch}: {_codes(others)}")

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
        outcome, row = self._ready(session, result, key, check)
        if outcome is not None:
            return outcome
        [row] = self._intend(session, [(key, row)])
        try:
            trace = send()
        except Exception as exc:
            # The message may or may not have left: never retry before it could have landed.
            now = self._now_ms()
            return self._record_failure(
                session, result, row=row, key=key, exc=exc, now=now, unknown=True
            )
        done = self._now_ms()
        row.tx_hash = trace.transactions[0].hash if trace.transactions else None
        failed = trace.failed()
        if failed:
            refused = RuntimeError(f"{REFUSED} {_codes(failed)}")
            return self._record_failure(session, result, row=row, key=key, exc=refused, now=done)
        return self._record_sent(session, result, row, key, done)

    def _ready(
        self, session: Session, result: StepResult, key: ActionKey, check: Callable[[], Check]
    ) -> tuple[Outcome | None, Action | None]:
        """Whether ``key`` is to be sent now: (None, its row if any), or (the outcome, ...)
        with the outcome recorded when it is final or a failure."""
        kind, epoch, member = key
        row = self._row(session, kind, epoch, member)
        if row is not None and row.state in FINAL_STATES:
            return (Outcome.DONE if row.state == STATE_DONE else Outcome.SKIPPED), row
        now = self._now_ms()
        if row is not None and row.next_attempt_ms > now:
            result.waiting += 1
            return Outcome.WAITING, row
        if row is not None and self._in_flight(row, now):
            result.waiting += 1
            return Outcome.WAITING, row
        try:
            verdict = check()
        except Exception as exc:
            failed = self._record_failure(session, result, row=row, key=key, exc=exc, now=now)
            return failed, row
        if verdict.verdict is Verdict.WAIT:
            result.waiting += 1
            fields = {"event": kind, "epoch": epoch, "member": member or None}
            log.debug("waiting", extra={**fields, "reason": verdict.note})
            return Outcome.WAITING, row
        if verdict.verdict in (Verdict.DONE, Verdict.SKIP):
            row = row or self._new_row(session, kind, epoch, member, now)
            return self._finish(session, row, verdict, now), row
        return None, row

    def _intend(
        self, session: Session, actions: Sequence[tuple[ActionKey, Action | None]]
    ) -> list[Action]:
        """The intents, durable before the message leaves: a restart will ask the chain first.
        One commit for a whole batch, so its members are all ``sending`` or none is."""
        now = self._now_ms()
        rows: list[Action] = []
        for (kind, epoch, member), found in actions:
            row = found or self._new_row(session, kind, epoch, member, now)
            row.state = STATE_SENDING
            row.attempts += 1
            row.sent_at_ms = now
            row.updated_ms = now
            rows.append(row)
        session.commit()
        return rows

    def _record_sent(
        self, session: Session, result: StepResult, row: Action, key: ActionKey, now: int
    ) -> Outcome:
        kind, epoch, member = key
        row.state = STATE_DONE
        row.failures = 0
        row.note = "sent"
        row.updated_ms = now
        session.commit()
        attr, counter = _COUNTER_OF[kind]
        setattr(result, attr, getattr(result, attr) + 1)
        self.metrics.inc(counter)
        fields = {"event": kind, "epoch": epoch, "member": member or None}
        log.info(f"{kind} sent", extra={**fields, "tx": row.tx_hash, "attempt": row.attempts})
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
        count: bool = True,
    ) -> Outcome:
        """Record a failed try on ``key``'s row, retried after a backoff; ``count``: also count
        and log it as a failure (a batch counts its common failure once)."""
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
        if count:
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


def _codes(failed: Sequence[Transaction]) -> str:
    return ", ".join(f"{tx.address_raw[:10]}… exit {tx.exit_code}" for tx in failed)


def _was_refused(row: Action | None) -> bool:
    return (
        row is not None and row.state == STATE_FAILED and (row.last_error or "").startswith(REFUSED)
    )


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
