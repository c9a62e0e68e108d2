"""A whole pool of N members on the embedded chain, as fast as the chain goes (issue 10, Scale).

Every member registers, binds its worker and is verified; then each epoch takes Cocoon
income, closes, takes one signed report per member, finalizes and pays every member with the
crank; each payout is checked against the reference model. The messages go to the Node
helper in batches (one request runs hundreds of traces, and Python builds the next batch
while the helper runs this one), transactions come back as summaries, and the chain keeps
only the distribution's history, which the income tracker drains after every batch.

The conservation equation is checked at the end of every phase and, with ``check_every=k``,
after every k-th batch. Gas is recorded for every trace of every operation (minimum and
maximum, wallets excluded) and compared with the same run at N = 10: they must be equal.
"""

from __future__ import annotations

import atexit
import resource
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from cocoon_pool import economics as econ
from cocoon_pool.chain.emulator import EmulatedChain, Wallet
from cocoon_pool.chain.node import OPTIMIZED_WASM, NodeBridge
from cocoon_pool.chain.types import Trace, raw_address
from cocoon_pool.contracts.constants import ton
from cocoon_pool.contracts.events import EpochClosed, EpochFinalized, RewardSettled, trace_events
from cocoon_pool.contracts.pool import VERIFY_BATCH, PoolParams
from cocoon_pool.contracts.reports import OracleSigner, cheap_batch_size
from cocoon_pool.errors import TransactionFailed, UsageError
from cocoon_pool.sandbox import WALLET_FUNDS, PoolSandbox

MAX_PARTICIPANTS = 1_000_000
SMALL_POOL = 10
DEFAULT_BATCH = 250
# The crowd cycles through every tier (bonus, minor and major penalty, outages), so both pool
# sizes take the same branches.
UPTIMES = (9_900, 9_000, 7_000, 9_800, 8_500)
INCOME_KINDS = ("payout", "payout", "excesses")
# Replayed through the raw executor after every batch (so both see the same machine load):
# one transaction in RAW_SAMPLE_EVERY.
RAW_SAMPLE_EVERY = 50

ProgressCallback = Callable[[str, int, int], None]
"""(phase, done, total) after every batch."""


@dataclass(frozen=True)
class ScaleConfig:
    participants: int
    epochs: int = 1
    batch: int = DEFAULT_BATCH
    """Members per request to the Node helper."""
    check_every: int = 0
    """Check conservation after every k-th batch too (0: at the end of each phase only)."""
    plain_wallets: bool = True
    """Wallets as plain accounts (EmulatedChain.use_plain_wallets): no wallet transactions;
    False runs every wallet's code, as the tests do."""

    def validate(self) -> None:
        if not 1 <= self.participants <= MAX_PARTICIPANTS:
            raise UsageError(
                f"--participants must be between 1 and {MAX_PARTICIPANTS:,}",
                hint="the pool's per-member cost does not depend on N; 100,000 is the target",
            )
        if not 1 <= self.epochs <= 52:
            raise UsageError("--epochs must be between 1 and 52", hint="1 is a full cycle")
        if not 1 <= self.batch <= 10_000:
            raise UsageError("--batch must be between 1 and 10,000", hint="the default is fine")
        if self.check_every < 0:
            raise UsageError("--check-every must be >= 0", hint="0 checks at phase ends only")


@dataclass
class GasRange:
    low: int
    high: int

    def add(self, gas: int) -> None:
        self.low = min(self.low, gas)
        self.high = max(self.high, gas)

    def as_list(self) -> list[int]:
        return [self.low, self.high]


@dataclass(frozen=True)
class Phase:
    name: str
    operations: int
    transactions: int
    seconds: float

    @property
    def tx_per_second(self) -> float:
        return self.transactions / self.seconds if self.seconds else 0.0


