"""Python mirrors of contracts/storage.tolk: layouts Python builds or derives addresses from."""

from __future__ import annotations

from dataclasses import dataclass

from ton_core import Address, Cell

from cocoon_pool.chain.messages import contract_address
from cocoon_pool.contracts.codec import (
    EmptyDict,
    Inline,
    Int,
    RawCell,
    Ref,
    TlbStruct,
    addr,
    boolean,
    coins,
    opt_addr,
    tl,
    u,
)

STATUS_UNDEPLOYED = 0
STATUS_ACTIVE = 1
STATUS_PAUSED = 2
STATUS_CLOSING = 3
STATUS_NAMES = {0: "undeployed", 1: "active", 2: "paused", 3: "closing"}

MEMBER_ACTIVE = 1
MEMBER_UNBONDING = 2
MEMBER_WITHDRAWN = 3
MEMBER_STATUS_NAMES = {0: "not registered", 1: "active", 2: "unbonding", 3: "withdrawn"}

ROLE_UNSET = 0  # no nominee
ROLE_ADMIN = 1
ROLE_PAUSER = 2


@dataclass(frozen=True, kw_only=True)
class PoolConfig(TlbStruct):
    commission_bps: int = u(16)
    min_stake: int = coins()
    epoch_length: int = u(32)
    report_grace: int = u(32)
    timelock_seconds: int = u(32)
    unbonding_seconds: int = u(32)
    min_payout: int = coins()
    min_operator_stake: int = coins()
    oracle_quorum: int = u(8)
    oracle_keys: Cell | None = tl(RawCell(optional=True))
    member_cap: int = u(32, 0)


@dataclass(frozen=True, kw_only=True)
class PoolRoles(TlbStruct):
    admin: Address = addr()
    pauser: Address = addr()
    nominee: Address | None = opt_addr(None)
    nominee_role: int = u(8, 0)


@dataclass(frozen=True, kw_only=True)
class PoolCodes(TlbStruct):
    registry_code: Cell = tl(RawCell())
    distribution_code: Cell = tl(RawCell())
    participant_code: Cell = tl(RawCell())


@dataclass(frozen=True, kw_only=True)
class PendingChange(TlbStruct):
    apply_after: int = u(32)
    change: Cell = tl(RawCell())


@dataclass(frozen=True, kw_only=True)
class PoolOperatorStorage(TlbStruct):
    pool_id: int = u(32)
    status: int = u(8)
    operator_stake: int = coins()
    registry: Address | None = opt_addr()
    distribution: Address | None = opt_addr()
    config: PoolConfig = tl(Ref(PoolConfig))
    roles: PoolRoles = tl(Ref(PoolRoles))
    codes: PoolCodes = tl(Ref(PoolCodes))
    pending: PendingChange | None = tl(Ref(PendingChange, optional=True), None)


@dataclass(frozen=True, kw_only=True)
class RegistryStorage(TlbStruct):
    pool: Address = addr()
    distribution: Address | None = opt_addr(None)
    paused: bool = boolean(False)
    closing: bool = boolean(False)
    min_stake: int = coins(0)
    unbonding_seconds: int = u(32, 0)
    member_count: int = u(32, 0)
    total_stake: int = coins(0)
    ever_joined: int = u(32, 0)
    member_cap: int = u(32, 0)
    joining: int = u(32, 0)
    participant_code: Cell = tl(RawCell())


@dataclass(frozen=True, kw_only=True)
class DistributionConfig(TlbStruct):
    pool: Address = addr()
    registry: Address | None = opt_addr(None)
    participant_code: Cell = tl(RawCell())
    oracle_quorum: int = u(8, 0)
    oracle_keys: Cell | None = tl(RawCell(optional=True), None)
    global_id: int = tl(Int(32), 0)
    """The network's global id, read from config param 19 when the distribution initializes."""
    commission_bps: int = u(16, 0)
    next_commission_bps: int = u(16, 0)
    next_commission_epoch: int = u(32, 0)
    epoch_length: int = u(32, 0)
    report_grace: int = u(32, 0)
    min_payout: int = coins(0)


