"""Where a payout's gas goes, read from the TVM's own log, one instruction at a time.

Each pool-contract transaction of a payout path is re-run with the emulator's
``full_location_gas`` log, each instruction's gas is the drop in "gas remaining", and the
instructions are sorted into classes: the fixed costs every Tolk contract pays per message
(method lookup, cells created, messages, reserve, data cells read), control flow across code
cells, stack moves, and everything else. The two "without" figures say how low a path could
go if a perfect compiler removed every stack move and every code-cell crossing while the
message structure stayed the same: if even that is above the goal, trimming the code cannot
meet it and only fewer transactions, cells or messages can.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from cocoon_pool.chain.types import Trace, Transaction, raw_address
from cocoon_pool.contracts.constants import ton
from cocoon_pool.contracts.messages import top_level_messages
from cocoon_pool.economics import MemberMetrics
from cocoon_pool.sandbox import PoolSandbox

PAYOUT_GOAL = 12_000
"""The issue's goal for one member's payout or claim, whole trace (issue 10)."""
PATH_NAMES = ("payout", "claim", "payout_pending", "claim_pending")
"""The payout paths, named as in the gas table."""

_GAS_REMAINING = re.compile(r"^gas remaining: (\d+)$")
_EXECUTE = re.compile(r"^execute (\S+)(?: (c\d+))?")


class GasClass(enum.Enum):
    """Value: the short column label (the docstring of each says what it counts)."""

    LOOKUP = "lookup"
    """DICTPUSHCONST + DICTIGETJMPZ: the code root finding onInternalMessage."""
    CELLS_CREATED = "cells"
    """ENDC: storage roots and messages built (500 gas each, plus the instruction)."""
    MESSAGES = "msgs"
    """SENDRAWMSG."""
    RESERVE = "reserve"
    """RAWRESERVE."""
    CELLS_READ = "reads"
    """CTOS: data cells opened (100 the first time, 25 again)."""
    CODE_CELLS = "jumps"
    """Control flow across code cells: implicit jumps and returns, IF…REF, JMPREF, CALLREF."""
    STACK = "stack"
    """Pure stack moves (PUSH, POP, XCHG, SWAP, DROP, ...)."""
    OTHER = "other"
    """Everything else: field loads and stores, arithmetic, comparisons, throws."""


# Pure stack rearrangement: what a perfect register allocator would not need.
_STACK_MOVES = frozenset(
    {
        "PUSH", "PUSH2", "PUSH3", "POP", "XCHG", "XCHG2", "XCHG3", "XCHG3_l", "SWAP", "SWAP2",
        "NIP", "DROP", "DROP2", "2DROP", "2DUP", "DUP", "OVER", "2OVER", "TUCK", "ROT",
        "ROTREV", "-ROT", "PUXC", "XCPU", "XCPU2", "XC2PU", "PU2XC", "XCPUXC",
        "XCPXC", "PUXC2", "PUXCPU", "BLKDROP", "BLKDROP2", "BLKSWAP", "BLKPUSH",
        "REVERSE", "ROLL", "ROLLREV", "ROLLX", "-ROLLX", "REVX", "BLKSWX", "DROPX", "ONLYX",
        "ONLYTOPX", "XCHGX", "PICK", "PUSHX",
    }
)  # fmt: skip
_FIXED = {
    "DICTPUSHCONST": GasClass.LOOKUP,
    "DICTIGETJMPZ": GasClass.LOOKUP,
    "ENDC": GasClass.CELLS_CREATED,
    "ENDXC": GasClass.CELLS_CREATED,
    "SENDRAWMSG": GasClass.MESSAGES,
    "SENDMSG": GasClass.MESSAGES,
    "RAWRESERVE": GasClass.RESERVE,
    "RAWRESERVEX": GasClass.RESERVE,
    "CTOS": GasClass.CELLS_READ,
    "XCTOS": GasClass.CELLS_READ,
}
_CODE_CELL_JUMP = re.compile(r"^(implicit|JMPREF|CALLREF|IF\w*REF\w*)$")


def classify(mnemonic: str) -> GasClass:
    """The class of one executed instruction, by its mnemonic in the TVM log."""
    if mnemonic in _FIXED:
        return _FIXED[mnemonic]
    if mnemonic in _STACK_MOVES:
        return GasClass.STACK
    if _CODE_CELL_JUMP.match(mnemonic):
        return GasClass.CODE_CELLS
    return GasClass.OTHER


def instruction_gas(vm_log: str, gas_used: int) -> list[tuple[str, int]]:
    """(mnemonic, gas) of every instruction in a transaction's ``full_location_gas`` log.

    The log prints "gas remaining" after each instruction, so the start is recovered from
    the last figure and ``gas_used``: the costs then add up to ``gas_used`` exactly.
    """
    steps: list[tuple[str, int]] = []
    mnemonic: str | None = None
    for line in vm_log.splitlines():
        executed = _EXECUTE.match(line)
        if executed is not None:
            # "PUSH c4" / "POP c4" move a control register (the storage root), not the stack.
            register = executed.group(2)
            mnemonic = executed.group(1) + ("CTR" if register else "")
            continue
        remaining = _GAS_REMAINING.match(line)
        if remaining is not None and mnemonic is not None:
            steps.append((mnemonic, int(remaining.group(1))))
            mnemonic = None
    if not steps:
        return []
    previous = steps[-1][1] + gas_used
    costs: list[tuple[str, int]] = []
    for name, left in steps:
        costs.append((name, previous - left))
        previous = left
    return costs


@dataclass
class TransactionProfile:
    contract: str
    op: str
    gas: int
    by_class: dict[GasClass, int]
    steps: list[tuple[str, int]] = field(repr=False)
    """(mnemonic, gas) of every instruction, in order."""

    @property
    def instructions(self) -> int:
        return len(self.steps)

    def to_json(self) -> dict[str, Any]:
        return {
            "contract": self.contract,
            "op": self.op,
            "gas": self.gas,
            "instructions": self.instructions,
            "by_class": {c.name.lower(): self.by_class.get(c, 0) for c in GasClass},
        }


def profile_transaction(tx: Transaction, contract: str, op: str) -> TransactionProfile:
    if tx.vm_log is None:
        raise ValueError("the transaction has no TVM log: run the chain with a full verbosity")
    costs = instruction_gas(tx.vm_log, tx.gas_used)
    by_class: dict[GasClass, int] = {}
    for mnemonic, gas in costs:
        kind = classify(mnemonic)
        by_class[kind] = by_class.get(kind, 0) + gas
    return TransactionProfile(contract, op, tx.gas_used, by_class, costs)


@dataclass
class PathProfile:
    name: str
    description: str
    transactions: list[TransactionProfile] = field(default_factory=list)

    @property
    def gas(self) -> int:
        return sum(t.gas for t in self.transactions)

    def total(self, kind: GasClass) -> int:
        return sum(t.by_class.get(kind, 0) for t in self.transactions)

    @property
    def without_stack(self) -> int:
        return self.gas - self.total(GasClass.STACK)

    @property
    def without_stack_and_code_cells(self) -> int:
        return self.without_stack - self.total(GasClass.CODE_CELLS)

    @property
    def fixed(self) -> int:
        kinds = (
            GasClass.LOOKUP,
            GasClass.CELLS_CREATED,
            GasClass.MESSAGES,
            GasClass.RESERVE,
            GasClass.CELLS_READ,
        )
        return sum(self.total(k) for k in kinds)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.name,
            "description": self.description,
            "gas": self.gas,
            "goal": PAYOUT_GOAL,
            "fixed": self.fixed,
            "without_stack": self.without_stack,
            "without_stack_and_code_cells": self.without_stack_and_code_cells,
            "by_class": {c.name.lower(): self.total(c) for c in GasClass},
            "transactions": [t.to_json() for t in self.transactions],
        }


def _contract_names(sb: PoolSandbox, members: Iterable[Any]) -> dict[str, str]:
    pool = sb.pool
    names = {
        raw_address(pool.operator): "PoolOperator",
        raw_address(pool.registry): "ParticipantRegistry",
        raw_address(pool.distribution): "RewardDistribution",
    }
    for wallet in members:
        names[raw_address(pool.participant_address(wallet.address))] = "Participant"
    return names


def _op_names() -> dict[int, str]:
    return {cls.PREFIX: cls.__name__ for cls in top_level_messages() if cls.PREFIX is not None}


def profile_payouts() -> list[PathProfile]:
    """Profile one member's payout on every path in a small pool (gas does not depend on N)."""
    sb = PoolSandbox.create()
    pool, chain = sb.pool, sb.chain
    paid = [sb.add_member(f"paid-{k}") for k in range(4)]
    small = sb.add_member("small")
    pool.send_income(sb.proxy, ton(1_000)).assert_success()
    sb.close_epoch().assert_success()
    length = pool.ledger().epoch_length
    sb.report_batch(1, [(w, MemberMetrics(length, 1_000, 9_900, 0)) for w in paid]).assert_success()
    # A share far below the minimum payout: its crank is credited as pending.
    sb.report(small, 1, MemberMetrics(1_000, 10, 9_900, 0)).assert_success()
    sb.finalize().assert_success()
    names = _contract_names(sb, [*paid, small])
    ops = _op_names()
    skip = {raw_address(a) for a in sb.wallet_addresses}
    paths: list[tuple[str, str, Callable[[], Trace]]] = [
        ("payout", "a keeper's crank", lambda: pool.crank_payout(sb.keeper, paid[0].address, 1)),
        ("claim", "the member's own claim", lambda: pool.claim_rewards(paid[1], 1)),
        (
            "payout_pending",
            "a crank credited as pending (below the minimum payout)",
            lambda: pool.crank_payout(sb.keeper, small.address, 1),
        ),
        ("claim_pending", "taking the pending amount out", lambda: pool.claim_pending(small)),
    ]
    assert tuple(name for name, _, _ in paths) == PATH_NAMES
    profiles = []
    verbosity, chain.verbosity = chain.verbosity, "full_location_gas"
    try:
        for name, description, run in paths:
            trace = run().assert_success()
            path = PathProfile(name, description)
            for tx in trace.transactions:
                if tx.address_raw in skip:
                    continue
                contract = names.get(tx.address_raw, tx.address_raw)
                op = "" if tx.op is None else ops.get(tx.op, f"0x{tx.op:08x}")
                path.transactions.append(profile_transaction(tx, contract, op))
            profiles.append(path)
    finally:
        chain.verbosity = verbosity
    sb.assert_conserved()
    return profiles
