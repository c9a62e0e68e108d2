"""Typed results of the contracts' get-methods (each Tolk get method returns one struct)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Self

from ton_core import Address, Cell

from cocoon_pool.chain.types import GetResult


def _int() -> Any:
    return field(metadata={"stack": "int"})


def _bool() -> Any:
    return field(metadata={"stack": "bool"})


def _addr() -> Any:
    return field(metadata={"stack": "addr"})


def _cell() -> Any:
    return field(metadata={"stack": "cell"})


@dataclass(frozen=True)
class StackView:
    """A struct returned by a get-method: its fields lie on the stack in declaration order."""

    @classmethod
    def from_result(cls, result: GetResult) -> Self:
        values: dict[str, Any] = {}
        for index, f in enumerate(dataclasses.fields(cls)):
            kind = f.metadata["stack"]
            if kind == "int":
                values[f.name] = result.int_at(index)
            elif kind == "bool":
                values[f.name] = result.int_at(index) != 0
            elif kind == "addr":
                values[f.name] = None if result[index] is None else result.address_at(index)
            else:
                item = result[index]
                values[f.name] = item if isinstance(item, Cell) else None
        return cls(**values)


@dataclass(frozen=True)
class PoolInfo(StackView):
    pool_id: int = _int()
    status: int = _int()
    commission_bps: int = _int()
    min_stake: int = _int()
    epoch_length: int = _int()
    report_grace: int = _int()
    timelock_seconds: int = _int()
    unbonding_seconds: int = _int()
    min_payout: int = _int()
    operator_stake: int = _int()
    min_operator_stake: int = _int()
    registry: Address | None = _addr()
    distribution: Address | None = _addr()
    oracle_quorum: int = _int()
    oracle_keys: Cell | None = _cell()
    member_cap: int = _int()


@dataclass(frozen=True)
class RolesView(StackView):
    admin: Address = _addr()
    pauser: Address = _addr()
    nominee: Address | None = _addr()
    nominee_role: int = _int()


@dataclass(frozen=True)
class PendingChangeView(StackView):
    exists: bool = _bool()
    apply_after: int = _int()
    change: Cell | None = _cell()


@dataclass(frozen=True)
class RegistryInfo(StackView):
    pool: Address = _addr()
    distribution: Address | None = _addr()
    paused: bool = _bool()
    closing: bool = _bool()
    min_stake: int = _int()
    unbonding_seconds: int = _int()
    member_count: int = _int()
    total_stake: int = _int()
    ever_joined: int = _int()
    member_cap: int = _int()
    joining: int = _int()


@dataclass(frozen=True)
class Ledger(StackView):
    paused: bool = _bool()
    paused_at: int = _int()
    winding_down: bool = _bool()
    current_epoch: int = _int()
    epoch_start: int = _int()
    epoch_length: int = _int()
    report_grace: int = _int()
    commission_bps: int = _int()
    next_commission_bps: int = _int()
    next_commission_epoch: int = _int()
    min_payout: int = _int()
    reserve: int = _int()
    pending_credit: int = _int()
    commission_unpaid: int = _int()
    unsettled: int = _int()
    storage_floor: int = _int()
    open_income: int = _int()
    received: int = _int()
    commission: int = _int()
    paid: int = _int()
    dust_swept: int = _int()
    epochs_closed: int = _int()


@dataclass(frozen=True)
class ReportingView(StackView):
    active: bool = _bool()
    epoch: int = _int()
    start: int = _int()
    end: int = _int()
    deadline: int = _int()
    net: int = _int()
    contribution_sum: int = _int()
    penalty_weight: int = _int()
    bonus_weight: int = _int()
    reporters: int = _int()


@dataclass(frozen=True)
class FinalEpochView(StackView):
    found: bool = _bool()
    net: int = _int()
    contribution_sum: int = _int()
    bonus_weight: int = _int()
    bonus_paid: int = _int()
    flat: bool = _bool()
    remaining: int = _int()
    claims_left: int = _int()


@dataclass(frozen=True)
class ParticipantInfo(StackView):
    registered: bool = _bool()
    member: Address = _addr()
    registry: Address = _addr()
    status: int = _int()
    verified: bool = _bool()
    stake: int = _int()
    joined_at: int = _int()
    unbond_at: int = _int()
    last_reported_epoch: int = _int()
    pending: int = _int()
    total_running_seconds: int = _int()
    total_contribution: int = _int()
    epochs_reported: int = _int()
    worker: Address | None = _addr()
    node_wallet: Address | None = _addr()


@dataclass(frozen=True)
class UnclaimedView(StackView):
    found: bool = _bool()
    contribution: int = _int()
    penalty_bps: int = _int()
    bonus_bps: int = _int()


@dataclass(frozen=True)
class EpochRecordView(StackView):
    found: bool = _bool()
    epoch: int = _int()
    running_seconds: int = _int()
    gpu_score: int = _int()
    uptime_bps: int = _int()
    outages: int = _int()
    contribution: int = _int()
