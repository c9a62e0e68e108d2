"""Message fuzzing of the real compiled pool contracts on the embedded chain.

Generated messages (every message struct of :mod:`cocoon_pool.contracts.messages` with random
field values, truncated and oversized bodies, unknown ops, empty and short bodies, signed
reports alone, chained in a batch or with a garbage ``next`` link) go to each pool contract
from every kind of sender, with values around every fee and bounce flags on and off. After
each message the engine checks, from the trace and the account states the TVM produced:

* ``value``: no value lost or created: the touched accounts' balances change by exactly the
  value injected minus the fees the trace paid;
* ``refused-state``: an account whose transaction was refused (non-zero exit, failed action
  phase or bounce) has the same code and data as before;
* ``refused-balance`` / ``refused-bounce``: a refused bounceable message comes back to its
  sender with its value minus the fees, the account keeping only its balance minus storage;
  a refused message that could not bounce leaves nothing but its value behind;
* ``conservation``: the pool's conservation equation (DESIGN.md §3) holds;
* ``runaway``: the trace ends.

Generation is written once against :class:`Source`, driven either by a seeded
``random.Random`` (the benchmark's plain loop) or by hypothesis (:func:`message_strategy`).
Opcodes are never written here: they come from the message classes' ``PREFIX``.
"""

from __future__ import annotations

import base64
import dataclasses
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ton_core import Address, Cell, begin_cell

from cocoon_pool.chain.types import Trace, Transaction, raw_address
from cocoon_pool.contracts import messages as m
from cocoon_pool.contracts.codec import (
    Addr,
    Bits,
    Bool,
    Coins,
    FieldType,
    Inline,
    InlineOrRef,
    Int,
    Nested,
    RawCell,
    Ref,
    TlbStruct,
    Uint,
)
from cocoon_pool.contracts.constants import tolk_constants, ton
from cocoon_pool.contracts.pool import operator_code, pool_codes
from cocoon_pool.contracts.reports import batch_message, build_report, quorum_message, report_value
from cocoon_pool.economics import MemberMetrics
from cocoon_pool.errors import ChainError, CocoonPoolError
from cocoon_pool.sandbox import PoolSandbox

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

T = TypeVar("T")

TARGETS = ("operator", "registry", "distribution", "participant")
"""The contracts every message goes to (``participant``: the verified member's contract)."""

WALLET_SENDERS = ("stranger", "admin", "pauser", "member", "member2", "keeper", "proxy")
CONTRACT_SENDERS = ("operator", "registry", "distribution", "participant")
"""Pool contracts as senders: the emulator injects their messages (value minted). A pool
contract only ever sends what its code sends, so these messages, like bounced ones, are
synthetic: they run on a throw-away fork, never in the episode's state."""

BODY_KINDS = (
    "valid",
    "truncated",
    "oversized",
    "wrong-op",
    "empty",
    "short",
    "comment",
    "signed-report",
)
_KIND_WEIGHTS = (40, 14, 10, 10, 5, 5, 4, 12)

_CELL_BITS = 1023

# A refused bounceable message may stay on the account when what is left after the compute
# fee cannot pay the bounce's forward fee. Rich bounces carry the message's root cell, so
# their forward fee is a few times a plain transfer's; anything above this must bounce.
BOUNCE_FEE_ALLOWANCE = ton("0.01")

_EPOCH_LIKE = ("epoch",)
_BPS_LIKE = ("bps",)


def known_prefixes() -> frozenset[int]:
    return frozenset(cls.PREFIX for cls in m.top_level_messages() if cls.PREFIX is not None)


def fee_values() -> dict[str, int]:
    """Every figure of contracts/fees.tolk, by name."""
    return dict(tolk_constants("fees.tolk"))


# ---------------------------------------------------------------- sources of randomness


class Source(Protocol):
    """What generation draws from: a seeded ``random.Random`` or hypothesis."""

    def integer(self, low: int, high: int) -> int: ...

    def pick(self, options: Sequence[T]) -> T: ...

    def weighted(self, options: Sequence[T], weights: Sequence[int]) -> T: ...

    def blob(self, size: int) -> bytes: ...