@dataclass
class ScaleResult:
    config: ScaleConfig
    wall_seconds: float
    transactions: int
    phases: list[Phase]
    gas: dict[str, GasRange]
    counters: dict[str, int]
    conservation_checks: int
    conserved: bool
    reference_match: bool
    mismatches: list[str]
    python_peak_rss: int
    node_peak_rss: int
    node_emulate_seconds: float
    node_handler_seconds: float
    raw_executor_tps: float
    raw_executor_cpu_tps: float
    raw_default_tps: float
    """The raw executor with sandbox's default (full) config, as its Blockchain runs."""
    raw_default_cpu_tps: float
    """The raw executor's transactions per CPU second of the helper."""
    node_handler_cpu_seconds: float
    node_cpu_seconds: float
    python_cpu_seconds: float
    raw_sampled: int
    replay_seconds: float
    """Spent timing the raw executor between batches: in the wall time, not in the phases."""
    small_gas: dict[str, GasRange] = field(default_factory=dict)

    @property
    def chain_seconds(self) -> float:
        return sum(p.seconds for p in self.phases)

    @property
    def tx_per_second(self) -> float:
        """End to end: every transaction over the wall time of the chain phases."""
        return self.transactions / self.chain_seconds if self.chain_seconds else 0.0

    @property
    def node_tx_per_second(self) -> float:
        """Inside the helper: transactions over the time its trace handler ran."""
        return self.transactions / self.node_handler_seconds if self.node_handler_seconds else 0.0

    @property
    def node_cpu_tx_per_second(self) -> float:
        """Transactions per CPU second of the helper's trace handler: what one idle core
        would run, whatever else the machine is doing."""
        cpu = self.node_handler_cpu_seconds
        return self.transactions / cpu if cpu else 0.0

    @property
    def raw_cpu_ratio(self) -> float:
        """The chain against the raw executor in CPU time (load-independent)."""
        raw = self.raw_executor_cpu_tps
        return self.node_cpu_tx_per_second / raw if raw else 0.0

    @property
    def raw_ratio(self) -> float:
        return self.tx_per_second / self.raw_executor_tps if self.raw_executor_tps else 0.0

    @property
    def gas_equal(self) -> bool:
        return {k: v.as_list() for k, v in self.gas.items()} == {
            k: v.as_list() for k, v in self.small_gas.items()
        }

    @property
    def ok(self) -> bool:
        return self.conserved and self.reference_match and (self.gas_equal or not self.small_gas)

    def as_json(self) -> dict[str, Any]:
        return {
            "participants": self.config.participants,
            "epochs": self.config.epochs,
            "batch": self.config.batch,
            "plain_wallets": self.config.plain_wallets,
            "wall_seconds": round(self.wall_seconds, 3),
            "chain_seconds": round(self.chain_seconds, 3),
            "transactions": self.transactions,
            "transactions_per_member": round(self.transactions / self.config.participants, 2),
            "tx_per_second": round(self.tx_per_second, 2),
            "node_tx_per_second": round(self.node_tx_per_second, 2),
            "raw_executor_tx_per_second": round(self.raw_executor_tps, 2),
            "raw_executor_sampled": self.raw_sampled,
            "chain_vs_raw": round(self.raw_ratio, 3),
            "raw_replay_seconds": round(self.replay_seconds, 3),
            "node_cpu_tx_per_second": round(self.node_cpu_tx_per_second, 2),
            "raw_executor_cpu_tx_per_second": round(self.raw_executor_cpu_tps, 2),
            "chain_vs_raw_cpu": round(self.raw_cpu_ratio, 3),
            "raw_default_config_tx_per_second": round(self.raw_default_tps, 2),
            "raw_default_config_cpu_tx_per_second": round(self.raw_default_cpu_tps, 2),
            "node_handler_cpu_seconds": round(self.node_handler_cpu_seconds, 3),
            "node_cpu_seconds": round(self.node_cpu_seconds, 3),
            "python_cpu_seconds": round(self.python_cpu_seconds, 3),
            "node_emulate_seconds": round(self.node_emulate_seconds, 3),
            "node_handler_seconds": round(self.node_handler_seconds, 3),
            "python_peak_rss_bytes": self.python_peak_rss,
            "node_peak_rss_bytes": self.node_peak_rss,
            "peak_rss_bytes": self.python_peak_rss + self.node_peak_rss,
            "phases": [
                {
                    "name": p.name,
                    "operations": p.operations,
                    "transactions": p.transactions,
                    "seconds": round(p.seconds, 3),
                    "tx_per_second": round(p.tx_per_second, 2),
                }
                for p in self.phases
            ],
            "gas": {k: v.as_list() for k, v in self.gas.items()},
            "gas_small": {k: v.as_list() for k, v in self.small_gas.items()},
            "small_participants": SMALL_POOL,
            "gas_equal": self.gas_equal,
            "counters": self.counters,
            "conservation_checks": self.conservation_checks,
            "conserved": self.conserved,
            "reference_match": self.reference_match,
            "mismatches": self.mismatches[:20],
        }


_scale_bridge: NodeBridge | None = None


