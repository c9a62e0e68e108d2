"""Python mirrors of contracts/messages.tolk: one class per message struct."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ton_core import Address, Cell

from cocoon_pool.contracts.codec import (
    Bits,
    RawCell,
    Ref,
    TlbStruct,
    addr,
    boolean,
    coins,
    tl,
    u,
)

# ---------------------------------------------------------------- Cocoon (DESIGN.md §5)


@dataclass(frozen=True, kw_only=True)
class CocoonPayout(TlbStruct):
    PREFIX: ClassVar[int | None] = 0xC59A7CD3
    query_id: int = u(64, 0)


@dataclass(frozen=True, kw_only=True)
class CocoonExcesses(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x2565934C
    query_id: int = u(64, 0)


@dataclass(frozen=True, kw_only=True)
class ReturnExcesses(TlbStruct):
    PREFIX: ClassVar[int | None] = 0xD53276DB
    query_id: int = u(64, 0)


# ---------------------------------------------------------------- PoolOperator, from people


@dataclass(frozen=True, kw_only=True)
class DeployPool(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0A0001
    query_id: int = u(64, 0)


class ParameterChange(TlbStruct):
    """A change that goes through the timelock (one of the 8-bit-prefixed structs below)."""

    PREFIX_BITS: ClassVar[int] = 8


@dataclass(frozen=True, kw_only=True)
class ChangeCommission(ParameterChange):
    PREFIX: ClassVar[int | None] = 0x01
    bps: int = u(16)


@dataclass(frozen=True, kw_only=True)
class ChangeMinStake(ParameterChange):
    PREFIX: ClassVar[int | None] = 0x02
    amount: int = coins()


@dataclass(frozen=True, kw_only=True)
class ChangeEpochLength(ParameterChange):
    PREFIX: ClassVar[int | None] = 0x03
    seconds: int = u(32)


@dataclass(frozen=True, kw_only=True)
class ChangeOracleKey(ParameterChange):
    PREFIX: ClassVar[int | None] = 0x04
    public_key: int = u(256)


@dataclass(frozen=True, kw_only=True)
class ChangeAdmin(ParameterChange):
    PREFIX: ClassVar[int | None] = 0x05
    nominee: Address = addr()


@dataclass(frozen=True, kw_only=True)
class ChangePauser(ParameterChange):
    PREFIX: ClassVar[int | None] = 0x06
    nominee: Address = addr()


UPGRADE_POOL = 0
UPGRADE_REGISTRY = 1
UPGRADE_DISTRIBUTION = 2


@dataclass(frozen=True, kw_only=True)
class UpgradeContract(ParameterChange):
    PREFIX: ClassVar[int | None] = 0x07
    target: int = u(8)
    code: Cell = tl(RawCell())


PARAMETER_CHANGES: tuple[type[ParameterChange], ...] = (
    ChangeCommission,
    ChangeMinStake,
    ChangeEpochLength,
    ChangeOracleKey,
    ChangeAdmin,
    ChangePauser,
    UpgradeContract,
)


def parse_parameter_change(cell: Cell) -> ParameterChange:
    for kind in PARAMETER_CHANGES:
        if kind.matches(cell):
            return kind.from_cell(cell)
    raise ValueError("unknown parameter change")


@dataclass(frozen=True, kw_only=True)
class ProposeChange(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0A0002
    query_id: int = u(64)
    change: Cell = tl(RawCell())


@dataclass(frozen=True, kw_only=True)
class ApplyChange(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0A0003
    query_id: int = u(64, 0)


@dataclass(frozen=True, kw_only=True)
class CancelChange(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0A0004
    query_id: int = u(64, 0)


@dataclass(frozen=True, kw_only=True)
class AcceptRole(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0A0005
    query_id: int = u(64, 0)


@dataclass(frozen=True, kw_only=True)
class PausePool(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0A0006
    query_id: int = u(64, 0)


@dataclass(frozen=True, kw_only=True)
class UnpausePool(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0A0007
    query_id: int = u(64, 0)


@dataclass(frozen=True, kw_only=True)
class DepositOperatorStake(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0A0008
    query_id: int = u(64, 0)


@dataclass(frozen=True, kw_only=True)
class EmergencyWithdraw(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0A0009
    query_id: int = u(64)
    amount: int = coins()


@dataclass(frozen=True, kw_only=True)
class CollectCommission(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0A000A
    query_id: int = u(64, 0)


@dataclass(frozen=True, kw_only=True)
class VerifyMember(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0A000B
    query_id: int = u(64)
    member: Address = addr()
    worker: Address = addr()


@dataclass(frozen=True, kw_only=True)
class ClosePool(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0A000C
    query_id: int = u(64, 0)


# ---------------------------------------------------------------- PoolOperator -> children


@dataclass(frozen=True, kw_only=True)
class InitRegistry(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0B0001
    query_id: int = u(64)
    distribution: Address = addr()
    min_stake: int = coins()
    unbonding_seconds: int = u(32)


@dataclass(frozen=True, kw_only=True)
class InitDistribution(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0B0002
    query_id: int = u(64)
    registry: Address = addr()
    oracle_key: int = u(256)
    commission_bps: int = u(16)
    epoch_length: int = u(32)
    report_grace: int = u(32)
    min_payout: int = coins()


@dataclass(frozen=True, kw_only=True)
class SetPaused(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0B0003
    query_id: int = u(64)
    paused: bool = boolean()


@dataclass(frozen=True, kw_only=True)
class UpdateRegistryConfig(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0B0004
    query_id: int = u(64)
    min_stake: int = coins()
    closing: bool = boolean()


@dataclass(frozen=True, kw_only=True)
class UpdateDistributionConfig(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0B0005
    query_id: int = u(64)
    oracle_key: int = u(256)
    commission_bps: int = u(16)
    epoch_length: int = u(32)


@dataclass(frozen=True, kw_only=True)
class SendCommission(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0B0006
    query_id: int = u(64)
    recipient: Address = addr()


@dataclass(frozen=True, kw_only=True)
class UpgradeCode(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0B0007
    query_id: int = u(64)
    code: Cell = tl(RawCell())


@dataclass(frozen=True, kw_only=True)
class ForwardVerification(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0B0008
    query_id: int = u(64)
    member: Address = addr()
    worker: Address = addr()


# ---------------------------------------------------------------- Registry <-> Participant <-> Pool


@dataclass(frozen=True, kw_only=True)
class RegisterParticipant(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0C0001
    query_id: int = u(64)
    stake: int = coins()


@dataclass(frozen=True, kw_only=True)
class InitParticipant(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0C0002
    query_id: int = u(64)
    stake: int = coins()
    member: Address = addr()
    distribution: Address = addr()
    unbonding_seconds: int = u(32)


@dataclass(frozen=True, kw_only=True)
class JoinConfirmed(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0C0003
    query_id: int = u(64)
    member: Address = addr()
    stake: int = coins()


@dataclass(frozen=True, kw_only=True)
class LeaveConfirmed(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0C0004
    query_id: int = u(64)
    member: Address = addr()
    stake: int = coins()


@dataclass(frozen=True, kw_only=True)
class MembershipChanged(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0C0005
    query_id: int = u(64)
    joined: bool = boolean()
    member_count: int = u(32)
    total_stake: int = coins()


@dataclass(frozen=True, kw_only=True)
class MarkVerified(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0C0006
    query_id: int = u(64)
    worker: Address = addr()


# ---------------------------------------------------------------- Participant, from people


@dataclass(frozen=True, kw_only=True)
class RequestUnregister(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0D0001
    query_id: int = u(64, 0)


@dataclass(frozen=True, kw_only=True)
class WithdrawStake(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0D0002
    query_id: int = u(64, 0)


@dataclass(frozen=True, kw_only=True)
class ClaimRewards(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0D0003
    query_id: int = u(64)
    epoch: int = u(32)


@dataclass(frozen=True, kw_only=True)
class CrankPayout(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0D0004
    query_id: int = u(64)
    epoch: int = u(32)


@dataclass(frozen=True, kw_only=True)
class StakeReturned(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0D0005
    query_id: int = u(64)
    amount: int = coins()


# ---------------------------------------------------------------- RewardDistribution


@dataclass(frozen=True, kw_only=True)
class MetricsReport(TlbStruct):
    distribution: Address = addr()
    epoch: int = u(32)
    member: Address = addr()
    running_seconds: int = u(32)
    gpu_score: int = u(32)
    uptime_bps: int = u(16)
    outages: int = u(16)


@dataclass(frozen=True, kw_only=True)
class SubmitReport(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0E0001
    query_id: int = u(64)
    signature: bytes = tl(Bits(512))
    report: MetricsReport = tl(Ref(MetricsReport))


@dataclass(frozen=True, kw_only=True)
class CloseEpoch(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0E0002
    query_id: int = u(64, 0)


@dataclass(frozen=True, kw_only=True)
class FinalizeEpoch(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0E0003
    query_id: int = u(64, 0)


@dataclass(frozen=True, kw_only=True)
class ApplyReport(TlbStruct):
    """RewardDistribution -> Participant, after the report entered the epoch's aggregates.

    The contribution and its rates come first: a bounce (rich, root cell only) carries them
    back so that the distribution takes exactly them out again.
    """

    PREFIX: ClassVar[int | None] = 0x7C0E0004
    query_id: int = u(64)
    epoch: int = u(32)
    contribution: int = u(64)
    penalty_bps: int = u(16)
    bonus_bps: int = u(16)
    running_seconds: int = u(32)
    gpu_score: int = u(32)
    uptime_bps: int = u(16)
    outages: int = u(16)
    excess_to: Address = addr()


@dataclass(frozen=True, kw_only=True)
class SettleClaim(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0E0006
    query_id: int = u(64)
    epoch: int = u(32)
    contribution: int = u(64)
    penalty_bps: int = u(16)
    bonus_bps: int = u(16)
    pending_carry: int = coins()
    pay_below_minimum: bool = boolean()
    member: Address = addr()
    excess_to: Address = addr()


@dataclass(frozen=True, kw_only=True)
class CreditPending(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0E0007
    query_id: int = u(64)
    epoch: int = u(32)
    amount: int = coins()
    excess_to: Address = addr()


@dataclass(frozen=True, kw_only=True)
class RewardPayout(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0E0008
    query_id: int = u(64)
    epoch: int = u(32)
    amount: int = coins()


# ---------------------------------------------------------------- Owner actions toward Cocoon

OWNER_ACTION_WORKER_REGISTER = 1
"""The only owner action the pool sends: Cocoon's ``owner_worker_register``."""


