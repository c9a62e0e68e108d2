"""Signed epoch reports, stored once per (epoch, member) for any relayer to send.

The stored body is the ``SubmitReport`` message body exactly as ``Pool.submit_report``
sends it: a relayer sends it to the RewardDistribution contract with ``report_value(1)``, or
chains several into one batch (``contracts.reports.batch_message``).
ed25519 signatures are deterministic and the query id is the epoch, so recomputing the
same metrics reproduces the same BOC byte for byte.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, false, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from ton_core import Address, Cell

from cocoon_pool.contracts.messages import SubmitReport
from cocoon_pool.contracts.reports import MAINNET_GLOBAL_ID, OracleSigner, build_report
from cocoon_pool.economics import MemberMetrics
from cocoon_pool.errors import EconomicsError
from cocoon_pool.oracle.errors import OracleReportError
from cocoon_pool.oracle.metrics import EpochResult, EpochWindow, Observation, Scoring, epoch_metrics
from cocoon_pool.oracle.models import Poll, Report, Sample

STATUS_NEW = "new"
STATUS_EXISTING = "existing"
STATUS_CONFLICT = "conflict"
"""The stored report differs from what the samples give now; the stored one is kept."""


@dataclass(frozen=True)
class StoredReport:
    status: str
    row: Report
    result: EpochResult

    @property
    def metrics(self) -> MemberMetrics:
        """The metrics inside the stored (signed) body."""
        return MemberMetrics(
            running_seconds=self.row.running_seconds,
            gpu_score=self.row.gpu_score,
            uptime_bps=self.row.uptime_bps,
            outages=self.row.outages,
        )

    def body(self) -> Cell:
        return decode_body(self.row.body_boc)


def decode_body(boc_base64: str) -> Cell:
    return Cell.one_from_boc(base64.b64decode(boc_base64))


def signed_body(
    signer: OracleSigner,
    distribution: str,
    epoch: int,
    member: str,
    metrics: MemberMetrics,
    *,
    global_id: int = MAINNET_GLOBAL_ID,
    key_index: int = 0,
) -> SubmitReport:
    """This oracle's signature alone; for a k > 1 quorum, the relayer gathers the other keys'
    signatures over the same report cell (``contracts.reports.quorum_message``)."""
    report = build_report(Address(distribution), epoch, Address(member), metrics, global_id)
    return signer.submit_message(report, query_id=epoch, key_index=key_index)


def load_observations(session: Session, member: str, window: EpochWindow) -> list[Observation]:
    """The member's counted samples: those of discarded polls are left out."""
    rows = session.execute(
        select(Sample.taken_at, Sample.ok, Sample.throughput_mtps, Sample.gpu_model)
        .outerjoin(Poll, Sample.poll_id == Poll.id)
        .where(Sample.member == member)
        .where(Sample.taken_at >= window.start, Sample.taken_at < window.end)
        # No poll: a sample stored before polls were recorded, which counts as it did then.
        .where(or_(Sample.poll_id.is_(None), Poll.discarded == false()))
        .order_by(Sample.taken_at, Sample.id)
    ).all()
    return [Observation(r.taken_at, r.ok, r.throughput_mtps, r.gpu_model) for r in rows]


def load_discarded(session: Session, window: EpochWindow) -> list[int]:
    """Start times of the discarded polls inside the window."""
    return list(
        session.scalars(
            select(Poll.taken_at)
            .where(Poll.discarded)
            .where(Poll.taken_at >= window.start, Poll.taken_at < window.end)
            .order_by(Poll.taken_at)
        )
    )


def compute(session: Session, member: str, window: EpochWindow, scoring: Scoring) -> EpochResult:
    return epoch_metrics(
        load_observations(session, member, window),
        window,
        scoring,
        discarded_at=load_discarded(session, window),
    )


def _report_of(epoch: int, member: str) -> Select[Report]:
    return select(Report).where(Report.epoch == epoch, Report.member == member)


def _already_stored(row: Report, result: EpochResult) -> StoredReport:
    """A report stored earlier is kept; it is a conflict if the samples now say otherwise."""
    kept = StoredReport(STATUS_EXISTING, row, result)
    return kept if kept.metrics == result.metrics else StoredReport(STATUS_CONFLICT, row, result)


def store_report(
    session: Session,
    *,
    signer: OracleSigner,
    distribution: str,
    member: str,
    window: EpochWindow,
    scoring: Scoring,
    now: int,
    global_id: int = MAINNET_GLOBAL_ID,
    key_index: int = 0,
) -> StoredReport:
    """Compute, sign and store one member's report; an existing report is never replaced."""
    result = compute(session, member, window, scoring)
    existing = session.scalars(_report_of(window.epoch, member)).one_or_none()
    if existing is not None:
        return _already_stored(existing, result)
    try:
        result.metrics.check_epoch(window.length)
    except EconomicsError as exc:
        raise OracleReportError(exc.message, exc.hint) from exc
    body = signed_body(
        signer,
        distribution,
        window.epoch,
        member,
        result.metrics,
        global_id=global_id,
        key_index=key_index,
    ).to_cell()
    row = Report(
        epoch=window.epoch,
        member=member,
        distribution=distribution,
        epoch_start=window.start,
        epoch_length=window.length,
        running_seconds=result.metrics.running_seconds,
        gpu_score=result.metrics.gpu_score,
        uptime_bps=result.metrics.uptime_bps,
        outages=result.metrics.outages,
        expected_samples=result.expected_slots,
        up_samples=result.up_slots,
        discarded_slots=result.discarded_slots,
        oracle_public_key=f"{signer.public_key:064x}",
        body_boc=base64.b64encode(body.to_boc()).decode("ascii"),
        body_hash=body.hash.hex(),
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # Another process stored this (epoch, member) between our read and our write;
        # the unique constraint keeps theirs and we report it as existing.
        return _already_stored(session.scalars(_report_of(window.epoch, member)).one(), result)
    return StoredReport(STATUS_NEW, row, result)


def stored_reports(session: Session, epoch: int) -> Sequence[Report]:
    return session.scalars(select(Report).where(Report.epoch == epoch).order_by(Report.id)).all()