@dataclass(frozen=True, kw_only=True)
class DistributionTotals(TlbStruct):
    received: int = coins(0)
    commission: int = coins(0)
    dust_swept: int = coins(0)
    epochs_closed: int = u(32, 0)


@dataclass(frozen=True, kw_only=True)
class FinalEpochs(TlbStruct):
    """The latest final epoch's frozen aggregates and the older final epochs (a dictionary)."""

    net: int = coins(0)
    contribution_sum: int = u(96, 0)
    bonus_weight: int = u(128, 0)
    bonus_paid: int = coins(0)
    flat: bool = boolean(False)
    older: Cell | None = tl(EmptyDict(), None)


@dataclass(frozen=True, kw_only=True)
class DistributionStorage(TlbStruct):
    paused_at: int = u(32, 0)
    reporting: Cell | None = tl(RawCell(optional=True), None)
    config: DistributionConfig = tl(Ref(DistributionConfig))
    unsettled: int = coins(0)
    pending_credit: int = coins(0)
    paid: int = coins(0)
    finals: FinalEpochs = tl(Ref(FinalEpochs), FinalEpochs())
    latest_epoch: int = u(32, 0)
    latest_claims_left: int = u(32, 0)
    latest_remaining: int = coins(0)
    reserve: int = coins(0)
    commission_unpaid: int = coins(0)
    winding_down: bool = boolean(False)
    current_epoch: int = u(32, 0)
    epoch_start: int = u(32, 0)
    totals: DistributionTotals = tl(Ref(DistributionTotals), DistributionTotals())


# Participant history ring: HISTORY_SLOTS records of HISTORY_RECORD_BITS in one cell.
HISTORY_SLOTS = 8
HISTORY_RECORD_BITS = 114


@dataclass(frozen=True, kw_only=True)
class LatestSlip(TlbStruct):
    epoch: int = u(32)
    contribution: int = u(64)
    penalty_bps: int = u(16)
    bonus_bps: int = u(16)


@dataclass(frozen=True, kw_only=True)
class MemberProfile(TlbStruct):
    distribution: Address = addr()
    stake: int = coins(0)
    joined_at: int = u(32, 0)
    unbond_at: int = u(32, 0)
    unbonding_seconds: int = u(32, 0)
    worker: Address | None = opt_addr(None)
    node_wallet: Address | None = opt_addr(None)


@dataclass(frozen=True, kw_only=True)
class MemberState(TlbStruct):
    """Inline in the Participant's root cell once it is initialized."""

    status: int = u(8)
    verified: bool = boolean(False)
    last_reported_epoch: int = u(32, 0)
    pending: int = coins(0)
    total_running_seconds: int = u(64, 0)
    total_contribution: int = u(96, 0)
    epochs_reported: int = u(32, 0)
    latest: LatestSlip | None = tl(Inline(LatestSlip), None)
    unclaimed: Cell | None = tl(EmptyDict(), None)
    profile: MemberProfile = tl(Ref(MemberProfile))
    history: Cell = tl(RawCell())


@dataclass(frozen=True, kw_only=True)
class ParticipantStorage(TlbStruct):
    registry: Address = addr()
    member: Address = addr()
    state: MemberState | None = tl(Inline(MemberState), None)


def registry_address(pool: Address, codes: PoolCodes) -> Address:
    """Where PoolOperator deploys the registry (same derivation as in PoolOperator.tolk)."""
    data = RegistryStorage(pool=pool, participant_code=codes.participant_code).to_cell()
    return contract_address(codes.registry_code, data)


def distribution_address(pool: Address, codes: PoolCodes) -> Address:
    config = DistributionConfig(pool=pool, participant_code=codes.participant_code)
    data = DistributionStorage(config=config).to_cell()
    return contract_address(codes.distribution_code, data)


def participant_address(participant_code: Cell, registry: Address, member: Address) -> Address:
    """The member's Participant contract: derived from (registry, member), jetton-wallet style."""
    data = ParticipantStorage(registry=registry, member=member).to_cell()
    return contract_address(participant_code, data)
