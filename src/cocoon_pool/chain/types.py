"""Results of the emulated chain: messages, transactions, traces and get-method results.

All amounts are nanotons (``int``). Addresses are ``ton_core.Address`` objects; ``raw`` strings
(``"0:<hex>"``) are used as dictionary keys.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, TypeAlias

from ton_core import Address, Builder, Cell, Slice

from cocoon_pool.errors import GetMethodError, TransactionFailed

StackValue: TypeAlias = "int | Cell | Slice | Builder | Address | list[StackValue] | None"
"""A get-method stack item: ``int``, ``Cell``, ``Slice``, ``Builder``, ``None`` (TVM null) or a
``list`` (TVM tuple). On input an ``Address`` is sent as a slice and ``bool`` as -1/0."""

AddressLike: TypeAlias = "Address | str"


def raw_address(address: AddressLike) -> str:
    """The raw form ``"<wc>:<hex>"`` of an address (the chain's dictionary key)."""
    addr = address if isinstance(address, Address) else Address(address)
    return f"{addr.wc}:{addr.hash_part.hex()}"


def cell_from_b64(boc: str) -> Cell:
    return Cell.one_from_boc(base64.b64decode(boc))


def cell_to_b64(cell: Cell) -> str:
    return base64.b64encode(cell.to_boc()).decode("ascii")


class ExternalMessageRejected(TransactionFailed):
    """The destination did not accept an external-in message (no transaction happened)."""

    def __init__(self, message: str, exit_code: int | None, vm_log: str | None) -> None:
        super().__init__(
            message,
            hint="the contract must call acceptExternalMessage() before it runs out of gas credit",
        )
        self.exit_code = exit_code
        self.vm_log = vm_log


@dataclass(frozen=True)
class InMessage:
    """The inbound message of a transaction (internal or external-in)."""

    kind: Literal["internal", "external-in"]
    src: Address | None
    value: int
    bounce: bool
    bounced: bool
    op: int | None
    """The first 32 bits of the body, if it has at least 32 bits."""
    body_boc: str = field(repr=False)
    created_lt: int = 0
    """The sender's logical time when it created the message (0 for external-in): with the
    sender it names the message, which is how a network trace is followed."""

    @cached_property
    def body(self) -> Cell:
        return cell_from_b64(self.body_boc)


@dataclass(frozen=True)
class OutMessage:
    """A message created by a transaction: internal, or external-out (an event / log)."""

    kind: Literal["internal", "external-out"]
    src: Address | None
    dest_raw: str | None
    """Raw ``"0:<hex>"`` for internal messages; the external address text (or None) for logs."""
    value: int
    fwd_fee: int
    """Forward fee carried in the message (paid by the sender, on top of its transaction fees)."""
    bounce: bool
    bounced: bool
    has_state_init: bool
    created_lt: int
    op: int | None
    boc: str = field(repr=False)
    body_boc: str = field(repr=False)

    @property
    def dest(self) -> Address | None:
        if self.kind != "internal" or self.dest_raw is None:
            return None
        return Address(self.dest_raw)

    @cached_property
    def body(self) -> Cell:
        return cell_from_b64(self.body_boc)

    @cached_property
    def cell(self) -> Cell:
        return cell_from_b64(self.boc)


@dataclass(frozen=True)
class Transaction:
    """One transaction on one account, as the real TVM produced it."""

    address_raw: str
    lt: int
    now: int
    hash: str
    in_message: InMessage | None
    compute_skipped: str | None
    """Why the compute phase was skipped (``"no-state"``, ``"bad-state"``, ``"no-gas"``...)."""
    compute_success: bool
    exit_code: int | None
    gas_used: int
    vm_steps: int
    aborted: bool
    destroyed: bool
    action_result_code: int | None
    total_actions: int
    total_fees: int
    storage_fees: int
    compute_fees: int
    action_fees: int
    fwd_fees: int
    """All forward fees the action phase charged (``action_fees`` plus the messages' fwd_fee)."""
    bounced: bool
    """Whether a bounce phase ran (the inbound message was bounced back)."""
    orig_status: str
    end_status: str
    balance_after: int
    out_messages: tuple[OutMessage, ...]
    boc: str = field(repr=False)
    vm_log: str | None = field(default=None, repr=False)
    """The TVM log when the chain's verbosity is not ``"short"``."""
    debug_log: str | None = field(default=None, repr=False)
    """``debug.print`` output (``#DEBUG#`` lines) when the chain runs with ``debug=True``."""

    @property
    def address(self) -> Address:
        return Address(self.address_raw)

    @property
    def success(self) -> bool:
        """Compute phase succeeded, the action phase (if any) succeeded and nothing aborted."""
        return (
            self.compute_success
            and not self.aborted
            and (self.action_result_code is None or self.action_result_code == 0)
        )

    @property
    def op(self) -> int | None:
        return self.in_message.op if self.in_message is not None else None

    @property
    def events(self) -> tuple[OutMessage, ...]:
        """External-out messages (logs) emitted by this transaction."""
        return tuple(m for m in self.out_messages if m.kind == "external-out")

    @property
    def internal_out(self) -> tuple[OutMessage, ...]:
        return tuple(m for m in self.out_messages if m.kind == "internal")

    def describe(self) -> str:
        op = f"0x{self.op:08x}" if self.op is not None else "-"
        if self.compute_skipped is not None:
            compute = f"compute skipped ({self.compute_skipped})"
        else:
            compute = f"exit {self.exit_code}, gas {self.gas_used}"
        action = "" if self.action_result_code is None else f", action {self.action_result_code}"
        flags = (", aborted" if self.aborted else "") + (", bounced" if self.bounced else "")
        return f"tx {self.address_raw} lt={self.lt} op={op}: {compute}{action}{flags}"


@dataclass(frozen=True)
class Trace:
    """All transactions caused by one injected message, in execution order."""

    transactions: tuple[Transaction, ...]

    def __iter__(self) -> Iterator[Transaction]:
        return iter(self.transactions)

    def __len__(self) -> int:
        return len(self.transactions)

    def __getitem__(self, index: int) -> Transaction:
        return self.transactions[index]

    def gas_total(self, exclude: Iterable[AddressLike] = ()) -> int:
        """Gas used by all transactions, except on the ``exclude`` addresses."""
        skip = {raw_address(a) for a in exclude}
        return sum(tx.gas_used for tx in self.transactions if tx.address_raw not in skip)

    def fees_total(self, exclude: Iterable[AddressLike] = ()) -> int:
        skip = {raw_address(a) for a in exclude}
        return sum(tx.total_fees for tx in self.transactions if tx.address_raw not in skip)

    def find_all(
        self, address: AddressLike | None = None, op: int | None = None
    ) -> list[Transaction]:
        raw = raw_address(address) if address is not None else None
        return [
            tx
            for tx in self.transactions
            if (raw is None or tx.address_raw == raw) and (op is None or tx.op == op)
        ]

    def find(self, address: AddressLike | None = None, op: int | None = None) -> Transaction:
        """The first transaction on ``address`` (and with inbound ``op``); LookupError if none."""
        found = self.find_all(address, op)
        if not found:
            want = f"address={address} op={op if op is None else hex(op)}"
            raise LookupError(f"no transaction with {want} in trace:\n{self.describe()}")
        return found[0]

    def failed(self) -> list[Transaction]:
        return [tx for tx in self.transactions if not tx.success]

    def assert_success(self) -> Trace:
        """Raise TransactionFailed unless every transaction succeeded; return self."""
        bad = self.failed()
        if bad:
            raise TransactionFailed(
                f"{len(bad)} of {len(self.transactions)} transactions failed; first: "
                f"{bad[0].describe()}\n{self.describe()}",
                hint="look up the exit code in the contract's error constants",
            )
        return self

    def external_events(self) -> list[OutMessage]:
        return [m for tx in self.transactions for m in tx.events]

    def describe(self) -> str:
        return "\n".join(tx.describe() for tx in self.transactions)


@dataclass(frozen=True)
class AccountState:
    address_raw: str
    status: str
    """``"nonexist"``, ``"uninit"``, ``"active"`` or ``"frozen"``."""
    balance: int
    code: Cell | None
    data: Cell | None
    last_paid: int


@dataclass(frozen=True)
class GetResult:
    """The result of a get-method: exit code, gas and the typed result stack (bottom first)."""

    method: str | int
    exit_code: int
    gas_used: int
    stack: list[StackValue]
    vm_log: str | None = field(default=None, repr=False)
    debug_log: str | None = field(default=None, repr=False)

    def __getitem__(self, index: int) -> StackValue:
        return self.stack[index]

    def int_at(self, index: int = 0) -> int:
        value = self.stack[index]
        if not isinstance(value, int):
            raise GetMethodError(f"stack[{index}] of {self.method} is {value!r}, not an int")
        return value

    def cell_at(self, index: int = 0) -> Cell:
        value = self.stack[index]
        if not isinstance(value, Cell):
            raise GetMethodError(f"stack[{index}] of {self.method} is {value!r}, not a cell")
        return value

    def slice_at(self, index: int = 0) -> Slice:
        value = self.stack[index]
        if isinstance(value, Cell):
            return value.begin_parse()
        if not isinstance(value, Slice):
            raise GetMethodError(f"stack[{index}] of {self.method} is {value!r}, not a slice")
        return value

    def address_at(self, index: int = 0) -> Address | None:
        """Read a slice holding an address (``None`` for addr_none)."""
        addr: Any = self.slice_at(index).load_address()
        if addr is None or isinstance(addr, Address):
            return addr
        raise GetMethodError(f"stack[{index}] of {self.method} is an external address")