class RandomSource:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def integer(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def pick(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]

    def weighted(self, options: Sequence[T], weights: Sequence[int]) -> T:
        return self.rng.choices(options, weights=weights)[0]

    def blob(self, size: int) -> bytes:
        return self.rng.randbytes(size)


class _HypothesisSource:
    def __init__(self, draw: Callable[[SearchStrategy[Any]], Any]) -> None:
        from hypothesis import strategies as st  # noqa: PLC0415 (hypothesis is a dev extra)

        self.draw = draw
        self.st = st

    def integer(self, low: int, high: int) -> int:
        value: int = self.draw(self.st.integers(low, high))
        return value

    def pick(self, options: Sequence[T]) -> T:
        value: T = self.draw(self.st.sampled_from(options))
        return value

    def weighted(self, options: Sequence[T], weights: Sequence[int]) -> T:
        # hypothesis shrinks towards the first option; weights only matter for the seeded loop.
        return self.pick(options)

    def blob(self, size: int) -> bytes:
        value: bytes = self.draw(self.st.binary(min_size=size, max_size=size))
        return value


# ---------------------------------------------------------------- the pool under fuzz


@dataclass
class FuzzWorld:
    """A pool in its reporting phase, built once; every episode starts from a fork of it.

    Members: ``member`` (bound and verified, reported for epoch 1) and ``member2`` (registered,
    not verified); income paid in; epoch 1 closed and awaiting the rest of its reports.
    """

    base: PoolSandbox
    wallets: dict[str, str]
    """Sender role -> wallet name on the chain."""
    addresses: dict[str, Address]
    """Every role's address: wallets, pool contracts and the members' contracts."""

    @classmethod
    def build(cls) -> FuzzWorld:
        sb = PoolSandbox.create()
        member = sb.add_member("fuzz-member")
        member2 = sb.add_member("fuzz-member-2", verify=False)
        stranger = sb.wallet("fuzz-stranger")
        sb.pool.send_income(sb.proxy, ton(50)).assert_success()
        sb.close_epoch()
        sb.report(member, 1, MemberMetrics(600_000, 1_000, 9_900, 0)).assert_success()
        pool = sb.pool
        wallets = {
            "stranger": stranger.name,
            "admin": sb.admin.name,
            "pauser": sb.pauser.name,
            "member": member.name,
            "member2": member2.name,
            "keeper": sb.keeper.name,
            "proxy": sb.proxy.name,
        }
        addresses = {role: sb.chain.wallets[name].address for role, name in wallets.items()}
        addresses |= {
            "operator": pool.operator,
            "registry": pool.registry,
            "distribution": pool.distribution,
            "participant": pool.participant_address(member.address),
            "participant2": pool.participant_address(member2.address),
        }
        return cls(base=sb, wallets=wallets, addresses=addresses)


# ---------------------------------------------------------------- messages


@dataclass(frozen=True)
class FuzzMessage:
    """One generated message, ready to send."""

    target: str
    sender: str
    kind: str
    op_class: str
    """The message struct it was built from, or the body kind for bodies that have none."""
    body: Cell | None = field(repr=False)
    value: int
    bounce: bool
    bounced: bool = False
    via_wallet: bool = False
    """Sent by the sender's wallet contract (a real external + internal); otherwise injected
    as an internal message from the sender's address (value minted)."""
    advance: int = 0
    """Seconds the clock moves on before the message is sent."""
    original: str = ""
    """For a bounce: the struct of the message it claims to return."""

    @property
    def synthetic(self) -> bool:
        """Not something anyone can send on a real chain: a pool contract's spoofed message or
        a bounce that no contract caused."""
        return self.bounced or self.sender in CONTRACT_SENDERS

    def describe(self) -> str:
        how = "wallet" if self.via_wallet else "injected"
        flags = ("bounce" if self.bounce else "no-bounce") + (", bounced" if self.bounced else "")
        body = "-" if self.body is None else base64.b64encode(self.body.to_boc()).decode()
        what = f"{self.op_class} of {self.original}" if self.original else self.op_class
        return (
            f"{self.kind} {what} -> {self.target} from {self.sender} ({how}), "
            f"value {self.value}, {flags}, advance {self.advance}s, body {body}"
        )


class MessageGenerator:
    """Builds :class:`FuzzMessage` values for a world from any :class:`Source`."""

    def __init__(self, world: FuzzWorld) -> None:
        self.world = world
        self.classes = m.top_level_messages()
        self.prefixes = known_prefixes()
        fees = fee_values()
        self.fees = fees
        base_values = {0, 1}
        for amount in fees.values():
            base_values |= {amount - 1, amount, amount + 1}
        self.values = tuple(sorted(v for v in base_values if v >= 0))
        params = world.base.params
        self.params = params
        self.epoch_length = params.epoch_length
        codes = pool_codes()
        self.codes = {
            m.UPGRADE_POOL: operator_code(),
            m.UPGRADE_REGISTRY: codes.registry_code,
            m.UPGRADE_DISTRIBUTION: codes.distribution_code,
        }
        self.address_roles = tuple(world.addresses)
        self.global_id = world.base.chain.global_id

    # -- scalars --------------------------------------------------------------------------

    def coins(self, src: Source, huge: int = ton(100_000)) -> int:
        choice = src.integer(0, 9)
        if choice <= 5:
            return src.pick(self.values)
        if choice <= 7:
            return src.integer(0, ton(20))
        if choice == 8:
            return src.integer(ton(20), huge)
        return src.pick((huge, (1 << 120) - 1))

    def value(self, src: Source, cls: type[TlbStruct] | None, minted: bool) -> int:
        """What the message carries: 0, 1 nanoton, around each fee, random or huge."""
        if cls is m.RegisterParticipant and src.integer(0, 2) == 0:
            exact = self.params.min_stake + self.fees["PARTICIPANT_STORAGE_RESERVE"]
            return exact + self.fees["REGISTER_FEE"] + src.integer(-2, 1)
        if cls is m.SubmitReport and src.integer(0, 2) == 0:
            # Around what a batch of one or two reports must carry (checked at both ends).
            return report_value(src.integer(1, 2)) + src.integer(-2, 1)
        # Wallets hold 1,000,000 TON; injected messages mint their value.
        huge = ton(10**9) if minted else ton(100_000)
        value = self.coins(src, huge)
        return min(value, huge)

    def address(self, src: Source, optional: bool) -> Address | None:
        choice = src.integer(0, 9)
        if optional and choice == 0:
            return None
        if choice == 1:
            return Address((0, src.blob(32)))
        return self.world.addresses[src.pick(self.address_roles)]

    def uint(self, src: Source, bits: int, name: str) -> int:
        top = (1 << bits) - 1
        if any(hint in name for hint in _EPOCH_LIKE) and src.integer(0, 2) > 0:
            return src.integer(0, 4)
        if any(hint in name for hint in _BPS_LIKE) and src.integer(0, 1) == 0:
            return src.integer(0, min(top, 20_000))
        if name in ("action", "target", "quorum", "oracle_quorum", "key_index", "mode"):
            return src.integer(0, min(top, 4))
        choice = src.integer(0, 5)
        if choice == 0:
            return 0
        if choice == 1:
            return top
        if choice == 2:
            return src.integer(0, min(top, 1_000))
        return src.integer(0, top)

    def cell(self, src: Source, max_bits: int = 300, depth: int = 1) -> Cell:
        bits = src.integer(0, max_bits)
        b = begin_cell()
        data = src.blob((bits + 7) // 8)
        if bits:
            b.store_uint(int.from_bytes(data, "big") >> (len(data) * 8 - bits), bits)
        if depth > 0:
            for _ in range(src.integer(0, 2)):
                b.store_ref(self.cell(src, max_bits, depth - 1))
        return b.end_cell()

    # -- fields and structs ----------------------------------------------------------------

    def raw_cell(self, src: Source, kind: RawCell, name: str, owner: type[TlbStruct]) -> Any:
        if kind.optional and src.integer(0, 4) == 0:
            return None
        if name in ("keys", "oracle_keys"):
            count = src.integer(1, 3)
            return m.oracle_keys_cell([int.from_bytes(src.blob(32), "big") for _ in range(count)])
        if name == "change":
            change = self.struct(src, src.pick(m.PARAMETER_CHANGES))
            return change.to_cell()
        if name == "body" and owner is m.CocoonOwnerWalletSendMessage:
            return self.struct(src, m.NodeWalletTransfer).to_cell()
        return self.cell(src)

    def field_value(self, src: Source, kind: FieldType, name: str, owner: type[TlbStruct]) -> Any:
        if isinstance(kind, Uint):
            return self.uint(src, kind.bits, name)
        if isinstance(kind, Int):
            if name == "global_id" and src.integer(0, 2) > 0:
                return self.global_id
            return src.integer(-(1 << (kind.bits - 1)), (1 << (kind.bits - 1)) - 1)
        if isinstance(kind, Bool):
            return src.integer(0, 1) == 1
        if isinstance(kind, Coins):
            return self.coins(src)
        if isinstance(kind, Addr):
            return self.address(src, kind.optional)
        if isinstance(kind, Bits):
            return src.blob(kind.bits // 8)
        if isinstance(kind, RawCell):
            return self.raw_cell(src, kind, name, owner)
        if isinstance(kind, Ref):
            if kind.optional and src.integer(0, 3) == 0:
                return None
            return self.struct(src, kind.struct)
        if isinstance(kind, Nested | InlineOrRef):
            return self.struct(src, kind.struct)
        if isinstance(kind, Inline):
            return None if src.integer(0, 1) == 0 else self.struct(src, kind.struct)
        raise CocoonPoolError(
            f"no generator for field type {type(kind).__name__}",
            hint="teach cocoon_pool.fuzz.MessageGenerator.field_value the new codec type",
        )

    def struct(self, src: Source, cls: type[TlbStruct]) -> TlbStruct:
        values = {
            f.name: self.field_value(src, f.metadata["tl"], f.name, cls)
            for f in dataclasses.fields(cls)
        }
        if cls is m.UpgradeContract:
            # Upgrading a contract to code that is not its own bricks the pool by the admin's
            # own hand, which no invariant forbids: an upgrade carries the target's real code.
            target = values["target"]
            if target in self.codes:
                values["code"] = self.codes[target]
        return cls(**values)

    def encode(self, src: Source, cls: type[TlbStruct]) -> Cell:
        """A random instance of ``cls`` as a cell. Extreme values can overflow a cell (a few
        structs exceed 1,023 bits with 120-bit amounts and three addresses, which the
        contracts never send): those are drawn again."""
        for _ in range(8):
            try:
                return self.struct(src, cls).to_cell()
            except Exception:  # the cell library's overflow error is not a CocoonPoolError
                continue
        return self._small(cls)

    def _small(self, cls: type[TlbStruct]) -> Cell:
        """``cls`` with every field at a small fixed value (the last resort of :meth:`encode`)."""
        fixed = RandomSource(random.Random(0))
        values = {}
        for f in dataclasses.fields(cls):
            kind = f.metadata["tl"]
            values[f.name] = (
                0 if isinstance(kind, Coins) else self.field_value(fixed, kind, f.name, cls)
            )
        return cls(**values).to_cell()

    # -- bodies ---------------------------------------------------------------------------

    def signed_report(self, src: Source) -> m.SubmitReport:
        """A report the oracle really signed; sometimes a batch of two (the second member's
        signed report chained in ``next``), sometimes with a ``next`` that is no report."""
        query_id = src.integer(0, 1 << 20)
        head = self._one_signed_report(src)
        shape = src.integer(0, 5)
        if shape <= 1:
            # A relayer batches one epoch's reports: mostly the head's epoch again.
            epoch = head.report.epoch if src.integer(0, 3) > 0 else None
            return batch_message([head, self._one_signed_report(src, epoch)], query_id)
        if shape == 2:
            return dataclasses.replace(head, query_id=query_id, next=self.cell(src))
        return dataclasses.replace(head, query_id=query_id)

    def _one_signed_report(self, src: Source, epoch: int | None = None) -> m.SubmitReport:
        member = self.world.addresses[src.pick(("member", "member2", "stranger"))]
        if epoch is None:
            epoch = src.pick((1, 1, 1, 0, 2, src.integer(0, (1 << 32) - 1)))
        metrics = MemberMetrics(
            src.integer(0, self.epoch_length),
            src.integer(0, 100_000),
            src.integer(0, 10_000),
            src.integer(0, 50),
        )
        report = build_report(
            self.world.addresses["distribution"], epoch, member, metrics, self.global_id
        )
        return quorum_message(report, [(0, self.world.base.signer)])

    def mutate_truncate(self, src: Source, cell: Cell) -> Cell:
        s = cell.begin_parse()
        bits, refs = s.remaining_bits, s.remaining_refs
        keep_bits = src.integer(0, max(bits - 1, 0))
        keep_refs = src.integer(0, refs)
        b = begin_cell()
        if keep_bits:
            b.store_uint(s.load_uint(keep_bits), keep_bits)
        for i in range(keep_refs):
            b.store_ref(cell.refs[i])
        return b.end_cell()

    def mutate_extend(self, src: Source, cell: Cell) -> Cell:
        s = cell.begin_parse()
        b = begin_cell().store_slice(s)
        room = _CELL_BITS - len(cell.bits)
        extra = src.integer(1, min(room, 256)) if room > 0 else 0
        if extra:
            b.store_uint(src.integer(0, (1 << extra) - 1), extra)
        for _ in range(src.integer(0 if extra else 1, 4 - len(cell.refs))):
            b.store_ref(self.cell(src, 64, 0))
        return b.end_cell()

    def unknown_op(self, src: Source) -> int:
        while True:
            op = src.integer(1, (1 << 32) - 1)
            if op not in self.prefixes and op not in (m.PLAIN_BOUNCE_PREFIX, m.RICH_BOUNCE_PREFIX):
                return op

    def body(self, src: Source, kind: str) -> tuple[str, Cell | None, type[TlbStruct] | None]:
        """(op class label, body, message class) for a body kind."""
        if kind == "empty":
            return "empty", None, None
        if kind == "short":
            bits = src.integer(1, 31)
            return (
                "short",
                begin_cell().store_uint(src.integer(0, (1 << bits) - 1), bits).end_cell(),
                None,
            )
        if kind == "comment":
            text = src.blob(src.integer(0, 40)).hex()
            return (
                "comment",
                begin_cell().store_uint(0, 32).store_snake_string(text).end_cell(),
                None,
            )
        if kind == "wrong-op":
            b = begin_cell().store_uint(self.unknown_op(src), 32)
            tail = src.integer(0, 200)
            if tail:
                b.store_uint(src.integer(0, (1 << tail) - 1), tail)
            if src.integer(0, 1):
                b.store_ref(self.cell(src))
            return "wrong-op", b.end_cell(), None
        if kind == "signed-report":
            return "SubmitReport(signed)", self.signed_report(src).to_cell(), m.SubmitReport
        cls = src.pick(self.classes)
        cell = self.encode(src, cls)
        if kind == "truncated":
            cell = self.mutate_truncate(src, cell)
        elif kind == "oversized":
            cell = self.mutate_extend(src, cell)
        return cls.__name__, cell, cls

    def bounced_body(self, src: Source) -> tuple[str, Cell]:
        """A bounce as the TVM would deliver it: plain (0xFFFFFFFF + 256 bits of the original)
        or Tolk's rich bounce (the original root cell, its value, phase and exit code)."""
        cls = src.pick(self.classes)
        original = self.encode(src, cls)
        s = original.begin_parse()
        if src.integer(0, 2) == 0:
            keep = min(256, s.remaining_bits)
            b = begin_cell().store_uint(m.PLAIN_BOUNCE_PREFIX, 32)
            if keep:
                b.store_uint(s.load_uint(keep), keep)
            return cls.__name__, b.end_cell()
        root_only = begin_cell().store_bits(original.bits)
        info = (
            begin_cell()
            .store_coins(self.coins(src))
            .store_bit(0)
            .store_uint(src.integer(0, 1 << 40), 64)
            .store_uint(src.integer(0, (1 << 32) - 1), 32)
            .end_cell()
        )
        b = (
            begin_cell()
            .store_uint(m.RICH_BOUNCE_PREFIX, 32)
            .store_ref(root_only.end_cell())
            .store_ref(info)
            .store_uint(src.integer(0, 4), 8)
            .store_int(src.integer(-(1 << 31), (1 << 31) - 1), 32)
        )
        if src.integer(0, 1):
            b.store_bit(1).store_uint(src.integer(0, 100_000), 32).store_uint(
                src.integer(0, 5_000), 32
            )
        else:
            b.store_bit(0)
        return cls.__name__, b.end_cell()

    def advance(self, src: Source) -> int:
        choice = src.integer(0, 19)
        if choice >= 4:
            return 0
        return src.pick(
            (
                1,
                3_600,
                self.params.report_grace + 1,
                self.params.timelock_seconds + 1,
                self.params.epoch_length,
                self.params.unbonding_seconds + 1,
            )
        )

    def message(self, src: Source, target: str | None = None, stateful: bool = True) -> FuzzMessage:
        fixed_target = target is not None
        target = target or src.pick(TARGETS)
        sender = src.weighted(
            (*WALLET_SENDERS, *CONTRACT_SENDERS), (25, 14, 7, 15, 5, 8, 6, 5, 5, 5, 5)
        )
        is_wallet = sender in WALLET_SENDERS
        via_wallet = is_wallet and src.integer(0, 3) == 0
        bounced = not via_wallet and src.integer(0, 9) == 0
        bounce = src.integer(0, 3) > 0
        original = ""
        body: Cell | None
        if bounced:
            original, body = self.bounced_body(src)
            kind, op_class, cls = "bounced", "(bounced)", None
            bounce = False
        else:
            kind = src.weighted(BODY_KINDS, _KIND_WEIGHTS)
            op_class, body, cls = self.body(src, kind)
            if kind == "signed-report" and not fixed_target and src.integer(0, 3) > 0:
                # A signed report only means something to the distribution.
                target = "distribution"
        value = self.value(src, cls, minted=not via_wallet)
        return FuzzMessage(
            target=target,
            sender=sender,
            kind=kind,
            op_class=op_class,
            body=body,
            value=value,
            bounce=bounce,
            bounced=bounced,
            via_wallet=via_wallet,
            advance=self.advance(src) if stateful else 0,
            original=original,
        )


def message_strategy(
    world: FuzzWorld, target: str | None = None, stateful: bool = True
) -> SearchStrategy[FuzzMessage]:
    """Hypothesis strategy of fuzz messages (to ``target``, or any contract)."""
    from hypothesis import strategies as st  # noqa: PLC0415 (hypothesis is a dev extra)

    generator = MessageGenerator(world)

    @st.composite
    def build(draw: st.DrawFn) -> FuzzMessage:
        return generator.message(_HypothesisSource(draw), target, stateful)

    strategy: SearchStrategy[FuzzMessage] = build()
    return strategy


# ---------------------------------------------------------------- running and checking


def _boc_content_key(boc: bytes) -> bytes | None:
    """The part of a ShardAccount BOC that a refused transaction must leave as it was: the
    Account cell's reference list and every cell after it (the code and data trees). Only the
    first two cells (ShardAccount and Account: balance, logical time, storage statistics)
    change on a refused transaction. None if the BOC is not laid out that way."""
    if len(boc) < 6 or boc[:4] != bytes.fromhex("b5ee9c72"):
        return None
    flags = boc[4]
    has_idx, size, off = flags & 0x80, flags & 0x07, boc[5]
    pos = 6
    cells = int.from_bytes(boc[pos : pos + size], "big")
    roots = int.from_bytes(boc[pos + size : pos + 2 * size], "big")
    pos += 3 * size  # cells, roots, absent
    total = int.from_bytes(boc[pos : pos + off], "big")
    pos += off + roots * size + (cells * off if has_idx else 0)
    end = pos + total
    refs_at = pos
    for _ in range(2):
        if pos + 2 > end:
            return None
        d1, d2 = boc[pos], boc[pos + 1]
        if d1 & 0x08 or d1 >> 5:  # exotic or with levels: not an account's top cells
            return None
        refs_at = pos + 2 + (d2 + 1) // 2
        pos = refs_at + (d1 & 0x07) * size
    return boc[refs_at:end]


def _content_hashes(shard_account: str) -> tuple[bytes, ...]:
    """Hashes of the account's code and data (the references of its Account cell)."""
    root = Cell.one_from_boc(base64.b64decode(shard_account))
    if not root.refs:
        return ()
    return tuple(ref.hash for ref in root.refs[0].refs)


def same_content(before: str, after: str) -> bool:
    """Whether two ShardAccount BOCs (base64) hold the same code and data."""
    if before == after:
        return True
    key = _boc_content_key(base64.b64decode(before))
    if key is not None and key == _boc_content_key(base64.b64decode(after)):
        return True
    # Different bytes can still be the same trees in another cell order: compare hashes.
    return _content_hashes(before) == _content_hashes(after)


def trace_fees(trace: Trace) -> int:
    """Every nanoton the trace burned: transaction fees and forward fees in transit."""
    return sum(tx.total_fees for tx in trace) + sum(
        out.fwd_fee for tx in trace for out in tx.internal_out
    )


def refused(tx: Transaction) -> bool:
    """Non-zero exit, skipped compute, failed action phase, or bounced."""
    return not tx.success or tx.bounced


INVARIANTS = (
    "value",
    "refused-state",
    "refused-balance",
    "refused-bounce",
    "conservation",
    "runaway",
)


@dataclass(frozen=True)
class Violation:
    invariant: str
    message: FuzzMessage
    detail: str
    index: int
    """The message's position in the run (with the seed, enough to replay it)."""

    @property
    def informational(self) -> bool:
        """A conservation difference after a synthetic message. The equation counts a bounce
        to RewardDistribution as its own message coming back, never as income, which holds
        for every bounce the chain can deliver; a made-up bounce (or a spoofed message from
        the distribution whose bounce returns to it) that the distribution refuses leaves its
        value on the balance uncounted. Reported, never a failure."""
        return self.message.synthetic and self.invariant == "conservation"

    def as_dict(self) -> dict[str, Any]:
        msg = self.message
        return {
            "invariant": self.invariant,
            "index": self.index,
            "target": msg.target,
            "sender": msg.sender,
            "kind": msg.kind,
            "op_class": msg.op_class,
            "value": msg.value,
            "bounce": msg.bounce,
            "bounced": msg.bounced,
            "synthetic": msg.synthetic,
            "detail": self.detail,
            "message": msg.describe(),
        }


NOTE_EXAMPLES = 5
"""Informational findings kept in full per (invariant, contract); the rest are counted."""


@dataclass
class FuzzReport:
    messages: int = 0
    transactions: int = 0
    seconds: float = 0.0
    episodes: int = 0
    by_op: Counter[tuple[str, str]] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    by_sender: Counter[str] = field(default_factory=Counter)
    accepted: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    synthetic: int = 0
    conservation_checks: int = 0
    refusals_checked: int = 0
    violations: list[Violation] = field(default_factory=list)
    """Invariant breaks (every one kept)."""
    notes: Counter[str] = field(default_factory=Counter)
    note_examples: list[Violation] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    def record(self, found: Iterable[Violation]) -> None:
        for violation in found:
            if not violation.informational:
                self.violations.append(violation)
                continue
            key = f"{violation.invariant} after synthetic messages to {violation.message.target}"
            self.notes[key] += 1
            if self.notes[key] <= NOTE_EXAMPLES:
                self.note_examples.append(violation)

    def as_dict(self) -> dict[str, Any]:
        by_contract: dict[str, dict[str, int]] = {}
        for (target, op), count in sorted(self.by_op.items()):
            by_contract.setdefault(target, {})[op] = count
        return {
            "messages": self.messages,
            "transactions": self.transactions,
            "episodes": self.episodes,
            "seconds": round(self.seconds, 3),
            "messages_per_second": round(self.rate, 2),
            "synthetic_messages": self.synthetic,
            "conservation_checks": self.conservation_checks,
            "refused_transactions_checked": self.refusals_checked,
            "by_kind": dict(sorted(self.by_kind.items())),
            "by_sender": dict(sorted(self.by_sender.items())),
            "accepted": dict(sorted(self.accepted.items())),
            "refused": dict(sorted(self.refused.items())),
            "by_contract": by_contract,
            "invariant_breaks": len(self.violations),
            "violations": [v.as_dict() for v in self.violations],
            "informational": dict(sorted(self.notes.items())),
            "informational_examples": [v.as_dict() for v in self.note_examples],
        }


@dataclass
class Episode:
    """A fork of the world and what the engine knows of it: the ShardAccount BOC of every
    non-wallet account as of the last trace that touched it."""

    sandbox: PoolSandbox
    contents: dict[str, str]

    def fork(self) -> Episode:
        return Episode(self.sandbox.fork(), dict(self.contents))


class FuzzEngine:
    """Sends fuzz messages to a :class:`FuzzWorld`'s pool and checks every invariant."""

    def __init__(self, world: FuzzWorld, report: FuzzReport | None = None) -> None:
        self.world = world
        self.report = report or FuzzReport()
        self.generator = MessageGenerator(world)
        self._distribution_raw = raw_address(world.addresses["distribution"])
        self._wallet_raws = frozenset(raw_address(world.addresses[role]) for role in WALLET_SENDERS)
        contracts = ("operator", "registry", "distribution", "participant", "participant2")
        chain = world.base.chain
        self._base_contents: dict[str, str] = {}
        for role in contracts:
            raw = raw_address(world.addresses[role])
            boc = chain.shard_account(raw)
            if boc is not None:
                self._base_contents[raw] = boc

    def episode(self) -> Episode:
        """A fresh fork of the world."""
        self.report.episodes += 1
        return Episode(self.world.base.fork(), dict(self._base_contents))

    # -- one message ----------------------------------------------------------------------

    def _send(self, sb: PoolSandbox, msg: FuzzMessage) -> tuple[Trace, int]:
        dest = self.world.addresses[msg.target]
        if msg.via_wallet:
            wallet = sb.chain.wallets[self.world.wallets[msg.sender]]
            return wallet.send(dest, msg.value, msg.body, bounce=msg.bounce), 0
        src = self.world.addresses[msg.sender]
        trace = sb.chain.send_internal(
            src, dest, msg.value, msg.body, bounce=msg.bounce, bounced=msg.bounced
        )
        return trace, msg.value

    def send(self, episode: Episode, msg: FuzzMessage) -> list[Violation]:
        """Send one message into the episode (a synthetic one into a throw-away fork of it)
        and check it. Returns the invariant breaks it caused (informational ones included)."""
        report = self.report
        index = report.messages
        report.messages += 1
        report.by_op[(msg.target, msg.op_class)] += 1
        report.by_kind[msg.kind] += 1
        report.by_sender[msg.sender] += 1
        if msg.advance:
            episode.sandbox.chain.advance(msg.advance)
        if msg.synthetic:
            report.synthetic += 1
            episode = episode.fork()
        sb, chain = episode.sandbox, episode.sandbox.chain
        found: list[Violation] = []

        def broke(invariant: str, detail: str) -> None:
            found.append(Violation(invariant, msg, detail, index))

        balances = {raw: chain.get_balance(raw) for raw in chain.accounts}
        try:
            trace, minted = self._send(sb, msg)
        except ChainError as exc:
            broke("runaway", str(exc))
            report.record(found)
            return found
        report.transactions += len(trace)
        target_raw = raw_address(self.world.addresses[msg.target])
        first = next((tx for tx in trace if tx.address_raw == target_raw), None)
        outcome = report.accepted if first is not None and first.success else report.refused
        outcome[msg.target] += 1

        touched = {tx.address_raw for tx in trace}
        delta = sum(chain.get_balance(raw) - balances.get(raw, 0) for raw in touched)
        burned = trace_fees(trace)
        if delta != minted - burned:
            broke(
                "value",
                f"balances moved by {delta}, expected {minted} injected - {burned} fees "
                f"= {minted - burned}\n{trace.describe()}",
            )
        current = dict(balances)
        for tx in trace:
            before = current.get(tx.address_raw, 0)
            current[tx.address_raw] = tx.balance_after
            if refused(tx):
                report.refusals_checked += 1
                for invariant, detail in self._check_refused(tx, before):
                    broke(invariant, f"{detail}\n{trace.describe()}")
        for invariant, detail in self._check_contents(episode, trace):
            broke(invariant, f"{detail}\n{trace.describe()}")
        if self._distribution_raw in touched:
            # The equation's inputs are the distribution's state and its transactions: a
            # trace that never reached it cannot change either side.
            report.conservation_checks += 1
            try:
                result = sb.conservation()
            except CocoonPoolError as exc:
                broke("conservation", f"could not read the ledger: {exc}")
            else:
                if not result.conserved:
                    broke(
                        "conservation",
                        f"received - accounted = {result.received - result.accounted}: "
                        f"{result}\n{trace.describe()}",
                    )
        report.record(found)
        return found

    def _check_contents(self, episode: Episode, trace: Trace) -> Iterable[tuple[str, str]]:
        """Code and data of every contract whose transactions in this trace were all refused
        are as the last trace left them; then remember every touched contract's state."""
        by_account: dict[str, list[Transaction]] = {}
        for tx in trace:
            if tx.address_raw not in self._wallet_raws:
                by_account.setdefault(tx.address_raw, []).append(tx)
        chain = episode.sandbox.chain
        for raw, txs in by_account.items():
            after = chain.shard_account(raw)
            before = episode.contents.get(raw)
            checked = before is not None and after is not None and all(map(refused, txs))
            if checked and not same_content(before or "", after or ""):
                yield "refused-state", f"{txs[0].describe()}: code or data changed"
            if after is None:
                episode.contents.pop(raw, None)
            else:
                episode.contents[raw] = after

    @staticmethod
    def _check_refused(tx: Transaction, before: int) -> Iterable[tuple[str, str]]:
        where = tx.describe()
        msg = tx.in_message
        if msg is None or msg.kind != "internal":
            return
        bounces = [out for out in tx.internal_out if out.bounced]
        kept_fees = tx.total_fees - tx.storage_fees
        if tx.bounced and bounces:
            (bounce,) = bounces
            if len(tx.internal_out) != 1:
                yield "refused-bounce", f"{where}: the bounce is not the only message out"
            if msg.src is None or bounce.dest_raw != raw_address(msg.src):
                yield "refused-bounce", f"{where}: bounced to {bounce.dest_raw}, not the sender"
            expected = msg.value - kept_fees - bounce.fwd_fee
            if bounce.value != expected:
                yield (
                    "refused-bounce",
                    f"{where}: bounced {bounce.value}, expected value - fees = {expected}",
                )
            if tx.orig_status == "active" and tx.balance_after != before - tx.storage_fees:
                yield (
                    "refused-balance",
                    f"{where}: balance {before} -> {tx.balance_after}, expected minus "
                    f"storage {tx.storage_fees}",
                )
            return
        if tx.internal_out:
            yield "refused-balance", f"{where}: a refused transaction sent messages"
        if msg.bounce and not msg.bounced and msg.value - kept_fees >= BOUNCE_FEE_ALLOWANCE:
            yield (
                "refused-bounce",
                f"{where}: {msg.value} nanoton refused but not bounced (fees {kept_fees})",
            )

    # -- loops ----------------------------------------------------------------------------

    def run_sequence(self, messages: Sequence[FuzzMessage]) -> list[Violation]:
        """One episode: the messages in order on a fresh fork of the world."""
        episode = self.episode()
        found: list[Violation] = []
        for msg in messages:
            broke = self.send(episode, msg)
            found.extend(broke)
            if any(v.invariant == "runaway" for v in broke):
                break
        return found

    def run(
        self,
        count: int,
        *,
        seed: int = 1,
        episode_length: int = 25,
        max_seconds: float | None = None,
        progress: Callable[[FuzzReport], None] | None = None,
        progress_every: int = 1_000,
    ) -> FuzzReport:
        """The plain seeded loop: ``count`` messages in episodes of ``episode_length`` on fresh
        forks of the world (state carries over within an episode)."""
        src = RandomSource(random.Random(seed))
        report = self.report
        start = time.monotonic()
        target_count = report.messages + count
        next_progress = report.messages + progress_every
        try:
            while report.messages < target_count:
                if max_seconds is not None and time.monotonic() - start >= max_seconds:
                    break
                length = min(episode_length, target_count - report.messages)
                self.run_sequence([self.generator.message(src) for _ in range(length)])
                report.seconds = time.monotonic() - start
                if progress is not None and report.messages >= next_progress:
                    progress(report)
                    next_progress = report.messages + progress_every
        finally:
            report.seconds = time.monotonic() - start
        return report


def merge_reports(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One report from the :meth:`FuzzReport.as_dict` of runs made side by side: counts add
    up, the rate is all messages over the longest run's time, message indices stay per run
    (with ``worker``, the part's position)."""
    sums = (
        "messages",
        "transactions",
        "episodes",
        "synthetic_messages",
        "conservation_checks",
        "refused_transactions_checked",
        "invariant_breaks",
    )
    merged: dict[str, Any] = {key: sum(p[key] for p in parts) for key in sums}
    seconds = max((p["seconds"] for p in parts), default=0.0)
    merged["seconds"] = seconds
    merged["messages_per_second"] = round(merged["messages"] / seconds, 2) if seconds else 0.0
    for key in ("by_kind", "by_sender", "accepted", "refused", "informational"):
        total: Counter[str] = Counter()
        for p in parts:
            total.update(p[key])
        merged[key] = dict(sorted(total.items()))
    by_contract: dict[str, Counter[str]] = {}
    for p in parts:
        for target, ops in p["by_contract"].items():
            by_contract.setdefault(target, Counter()).update(ops)
    merged["by_contract"] = {t: dict(sorted(c.items())) for t, c in sorted(by_contract.items())}
    for key in ("violations", "informational_examples"):
        merged[key] = [{**v, "worker": i} for i, p in enumerate(parts) for v in p[key]]
    return merged