def scale_bridge() -> NodeBridge:
    """The Node helper of the scale runs: its own process, with the wasm compiled for
    speed from the first call (OPTIMIZED_WASM); closed at exit."""
    global _scale_bridge  # noqa: PLW0603
    if _scale_bridge is None:
        _scale_bridge = NodeBridge(node_flags=OPTIMIZED_WASM)
        atexit.register(_scale_bridge.close)
    return _scale_bridge


def member_metrics(index: int, epoch_seconds: int) -> econ.MemberMetrics:
    return econ.MemberMetrics(epoch_seconds, 1_000 + index % 97, UPTIMES[index % 5], index % 5)


def _node_peak_rss(chain: EmulatedChain) -> int:
    """VmHWM of the Node helper (Linux), else its current RSS."""
    proc = getattr(chain.bridge, "_proc", None)
    if proc is not None:
        status = Path(f"/proc/{proc.pid}/status")
        if status.is_file():
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    return int(chain.bridge.request("chainStats")["rssBytes"])


def python_peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Op(NamedTuple):
    """One operation's trace; ``members``: how many members it served (a batch of reports),
    over which its gas is counted."""

    name: str
    trace: Trace
    members: int = 1


class ScaleRun:
    def __init__(self, config: ScaleConfig, progress: ProgressCallback | None = None) -> None:
        config.validate()
        self.config = config
        self.progress = progress or (lambda _phase, _done, _total: None)
        seed = "scale-oracle"
        signer = OracleSigner.from_seed_text(seed)
        # Major-penalty members earn about 1 TON an epoch here, the others 1.3 to 2: below and
        # above the minimum payout by a wide margin at every N, so both payout paths run.
        params = PoolParams(oracle_key=signer.public_key, min_stake=ton(10), min_payout=ton("1.2"))
        # Summaries only, only the distribution's history (drained after every batch), and
        # the config without what no transaction reads (same transactions, ~30 % faster).
        chain = EmulatedChain(detail="summary", config="trimmed", bridge=scale_bridge())
        self.sb = PoolSandbox.create(chain=chain, params=params, oracle_seed=seed)
        self.chain = chain
        chain.keep_history = frozenset({raw_address(self.sb.pool.distribution)})
        # Some of the distribution's events are derived from its messages' bodies.
        chain.bodies_of = chain.keep_history
        self.excluded = {raw_address(w.address) for w in chain.wallets.values()}
        if config.plain_wallets:
            chain.use_plain_wallets(chain.wallets.values())
        self.gas: dict[str, GasRange] = {}
        self.phases: list[Phase] = []
        self.checks = 0
        self.mismatches: list[str] = []
        self.members: list[Wallet] = []
        self.raw: dict[str, Any] = {"transactions": 0, "ms": 0.0}
        self.replay_seconds = 0.0

    # -- bookkeeping ----------------------------------------------------------------------

    def record(self, operation: str, trace: Trace, members: int = 1) -> Trace:
        """Keep the operation's gas per member: a batch's whole trace over its ``members``."""
        trace.assert_success()
        total = sum(tx.gas_used for tx in trace if tx.address_raw not in self.excluded)
        gas = -(-total // members)
        if operation in self.gas:
            self.gas[operation].add(gas)
        else:
            self.gas[operation] = GasRange(gas, gas)
        return trace

    def drain(self) -> None:
        """Feed the kept history to the income tracker, then forget it."""
        tracker = self.sb.tracker
        tracker.update()
        self.chain.transactions.clear()
        tracker._seen = 0  # the list it follows was just emptied

    def replay(self) -> None:
        """Time the raw executor on the transactions sampled since the last call (not counted
        in the chain's time)."""
        began = time.perf_counter()
        self.raw = self.chain.bridge.request("chainRawReplay")
        self.replay_seconds += time.perf_counter() - began

    def check(self) -> None:
        self.drain()
        self.sb.assert_conserved()
        self.checks += 1

    @contextmanager
    def phase(self, name: str, operations: int) -> Iterator[None]:
        began, count = time.perf_counter(), self.chain.transaction_count
        replayed = self.replay_seconds
        yield
        self.replay()
        seconds = time.perf_counter() - began - (self.replay_seconds - replayed)
        self.phases.append(Phase(name, operations, self.chain.transaction_count - count, seconds))
        self.check()

    def batched(
        self,
        name: str,
        count: int,
        build: Callable[[Sequence[int]], list[Op]],
        after: Callable[[Sequence[int], list[Op]], None] | None = None,
        multiple_of: int = 1,
    ) -> None:
        """Run ``build`` over members in batches, pipelined: the helper runs batch k while
        Python builds batch k + 1 and then reads batch k's summaries. ``multiple_of``: batches
        are rounded up to a multiple of it (report batches must not be cut in two)."""
        size = -(-self.config.batch // multiple_of) * multiple_of
        chunks = [range(i, min(i + size, count)) for i in range(0, count, size)]
        pending: tuple[Any, Sequence[int], list[Op]] | None = None
        for k, chunk in enumerate([*chunks, None]):
            nxt = None
            if chunk is not None:
                with self.chain.batch(submit=False) as batch:
                    ops = build(chunk)
                nxt = (batch, chunk, ops)
            if pending is not None:
                # Answer k in before request k + 1 goes out (see EmulatedChain.batch); the
                # helper is idle in between, so the raw executor is timed there.
                pending[0].receive()
                self.replay()
            if nxt is not None:
                nxt[0].submit()
            if pending is not None:
                batch_k, chunk_k, ops_k = pending
                batch_k.wait()
                for op in ops_k:
                    self.record(op.name, op.trace, op.members)
                if after is not None:
                    after(chunk_k, ops_k)
                self.drain()
                if self.config.check_every and k % self.config.check_every == 0:
                    self.check()
                self.progress(name, chunk_k[-1] + 1, count)
            pending = nxt

    # -- the run ----------------------------------------------------------------------------

    def run(self) -> ScaleResult:
        n = self.config.participants
        sb, pool, chain = self.sb, self.sb.pool, self.chain
        began = time.perf_counter()
        self.node_cpu_start = chain.bridge.request("chainStats", reset=True)["cpuMs"]
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.python_cpu_start = usage.ru_utime + usage.ru_stime
        chain.bridge.request("chainRawSample", every=RAW_SAMPLE_EVERY)
        names = [f"member-{i:07d}" for i in range(n)]
        for i in range(0, n, 10_000):
            made = chain.create_wallets(names[i : i + 10_000], WALLET_FUNDS)
            if self.config.plain_wallets:
                chain.use_plain_wallets(made)
            self.members += made
        self.excluded |= {raw_address(w.address) for w in self.members}

        def register(chunk: Sequence[int]) -> list[Op]:
            ops: list[Op] = []
            for i in chunk:
                w = self.members[i]
                # Joining and binding the worker in one message, as a member who knows its
                # worker when it joins does.
                trace = pool.register(w, sb.params.min_stake, worker=w.address)
                ops.append(Op("register_bound", trace))
            # As an admin admits members by the thousand: several per VerifyMember.
            for k in range(0, len(chunk), VERIFY_BATCH):
                group = [self.members[i].address for i in chunk[k : k + VERIFY_BATCH]]
                ops.append(Op("verify_member", pool.verify_members(sb.admin, group), len(group)))
            return ops

        with self.phase("register + bind + verify", 2 * n):
            # Every verification batch full, so one member's share is the same at every size.
            self.batched("register", n, register, multiple_of=VERIFY_BATCH)
        for epoch in range(1, self.config.epochs + 1):
            self.run_epoch(epoch)
        wall = time.perf_counter() - began
        stats = chain.bridge.request("chainStats")
        replay = self.raw
        chain.bridge.request("chainRawSample", every=0)
        info, ledger = pool.registry_info(), pool.ledger()
        conservation = self.sb.assert_conserved()
        counters = {
            "member_count": info.member_count,
            "ever_joined": info.ever_joined,
            "total_stake": info.total_stake,
            "epochs_closed": ledger.epochs_closed,
            "received": ledger.received,
            "commission": ledger.commission,
            "paid": ledger.paid,
            "reserve": ledger.reserve,
            "pending_credit": ledger.pending_credit,
            "unsettled": ledger.unsettled,
            "tracked_received": conservation.received,
            "tracked_fees": conservation.fees,
        }
        raw_tps = replay["transactions"] / (replay["ms"] / 1000) if replay["ms"] else 0.0
        raw_cpu = replay.get("cpuMs", 0)
        raw_cpu_tps = replay["transactions"] / (raw_cpu / 1000) if raw_cpu else 0.0

        def per_second(ms: float) -> float:
            return float(replay["transactions"]) / (ms / 1000) if ms else 0.0

        usage = resource.getrusage(resource.RUSAGE_SELF)
        return ScaleResult(
            config=self.config,
            wall_seconds=wall,
            transactions=sum(p.transactions for p in self.phases),
            phases=self.phases,
            gas=dict(sorted(self.gas.items())),
            counters=counters,
            conservation_checks=self.checks + 1,
            conserved=conservation.conserved,
            reference_match=not self.mismatches,
            mismatches=self.mismatches,
            python_peak_rss=python_peak_rss(),
            node_peak_rss=_node_peak_rss(chain),
            node_emulate_seconds=stats["emulateMs"] / 1000,
            node_handler_seconds=stats["handlerMs"] / 1000,
            raw_executor_tps=raw_tps,
            raw_executor_cpu_tps=raw_cpu_tps,
            raw_default_tps=per_second(replay.get("defaultms", 0)),
            raw_default_cpu_tps=per_second(replay.get("defaultcpuMs", 0)),
            node_handler_cpu_seconds=stats["handlerCpuMs"] / 1000,
            node_cpu_seconds=(stats["cpuMs"] - self.node_cpu_start) / 1000,
            python_cpu_seconds=usage.ru_utime + usage.ru_stime - self.python_cpu_start,
            raw_sampled=int(replay["transactions"]),
            replay_seconds=self.replay_seconds,
        )

    def run_epoch(self, epoch: int) -> None:
        sb, pool = self.sb, self.sb.pool
        n = len(self.members)
        with self.phase(f"epoch {epoch}: income + close", len(INCOME_KINDS) + 1):
            for k, kind in enumerate(INCOME_KINDS):
                # Proportional to N, so each member's share, and its branch, is the same at
                # every pool size.
                value = n * ton("0.3") * (1 + k)
                self.record("cocoon_payout", pool.send_income(sb.proxy, value, kind))
            closed = self._single(self.record("close_epoch", sb.close_epoch()), EpochClosed)
        length = closed.end - closed.start
        metrics = [member_metrics(i, length) for i in range(n)]

        size = cheap_batch_size(1)

        def report(chunk: Sequence[int]) -> list[Op]:
            # As the keeper relays them: batches of the size whose signature checks stay cheap.
            groups = [chunk[k : k + size] for k in range(0, len(chunk), size)]
            ops: list[Op] = []
            for group in groups:
                trace = sb.report_batch(epoch, [(self.members[i], metrics[i]) for i in group])
                ops.append(Op("report", trace, len(group)))
            return ops

        with self.phase(f"epoch {epoch}: reports", n):
            # Every report batch full (N a multiple of ten), so one member's report costs the
            # same at every pool size.
            self.batched("report", n, report, multiple_of=size)
        with self.phase(f"epoch {epoch}: finalize", 1):
            finalized = self._single(self.record("finalize_epoch", sb.finalize()), EpochFinalized)
        expected = econ.simulate_epoch(
            closed.received, pool.ledger().commission_bps, finalized.reserve_in, metrics
        )

        def payout(chunk: Sequence[int]) -> list[Op]:
            return [
                Op("payout", pool.crank_payout(sb.keeper, self.members[i].address, epoch))
                for i in chunk
            ]

        def compare(chunk: Sequence[int], ops: list[Op]) -> None:
            for i, op in zip(chunk, ops, strict=True):
                settled = self._single(op.trace, RewardSettled)
                if settled.payout != expected.shares[i].payout:
                    self.mismatches.append(
                        f"epoch {epoch} member {i}: chain {settled.payout} "
                        f"!= model {expected.shares[i].payout}"
                    )

        with self.phase(f"epoch {epoch}: payouts", n):
            self.batched("payout", n, payout, compare)

    @staticmethod
    def _single(trace: Trace, kind: type[Any]) -> Any:
        found = trace_events(trace, kind)
        if len(found) != 1:
            raise TransactionFailed(
                f"expected one {kind.__name__} event, found {len(found)}",
                hint="the contracts and the Python event decoders disagree",
            )
        return found[0]


def run_scale(
    config: ScaleConfig, progress: ProgressCallback | None = None, *, compare_small: bool = True
) -> ScaleResult:
    """The run at ``config.participants``, with the same run at N = 10 for the gas."""
    small: dict[str, GasRange] = {}
    if compare_small:
        small_config = ScaleConfig(
            participants=SMALL_POOL,
            epochs=config.epochs,
            batch=SMALL_POOL,
            plain_wallets=config.plain_wallets,
        )
        small = ScaleRun(small_config).run().gas
    result = ScaleRun(config, progress).run()
    result.small_gas = small
    return result


__all__ = ["ScaleConfig", "ScaleResult", "ScaleRun", "member_metrics", "run_scale"]
