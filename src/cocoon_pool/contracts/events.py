"""Decoders for the external-out log messages of contracts/events.tolk, and the two events
read from a transaction's messages instead (a settlement and a pending payout emit no log:
``derived_events``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, TypeVar

from ton_core import Address, Cell

from cocoon_pool.chain.types import AddressLike, Trace, Transaction
from cocoon_pool.contracts.codec import (
    RawCell,
    TlbStruct,
    addr,
    boolean,
    coins,
    opt_addr,
    tl,
    u,
)
from cocoon_pool.contracts.messages import (
    RICH_BOUNCE_PREFIX,
    ApplyReport,
    CreditPending,
    PayPending,
    RewardPayout,
    SettleClaim,
    SubmitReport,
)


class Event(TlbStruct):
    """Base of every event; ``name`` is what indexers and the CLI show."""

    @classmethod
    def event_name(cls) -> str:
        return cls.__name__


@dataclass(frozen=True, kw_only=True)
class PoolDeployed(Event):
    PREFIX: ClassVar[int | None] = 0x7C1E0001
    registry: Address = addr()
    distribution: Address = addr()


@dataclass(frozen=True, kw_only=True)
class ChangeProposed(Event):
    PREFIX: ClassVar[int | None] = 0x7C1E0002
    apply_after: int = u(32)
    change: Cell = tl(RawCell())


@dataclass(frozen=True, kw_only=True)
class ChangeApplied(Event):
    PREFIX: ClassVar[int | None] = 0x7C1E0003
    change: Cell = tl(RawCell())


@dataclass(frozen=True, kw_only=True)
class ChangeCancelled(Event):
    PREFIX: ClassVar[int | None] = 0x7C1E0004
    change: Cell = tl(RawCell())


@dataclass(frozen=True, kw_only=True)
class RoleAccepted(Event):
    PREFIX: ClassVar[int | None] = 0x7C1E0005
    role: int = u(8)
    holder: Address = addr()


@dataclass(frozen=True, kw_only=True)
class StatusChanged(Event):
    PREFIX: ClassVar[int | None] = 0x7C1E0006
    status: int = u(8)


@dataclass(frozen=True, kw_only=True)
class OperatorStakeChanged(Event):
    PREFIX: ClassVar[int | None] = 0x7C1E0007
    operator_stake: int = coins()
    withdrawn: int = coins()


@dataclass(frozen=True, kw_only=True)
class CommissionCollected(Event):
    PREFIX: ClassVar[int | None] = 0x7C1E0008
    recipient: Address = addr()
    amount: int = coins()


@dataclass(frozen=True, kw_only=True)
class MemberJoined(Event):
    PREFIX: ClassVar[int | None] = 0x7C1E0101
    member: Address = addr()
    stake: int = coins()
    member_count: int = u(32)


@dataclass(frozen=True, kw_only=True)
class MemberLeft(Event):
    PREFIX: ClassVar[int | None] = 0x7C1E0102
    member: Address = addr()
    stake: int = coins()
    member_count: int = u(32)


@dataclass(frozen=True, kw_only=True)
class RegistrationRefunded(Event):
    PREFIX: ClassVar[int | None] = 0x7C1E0103
    member: Address = addr()
    amount: int = coins()


@dataclass(frozen=True, kw_only=True)
class MemberVerified(Event):
    PREFIX: ClassVar[int | None] = 0x7C1E0201
    member: Address = addr()
    worker: Address = addr()


@dataclass(frozen=True, kw_only=True)
class UnbondingStarted(Event):
    PREFIX: ClassVar[int | None] = 0x7C1E0202
    member: Address = addr()
    unbond_at: int = u(32)


@dataclass(frozen=True, kw_only=True)
class StakeWithdrawn(Event):
    PREFIX: ClassVar[int | None] = 0x7C1E0203
    member: Address = addr()
    amount: int = coins()


@dataclass(frozen=True, kw_only=True)
class WorkerBound(Event):
    PREFIX: ClassVar[int | None] = 0x7C1E0205
    member: Address = addr()
    worker: Address = addr()
    node_wallet: Address | None = opt_addr()


@dataclass(frozen=True, kw_only=True)
class MemberRevoked(Event):
    PREFIX: ClassVar[int | None] = 0x7C1E0206
    member: Address = addr()


@dataclass(frozen=True, kw_only=True)
class PendingCredited(Event):
    PREFIX: ClassVar[int | None] = 0x7C1E0204
    member: Address = addr()
    epoch: int = u(32)
    pending: int = coins()


@dataclass(frozen=True, kw_only=True)
class EpochClosed(Event):
    PREFIX: ClassVar[int | None] = 0x7C1E0301
    epoch: int = u(32)
    start: int = u(32)
    end: int = u(32)
    report_deadline: int = u(32)
    received: int = coins()
    commission: int = coins()
    net: int = coins()


@dataclass(frozen=True, kw_only=True)
class EpochFinalized(Event):
    PREFIX: ClassVar[int | None] = 0x7C1E0302
    epoch: int = u(32)
    reserve_in: int = coins()
    penalty_pool: int = coins()
    bonus_paid: int = coins()
    claimable: int = coins()
    reporters: int = u(32)


@dataclass(frozen=True, kw_only=True)
class EpochRetired(Event):
    PREFIX: ClassVar[int | None] = 0x7C1E0303
    epoch: int = u(32)
    dust: int = coins()


@dataclass(frozen=True, kw_only=True)
class ContributionRecorded(Event):
    """Derived, not logged: a signed report entered the epoch's aggregates (one ApplyReport
    sent by a successful SubmitReport transaction on RewardDistribution). Should the member's
    contract refuse it, a ContributionRefused event takes it back out."""

    PREFIX: ClassVar[int | None] = None
    epoch: int = u(32)
    member: Address = addr()
    contribution: int = u(64)
    penalty_bps: int = u(16)
    bonus_bps: int = u(16)


@dataclass(frozen=True, kw_only=True)
class RewardSettled(Event):
    """Derived, not logged: a member's slip settled, paid now or credited as pending (one
    RewardDistribution transaction: SettleClaim in, RewardPayout or CreditPending out)."""

    PREFIX: ClassVar[int | None] = None
    epoch: int = u(32)
    member: Address = addr()
    payout: int = coins()
    pending_carry: int = coins()
    paid_now: bool = boolean()


@dataclass(frozen=True, kw_only=True)
class ContributionRefused(Event):
    """Derived, not logged: the member's contract refused a report (its ApplyReport bounced
    back to RewardDistribution), which took it back out of the epoch's sums (or, after
    finalize, settled its share into the reserve) and refunded the relay."""

    PREFIX: ClassVar[int | None] = None
    epoch: int = u(32)
    participant: Address = addr()
    contribution: int = u(64)
    penalty_bps: int = u(16)
    bonus_bps: int = u(16)


@dataclass(frozen=True, kw_only=True)
class ReportWindowExtended(Event):
    """Unpausing gave the report window back the time the pool was paused inside it."""

    PREFIX: ClassVar[int | None] = 0x7C1E030A
    epoch: int = u(32)
    deadline: int = u(32)


@dataclass(frozen=True, kw_only=True)
class PendingPaid(Event):
    """Derived, not logged: a member took out its pending amount (a successful PayPending
    transaction on RewardDistribution; ClaimPending, or leaving with WithdrawStake)."""

    PREFIX: ClassVar[int | None] = None
    member: Address = addr()
    amount: int = coins()


@dataclass(frozen=True, kw_only=True)
class DistributionConfigured(Event):
    PREFIX: ClassVar[int | None] = 0x7C1E0306
    commission_bps: int = u(16)
    epoch_length: int = u(32)
    paused: bool = boolean()


@dataclass(frozen=True, kw_only=True)
class OwnerActionSent(Event):
    PREFIX: ClassVar[int | None] = 0x7C1E0307
    action: int = u(8)
    member: Address = addr()
    target: Address = addr()
    amount: int = coins()
    attached: int = coins()


@dataclass(frozen=True, kw_only=True)
class OwnerActionReturned(Event):
    PREFIX: ClassVar[int | None] = 0x7C1E0308
    action: int = u(8)
    recipient: Address = addr()
    returned: int = coins()


EVENT_TYPES: dict[int, type[Event]] = {
    cls.PREFIX: cls
    for cls in (
        PoolDeployed,
        ChangeProposed,
        ChangeApplied,
        ChangeCancelled,
        RoleAccepted,
        StatusChanged,
        OperatorStakeChanged,
        CommissionCollected,
        MemberJoined,
        MemberLeft,
        RegistrationRefunded,
        MemberVerified,
        WorkerBound,
        MemberRevoked,
        UnbondingStarted,
        StakeWithdrawn,
        PendingCredited,
        EpochClosed,
        EpochFinalized,
        EpochRetired,
        ContributionRefused,
        ReportWindowExtended,
        DistributionConfigured,
        OwnerActionSent,
        OwnerActionReturned,
    )
    if cls.PREFIX is not None
}


def decode_event(body: Cell) -> Event | None:
    """The event in an external-out message body, or None if it is not one of ours."""
    s = body.begin_parse()
    if s.remaining_bits < 32:
        return None
    kind = EVENT_TYPES.get(s.preload_uint(32))
    return None if kind is None else kind.from_cell(body)


DERIVED_EVENTS: tuple[type[Event], ...] = (
    ContributionRecorded,
    ContributionRefused,
    RewardSettled,
    PendingPaid,
)
"""Events that RewardDistribution does not log (each would cost a member's report or payout
1,450 gas): ``derived_events`` reads them from the transaction that made them."""


def derived_events(tx: Transaction) -> list[Event]:
    """The counted report, settlement or pending payout a successful RewardDistribution
    transaction made.

    Only the distribution accepts ``SubmitReport`` (checked against the oracle keys),
    ``SettleClaim`` and ``PayPending`` (only from the member's own contract), so a successful
    transaction with one of those inbound ops is the real thing."""
    inbound = tx.in_message
    if inbound is None or not tx.success:
        return []
    if inbound.bounced:
        return _refused_contribution(inbound.body, inbound.src)
    if inbound.op == SubmitReport.PREFIX:
        return _recorded_contributions(inbound.body, tx)
    if inbound.op == PayPending.PREFIX:
        paid = PayPending.from_cell(inbound.body)
        return [PendingPaid(member=paid.member, amount=paid.amount)]
    if inbound.op != SettleClaim.PREFIX:
        return []
    claim = SettleClaim.from_cell(inbound.body)
    for out in tx.internal_out:
        if out.op in (RewardPayout.PREFIX, CreditPending.PREFIX):
            total: int = (
                RewardPayout.from_cell(out.body).amount
                if out.op == RewardPayout.PREFIX
                else CreditPending.from_cell(out.body).amount
            )
            return [
                RewardSettled(
                    epoch=claim.epoch,
                    member=claim.member,
                    payout=total - claim.pending_carry,
                    pending_carry=claim.pending_carry,
                    paid_now=out.op == RewardPayout.PREFIX,
                )
            ]
    return []


def _refused_contribution(bounced: Cell, participant: Address | None) -> list[Event]:
    """A refused ApplyReport, from its rich bounce (only RewardDistribution sends
    ApplyReport, so a successful bounce of one on it is the refusal)."""
    body = bounced.begin_parse()
    if participant is None or body.remaining_bits < 32 or body.load_uint(32) != RICH_BOUNCE_PREFIX:
        return []
    if body.remaining_refs < 1:
        return []
    original = body.load_ref()
    head = original.begin_parse()
    if head.remaining_bits < 32 or head.preload_uint(32) != ApplyReport.PREFIX:
        return []
    report = ApplyReport.from_cell(original)
    return [
        ContributionRefused(
            epoch=report.epoch,
            participant=participant,
            contribution=report.contribution,
            penalty_bps=report.penalty_bps,
            bonus_bps=report.bonus_bps,
        )
    ]


def _recorded_contributions(batch: Cell, tx: Transaction) -> list[Event]:
    """One ContributionRecorded per report of the batch: the member from the i-th signed report,
    the counted figures from the i-th ApplyReport sent (same order, one each)."""
    members: list[Address] = []
    link: Cell | None = batch
    while link is not None:
        signed = SubmitReport.from_cell(link)
        members.append(signed.report.member)
        link = signed.next
    applied = [
        ApplyReport.from_cell(out.body) for out in tx.internal_out if out.op == ApplyReport.PREFIX
    ]
    return [
        ContributionRecorded(
            epoch=report.epoch,
            member=member,
            contribution=report.contribution,
            penalty_bps=report.penalty_bps,
            bonus_bps=report.bonus_bps,
        )
        for member, report in zip(members, applied, strict=True)
    ]


def indexed_events(tx: Transaction) -> list[tuple[int, Event]]:
    """Every pool event of one transaction with its index: the logs by their place among the
    transaction's external messages, then the derived events numbered after them."""
    found = [
        (index, event)
        for index, event in enumerate(decode_event(msg.body) for msg in tx.events)
        if event is not None
    ]
    found.extend((len(tx.events) + k, event) for k, event in enumerate(derived_events(tx)))
    return found


def transaction_events(tx: Transaction) -> list[Event]:
    """Every pool event of one transaction: its logs in order, then what it implies."""
    return [event for _, event in indexed_events(tx)]


E = TypeVar("E", bound=Event)


def trace_events(trace: Trace, kind: type[E], emitter: AddressLike | None = None) -> list[E]:
    """The pool events of type ``kind`` a trace emitted, in order (``Event``: all of them),
    optionally only those of one contract."""
    found = (event for tx in trace.find_all(emitter) for event in transaction_events(tx))
    return [event for event in found if isinstance(event, kind)]