@dataclass(frozen=True, kw_only=True)
class CocoonOwnerWorkerRegister(TlbStruct):
    """Cocoon's TL-B: ``owner_worker_register#26ed7f65 query_id:uint64
    send_excesses_to:MsgAddress``, sent by the worker's owner (the pool)."""

    PREFIX: ClassVar[int | None] = 0x26ED7F65
    query_id: int = u(64)
    send_excesses_to: Address = addr()


@dataclass(frozen=True, kw_only=True)
class SendOwnerAction(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0A000D
    query_id: int = u(64)
    member: Address = addr()
    action: int = u(8, OWNER_ACTION_WORKER_REGISTER)


@dataclass(frozen=True, kw_only=True)
class ForwardOwnerAction(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0B0009
    query_id: int = u(64)
    action: int = u(8)
    member: Address = addr()
    excess_to: Address = addr()


@dataclass(frozen=True, kw_only=True)
class CheckOwnerAction(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0E0009
    query_id: int = u(64)
    action: int = u(8)
    excess_to: Address = addr()


@dataclass(frozen=True, kw_only=True)
class ConfirmOwnerAction(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0E000A
    query_id: int = u(64)
    action: int = u(8)
    member: Address = addr()
    worker: Address = addr()
    excess_to: Address = addr()
