"""The main job: a full pool lifecycle on the embedded chain, checked against the model.

Deploys a pool, registers N members whose metrics span every reward tier, pays Cocoon
income into it through E epochs, files signed oracle reports, closes and finalizes each
epoch and pays every member with the permissionless crank. After every epoch it checks
each member's on-chain payout against the reference model to the nanoton, and after
every operation the conservation equation on chain balances.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cocoon_pool import economics as econ
from cocoon_pool.accounting import Conservation
from cocoon_pool.chain.emulator import Wallet
from cocoon_pool.chain.types import Trace
from cocoon_pool.contracts.constants import ton
from cocoon_pool.contracts.events import (
    E,
    EpochClosed,
    EpochFinalized,
    RewardSettled,
    trace_events,
)
from cocoon_pool.contracts.pool import VERIFY_BATCH, PoolParams
from cocoon_pool.contracts.reports import OracleSigner, cheap_batch_size
from cocoon_pool.errors import TransactionFailed, UsageError
from cocoon_pool.sandbox import PoolSandbox

MAX_PARTICIPANTS = 5_000
MAX_EPOCHS = 520
# Tier profiles cycled over members so that every tier shows up: (uptime range, outages range).
TIER_PROFILES: tuple[tuple[tuple[int, int], tuple[int, int]], ...] = (
    ((9501, 10000), (0, 3)),  # bonus
    ((8000, 9500), (0, 3)),  # minor penalty
    ((0, 7999), (0, 3)),  # major penalty
    ((9501, 10000), (4, 9)),  # bonus uptime but too many outages
    ((8000, 9500), (4, 9)),  # minor penalty plus outages
)

ProgressCallback = Callable[[str], None]


@dataclass(frozen=True)
class SimulationConfig:
    participants: int
    epochs: int
    seed: int = 0
    payouts_per_epoch: int = 3
    min_payout: int = ton("0.5")
    """Below this a cranked share is credited to the member instead of sent."""

    def validate(self) -> None:
        if not 1 <= self.participants <= MAX_PARTICIPANTS:
            raise UsageError(
                f"--participants must be between 1 and {MAX_PARTICIPANTS}, got {self.participants}",
                hint="use `cocoon-pool bench gas` for scale runs",
            )
        if not 1 <= self.epochs <= MAX_EPOCHS:
            raise UsageError(
                f"--epochs must be between 1 and {MAX_EPOCHS}, got {self.epochs}",
                hint="an epoch is a week by default; 52 is a year",
            )
        if self.min_payout < 0:
            raise UsageError(f"min_payout must be >= 0, got {self.min_payout}", hint="nanotons")
        if self.seed < 0:
            raise UsageError(f"--seed must be >= 0, got {self.seed}", hint="any whole number")


@dataclass
class MemberTotals:
    """One member's figures over the run, in nanotons (contribution in its own units).

    ``earned`` is every share settled for the member (``base + bonus - penalty``);
    ``paid`` is what actually reached its wallet and ``pending`` what is still owed to it
    (credited below the minimum payout; every share is cranked in its epoch, so none is
    left unclaimed), so ``earned == paid + pending``.
    """

    name: str
    address: str
    tier: str
    contribution: int = 0
    base: int = 0
    bonus: int = 0
    penalty: int = 0
    earned: int = 0
    paid: int = 0
    pending: int = 0


@dataclass(frozen=True)
class Summary:
    """The conservation equation as simulate shows it, every figure >= 0:

        received == commission + paid + owed + open_income + reserve + income_fees

    Storage fees the contract paid since the last reconciliation dent its storage floor
    (the chain's ``open_income`` goes negative); that dent is ``floor_storage``, refilled
    from the next income. ``income_fees`` is the rest of the fees (storage and gas paid
    from pool income), so ``fees == income_fees + floor_storage`` and the raw equation,
    ``received == commission + paid + pending + reserve + fees``, with
    ``pending == owed + open_income - floor_storage``, holds too.
    """

    received: int
    commission: int
    paid: int
    owed: int
    open_income: int
    reserve: int
    income_fees: int
    floor_storage: int
    fees: int

    @classmethod
    def of(cls, c: Conservation) -> Summary:
        floor_storage = max(-c.open_income, 0)
        return cls(
            received=c.received,
            commission=c.commission,
            paid=c.paid,
            owed=c.owed,
            open_income=max(c.open_income, 0),
            reserve=c.reserve,
            income_fees=c.fees - floor_storage,
            floor_storage=floor_storage,
            fees=c.fees,
        )

    @property
    def accounted(self) -> int:
        return (
            self.commission
            + self.paid
            + self.owed
            + self.open_income
            + self.reserve
            + self.income_fees
        )


@dataclass
class SimulationResult:
    config: SimulationConfig
    members: list[MemberTotals]
    conservation: Conservation
    reference_match: bool
    mismatches: list[str]
    gas: dict[str, int]
    epochs: list[dict[str, int]] = field(default_factory=list)

    @property
    def summary(self) -> Summary:
        return Summary.of(self.conservation)

    @property
    def figure_mismatches(self) -> list[str]:
        """Where the per-member figures do not add up to the summary (empty when they do)."""
        s, found = self.summary, []
        for label, members, total in (
            ("paid", sum(m.paid for m in self.members), s.paid),
            ("pending", sum(m.pending for m in self.members), s.owed),
        ):
            if members != total:
                found.append(f"members' {label} add up to {members}, the summary says {total}")
        if s.accounted != s.received:
            found.append(f"the summary adds up to {s.accounted}, received is {s.received}")
        for m in self.members:
            if m.base + m.bonus - m.penalty != m.earned or m.paid + m.pending != m.earned:
                found.append(f"{m.name}: base + bonus - penalty, paid + pending, earned differ")
        return found

    def as_json(self) -> dict[str, Any]:
        s = self.summary
        return {
            "participants": self.config.participants,
            "epochs": self.config.epochs,
            "seed": self.config.seed,
            **self.conservation.as_dict(),
            "owed_nanoton": s.owed,
            "open_income_nanoton": s.open_income,
            "income_fees_nanoton": s.income_fees,
            "floor_storage_nanoton": s.floor_storage,
            "figures_add_up": not self.figure_mismatches,
            "reference_match": self.reference_match,
            "mismatches": self.mismatches,
            "gas": self.gas,
            "epoch_results": self.epochs,
            "members": [vars(m) for m in self.members],
        }


def draw_metrics(rng: random.Random, index: int, epoch_seconds: int) -> econ.MemberMetrics:
    (u_lo, u_hi), (o_lo, o_hi) = TIER_PROFILES[index % len(TIER_PROFILES)]
    return econ.MemberMetrics(
        running_seconds=rng.randint(epoch_seconds // 2, epoch_seconds),
        gpu_score=rng.randint(100, econ.MAX_GPU_SCORE),
        uptime_bps=rng.randint(u_lo, u_hi),
        outages=rng.randint(o_lo, o_hi),
    )


class Simulation:
    def __init__(self, config: SimulationConfig, progress: ProgressCallback | None = None) -> None:
        config.validate()
        self.config = config
        self.rng = random.Random(config.seed)
        self.progress = progress or (lambda _step: None)
        signer = OracleSigner.from_seed_text(f"simulation-oracle-{config.seed}")
        params = PoolParams(
            oracle_key=signer.public_key, min_stake=ton(10), min_payout=config.min_payout
        )
        self.sb = PoolSandbox.create(params=params, oracle_seed=f"simulation-oracle-{config.seed}")
        self.gas: dict[str, int] = {"deploy": self.sb.gas(self.sb.deploy_trace)}
        self.members: list[Wallet] = []
        self.totals: list[MemberTotals] = []
        self.mismatches: list[str] = []
        self.epoch_rows: list[dict[str, int]] = []

    def _run(self, operation: str, trace: Trace, members: int = 1) -> Trace:
        """Record an operation's whole-trace gas (per member, for a batch of ``members``) and
        check it and the books after it."""
        trace.assert_success()
        per_member = -(-self.sb.gas(trace) // members)
        self.gas[operation] = max(self.gas.get(operation, 0), per_member)
        self.sb.assert_conserved()
        return trace

    def run(self) -> SimulationResult:
        sb, pool = self.sb, self.sb.pool
        for i in range(self.config.participants):
            wallet = sb.wallet(f"member-{i:05d}")
            # Both ways a member binds its worker: in the joining message, or afterwards.
            if i % 2:
                trace = pool.register(wallet, sb.params.min_stake, worker=wallet.address)
                self._run("register_bound", trace)
            else:
                self._run("register", pool.register(wallet, sb.params.min_stake))
                self._run("bind_worker", pool.bind_worker(wallet, wallet.address))
            self.members.append(wallet)
            tier = econ.tier(draw_metrics(random.Random(i), i, sb.params.epoch_length)).label
            self.totals.append(MemberTotals(f"member-{i:05d}", wallet.address.to_str(), tier))
            self.progress("register")
        # The admin verifies them as it would admit a crowd: ten a message.
        for start in range(0, len(self.members), VERIFY_BATCH):
            group = [w.address for w in self.members[start : start + VERIFY_BATCH]]
            self._run("verify_member", pool.verify_members(sb.admin, group), len(group))
        for epoch in range(1, self.config.epochs + 1):
            self._run_epoch(epoch)
        for wallet, totals in zip(self.members, self.totals, strict=True):
            # Still owed: every share is cranked each epoch, so nothing is left unclaimed and
            # what the member is owed is what its contract holds credited below the minimum.
            totals.pending = pool.participant_info(wallet.address).pending
        return SimulationResult(
            config=self.config,
            members=self.totals,
            conservation=sb.assert_conserved(),
            reference_match=not self.mismatches,
            mismatches=self.mismatches,
            gas=dict(sorted(self.gas.items())),
            epochs=self.epoch_rows,
        )

    def _run_epoch(self, epoch: int) -> None:
        sb, pool, rng = self.sb, self.sb.pool, self.rng
        kinds = ("payout", "payout", "excesses", "comment")
        for k in range(self.config.payouts_per_epoch):
            value = rng.randint(ton(1), ton(500))
            name = "cocoon_payout" if kinds[k % len(kinds)] == "payout" else "other_income"
            self._run(name, pool.send_income(sb.proxy, value, kinds[k % len(kinds)]))
        closed = self._single(self._run("close_epoch", sb.close_epoch()), EpochClosed)
        metrics = [
            draw_metrics(rng, i, closed.end - closed.start) for i in range(len(self.members))
        ]
        # Relayed as the keeper does: batches whose signature checks stay cheap.
        reports = list(zip(self.members, metrics, strict=True))
        size = cheap_batch_size(1)
        for start in range(0, len(reports), size):
            batch = reports[start : start + size]
            self._run("report", sb.report_batch(epoch, batch), len(batch))
        self.progress("report")
        finalized = self._single(self._run("finalize_epoch", sb.finalize()), EpochFinalized)
        expected = econ.simulate_epoch(
            closed.received, pool.ledger().commission_bps, finalized.reserve_in, metrics
        )
        for i, (wallet, share) in enumerate(zip(self.members, expected.shares, strict=True)):
            settled = self._single(
                self._run("payout", pool.crank_payout(sb.keeper, wallet.address, epoch)),
                RewardSettled,
            )
            if settled.payout != share.payout:
                self.mismatches.append(
                    f"epoch {epoch} member {i}: chain {settled.payout} != model {share.payout}"
                )
            t = self.totals[i]
            t.contribution += share.contribution
            t.base += share.base
            t.bonus += share.bonus
            t.penalty += share.penalty
            t.earned += settled.payout
            if settled.paid_now:
                # The crank sent this share with everything credited to the member before.
                t.paid += settled.payout + settled.pending_carry
            self.progress("payout")
        self.epoch_rows.append(
            {
                "epoch": epoch,
                "received_nanoton": closed.received,
                "commission_nanoton": closed.commission,
                "net_nanoton": closed.net,
                "reserve_in_nanoton": finalized.reserve_in,
                "bonus_paid_nanoton": finalized.bonus_paid,
                "penalty_pool_nanoton": finalized.penalty_pool,
                "dust_nanoton": expected.dust,
            }
        )

    def _single(self, trace: Trace, kind: type[E]) -> E:
        found = trace_events(trace, kind)
        if len(found) != 1:
            raise TransactionFailed(
                f"expected one {kind.__name__} event, found {len(found)}",
                hint="the contracts and the Python event decoders disagree",
            )
        return found[0]

    def steps_total(self) -> int:
        """How many progress steps run() reports (for a progress bar)."""
        n, e = self.config.participants, self.config.epochs
        return n + e * (1 + n)


def run_simulation(
    config: SimulationConfig, progress: ProgressCallback | None = None
) -> SimulationResult:
    return Simulation(config, progress).run()
