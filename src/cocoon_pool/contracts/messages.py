"""Python mirrors of contracts/messages.tolk: one class per message struct."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from ton_core import Address, Cell, HashMap, begin_cell

from cocoon_pool.contracts.codec import (
    Bits,
    InlineOrRef,
    Int,
    Nested,
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

# ---------------------------------------------------------------- Cocoon (DESIGN.md §5)


PLAIN_BOUNCE_PREFIX = 0xFFFFFFFF
"""A plain bounce: the prefix, then the first 256 bits of the refused message's body."""
RICH_BOUNCE_PREFIX = 0xFFFFFFFE
"""Tolk's ``RichBounceBody``: the prefix, then the refused message's body root cell as a ref."""


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


MAX_ORACLE_KEYS = 16


def oracle_keys_cell(keys: Sequence[int]) -> Cell:
    """The ``map<uint8, uint256>`` of an oracle set: key ``i`` at index ``i``."""
    if not keys:
        raise ValueError("an oracle set needs at least one key")
    table = HashMap(8, value_serializer=lambda value, b: b.store_uint(value, 256))
    for index, key in enumerate(keys):
        table.set_int_key(index, key)
    cell = table.serialize()
    assert cell is not None
    return cell


def oracle_keys_from_cell(cell: Cell | None) -> list[int]:
    """The keys of an oracle set, in index order."""
    if cell is None:
        return []
    table = HashMap.parse(cell.begin_parse(), 8, value_deserializer=lambda s: s.load_uint(256))
    entries: dict[int, int] = table or {}
    return [entries[index] for index in sorted(entries)]


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
class ChangeOracleKeys(ParameterChange):
    """The pool's oracle set: ``quorum`` (k) of the keys at indices 0..n-1 must sign a report.
    ``keys`` is the ``map<uint8, uint256>`` dictionary cell (see :func:`oracle_keys_cell`)."""

    PREFIX: ClassVar[int | None] = 0x04
    quorum: int = u(8)
    keys: Cell | None = tl(RawCell(optional=True))


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


@dataclass(frozen=True, kw_only=True)
class ChangeMemberCap(ParameterChange):
    """How many members the registry admits (0: no cap): the operator's gradual rollout."""

    PREFIX: ClassVar[int | None] = 0x08
    cap: int = u(32)


PARAMETER_CHANGES: tuple[type[ParameterChange], ...] = (
    ChangeCommission,
    ChangeMinStake,
    ChangeEpochLength,
    ChangeOracleKeys,
    ChangeAdmin,
    ChangePauser,
    UpgradeContract,
    ChangeMemberCap,
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


def member_links(members: Sequence[Address]) -> Cell | None:
    """Tolk's ``Cell<MemberLink>?`` chain: one ``{member, next}`` cell per address, in order."""
    link: Cell | None = None
    for member in reversed(members):
        link = begin_cell().store_address(member).store_maybe_ref(link).end_cell()
    return link


@dataclass(frozen=True, kw_only=True)
class VerifyMember(TlbStruct):
    """Admin: confirm (``verified``) or revoke a member. The worker and node wallet are the
    member's own binding (:class:`BindWorker`); no role can name or change them."""

    PREFIX: ClassVar[int | None] = 0x7C0A000B
    query_id: int = u(64)
    member: Address = addr()
    verified: bool = boolean(True)
    more: Cell | None = tl(RawCell(optional=True), None)
    """The further members of a batch, a chain of ``MemberLink`` cells (:func:`member_links`)."""


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
    member_cap: int = u(32, 0)


@dataclass(frozen=True, kw_only=True)
class InitDistribution(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0B0002
    query_id: int = u(64)
    registry: Address = addr()
    oracle_quorum: int = u(8)
    oracle_keys: Cell | None = tl(RawCell(optional=True))
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
    member_cap: int = u(32, 0)


@dataclass(frozen=True, kw_only=True)
class UpdateDistributionConfig(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0B0005
    query_id: int = u(64)
    oracle_quorum: int = u(8)
    oracle_keys: Cell | None = tl(RawCell(optional=True))
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
    verified: bool = boolean()
    excess_to: Address = addr()
    more: Cell | None = tl(RawCell(optional=True), None)


@dataclass(frozen=True, kw_only=True)
class StartWindDown(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0B000A
    query_id: int = u(64, 0)


# ---------------------------------------------------------------- Registry <-> Participant <-> Pool


@dataclass(frozen=True, kw_only=True)
class WorkerBinding(TlbStruct):
    """The worker (and node wallet) a member names when it joins (BindWorker's rules)."""

    worker: Address = addr()
    node_wallet: Address | None = opt_addr(None)

    @classmethod
    def joining(cls, worker: Address | None, node_wallet: Address | None) -> WorkerBinding | None:
        """The binding a joining message carries: none without a worker; a node wallet is
        bound only together with its worker."""
        if worker is None:
            if node_wallet is not None:
                raise ValueError("a node wallet is bound together with its worker")
            return None
        return cls(worker=worker, node_wallet=node_wallet)


@dataclass(frozen=True, kw_only=True)
class RegisterParticipant(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0C0001
    query_id: int = u(64)
    stake: int = coins()
    binding: WorkerBinding | None = tl(Ref(WorkerBinding, optional=True), None)


@dataclass(frozen=True, kw_only=True)
class InitParticipant(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0C0002
    query_id: int = u(64)
    stake: int = coins()
    member: Address = addr()
    distribution: Address = addr()
    unbonding_seconds: int = u(32)
    binding: WorkerBinding | None = tl(Ref(WorkerBinding, optional=True), None)


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
class MarkVerified(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0C0006
    query_id: int = u(64)
    verified: bool = boolean()
    excess_to: Address = addr()


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


@dataclass(frozen=True, kw_only=True)
class BindWorker(TlbStruct):
    """Member: name the Cocoon worker it runs and (if known) the node's Cocoon wallet. Each is
    set once; a second BindWorker may only add the node wallet to the same worker."""

    PREFIX: ClassVar[int | None] = 0x7C0D0006
    query_id: int = u(64)
    worker: Address = addr()
    node_wallet: Address | None = opt_addr(None)


@dataclass(frozen=True, kw_only=True)
class ClaimPending(TlbStruct):
    """Member: pay out the whole pending amount, however small."""

    PREFIX: ClassVar[int | None] = 0x7C0D0007
    query_id: int = u(64, 0)


# ---------------------------------------------------------------- RewardDistribution


@dataclass(frozen=True, kw_only=True)
class MetricsReport(TlbStruct):
    """What the oracles sign. ``global_id``: the network's (config param 19), so a signature
    made for testnet is worthless on mainnet."""

    global_id: int = tl(Int(32))
    distribution: Address = addr()
    epoch: int = u(32)
    member: Address = addr()
    running_seconds: int = u(32)
    gpu_score: int = u(32)
    uptime_bps: int = u(16)
    outages: int = u(16)


@dataclass(frozen=True, kw_only=True)
class OracleSignature(TlbStruct):
    key_index: int = u(8)
    signature: bytes = tl(Bits(512))


@dataclass(frozen=True, kw_only=True)
class SignatureLink(TlbStruct):
    """One further signature of a k > 1 quorum; ``next`` the rest of the chain."""

    signature: OracleSignature = tl(Nested(OracleSignature))
    next: Cell | None = tl(RawCell(optional=True), None)


@dataclass(frozen=True, kw_only=True)
class SubmitReport(TlbStruct):
    """A report and the signatures of ``k`` distinct oracle keys, in increasing key index:
    the first inline, the others as a chain of :class:`SignatureLink` cells in ``more``.
    ``next``: the next member's ``SubmitReport`` cell of a batch (see ``reports.batch_message``).
    """

    PREFIX: ClassVar[int | None] = 0x7C0E0001
    query_id: int = u(64)
    first: OracleSignature = tl(Nested(OracleSignature))
    report: MetricsReport = tl(Ref(MetricsReport))
    more: Cell | None = tl(RawCell(optional=True), None)
    next: Cell | None = tl(RawCell(optional=True), None)


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
    """RewardDistribution -> Participant, which decides replay and eligibility. The report is
    already in the epoch's aggregates; a refusal bounces and takes it back out."""

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
class PayPending(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0E000D
    query_id: int = u(64)
    member: Address = addr()
    amount: int = coins()


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
    excess_to: Address | None = opt_addr(None)
    """None: the change goes to the member (its own claim or crank)."""


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
"""Cocoon's ``owner_worker_register`` to the member's verified worker."""
OWNER_ACTION_WALLET_WITHDRAW = 2
"""Cocoon's ``owner_wallet_send_message`` to the member's node wallet, which sends exactly
``amount`` of its TON to the member's own wallet (and nowhere else)."""


@dataclass(frozen=True, kw_only=True)
class CocoonOwnerWorkerRegister(TlbStruct):
    """Cocoon's TL-B: ``owner_worker_register#26ed7f65 query_id:uint64
    send_excesses_to:MsgAddress``, sent by the worker's owner (the pool)."""

    PREFIX: ClassVar[int | None] = 0x26ED7F65
    query_id: int = u(64)
    send_excesses_to: Address = addr()


@dataclass(frozen=True, kw_only=True)
class CocoonOwnerWalletSendMessage(TlbStruct):
    """Cocoon's TL-B: ``owner_wallet_send_message#9c69f376 query_id:uint64 mode:uint8
    body:^Cell``, sent by the wallet's owner (the pool); the wallet sends ``body`` (a whole
    MessageRelaxed, see :class:`NodeWalletTransfer`) with ``mode``."""

    PREFIX: ClassVar[int | None] = 0x9C69F376
    query_id: int = u(64)
    mode: int = u(8)
    body: Cell = tl(RawCell())


@dataclass(frozen=True, kw_only=True)
class NodeWalletWithdrawal(TlbStruct):
    """The body of the transfer the node wallet sends to the member."""

    PREFIX: ClassVar[int | None] = 0x7C0E000B
    query_id: int = u(64)
    amount: int = coins()


@dataclass(frozen=True, kw_only=True)
class NodeWalletTransfer(TlbStruct):
    """The fixed shape of ``owner_wallet_send_message.body`` (block.tlb MessageRelaxed, as
    Tolk's ``createMessage`` writes it): ``int_msg_info$0`` with ihr_disabled 1, bounce 0,
    bounced 0, src addr_none (the 6-bit prefix), then dest, value, no extra currencies,
    extra_flags 0 (TVM 12's former ihr_fee), fwd_fee 0, created_lt 0, created_at 0, no
    StateInit, and the body in place."""

    PREFIX: ClassVar[int | None] = 0b010000
    PREFIX_BITS: ClassVar[int] = 6
    dest: Address = addr()
    value: int = coins()
    extra_currencies: int = u(1, 0)
    extra_flags: int = coins(0)
    fwd_fee: int = coins(0)
    created_lt: int = u(64, 0)
    created_at: int = u(32, 0)
    state_init: int = u(1, 0)
    body: NodeWalletWithdrawal = tl(InlineOrRef(NodeWalletWithdrawal))


@dataclass(frozen=True, kw_only=True)
class SendOwnerAction(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0A000D
    query_id: int = u(64)
    member: Address = addr()
    action: int = u(8, OWNER_ACTION_WORKER_REGISTER)
    amount: int = coins(0)


@dataclass(frozen=True, kw_only=True)
class ForwardOwnerAction(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0B0009
    query_id: int = u(64)
    action: int = u(8)
    amount: int = coins(0)
    member: Address = addr()
    excess_to: Address = addr()


@dataclass(frozen=True, kw_only=True)
class CheckOwnerAction(TlbStruct):
    PREFIX: ClassVar[int | None] = 0x7C0E0009
    query_id: int = u(64)
    action: int = u(8)
    amount: int = coins(0)
    excess_to: Address = addr()


@dataclass(frozen=True, kw_only=True)
class ConfirmOwnerAction(TlbStruct):
    """``target``: the worker (register) or the node wallet (withdraw) the member's
    verification recorded."""

    PREFIX: ClassVar[int | None] = 0x7C0E000A
    query_id: int = u(64)
    action: int = u(8)
    amount: int = coins(0)
    member: Address = addr()
    target: Address = addr()
    excess_to: Address = addr()


def top_level_messages() -> tuple[type[TlbStruct], ...]:
    """Every message struct of this module with a 32-bit prefix (one per opcode), by name."""
    found = [
        obj
        for obj in globals().values()
        if isinstance(obj, type)
        and issubclass(obj, TlbStruct)
        and obj.__module__ == __name__
        and obj.PREFIX is not None
        and obj.PREFIX_BITS == 32
    ]
    return tuple(sorted(found, key=lambda cls: cls.__name__))
