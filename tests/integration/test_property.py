"""Property: the chain pays exactly what the reference model says, to the nanoton.

Random pools (2-8 members), random metrics across every tier and its boundaries, members who
sometimes do not report, and random Cocoon income (tiny ones included) through 1-3 epochs,
driven on the real contracts. After every trace the books balance (DESIGN.md §3); after every
epoch commission, penalty pool, bonus, reserve and each payout equal economics.py's; at the end
each member's paid plus pending equals the sum of its model payouts.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cocoon_pool import economics as econ
from cocoon_pool.chain.types import Trace
from cocoon_pool.contracts.constants import ton
from cocoon_pool.contracts.events import EpochClosed, EpochFinalized, RewardSettled
from cocoon_pool.economics import MemberMetrics
from cocoon_pool.sandbox import PoolSandbox
from tracing import one_event

MAX_MEMBERS = 8
EPOCH_SECONDS = 7 * 86_400  # PoolParams' default; epochs are closed on time, so spans match
INCOME_KINDS = ("payout", "payout", "excesses", "comment", "empty")


@cache
def _base() -> PoolSandbox:
    sb = PoolSandbox.create()
    for i in range(MAX_MEMBERS):
        sb.add_member(f"m{i}")
    return sb


uptimes = st.one_of(
    st.sampled_from([0, 7_999, 8_000, 9_500, 9_501, 10_000]),  # every tier boundary
    st.integers(9_501, 10_000),  # bonus
    st.integers(8_000, 9_500),  # minor penalty
    st.integers(0, 7_999),  # major penalty
)
metrics = st.builds(
    MemberMetrics,
    running_seconds=st.one_of(st.just(EPOCH_SECONDS), st.integers(0, EPOCH_SECONDS)),
    gpu_score=st.one_of(st.just(econ.MAX_GPU_SCORE), st.integers(0, econ.MAX_GPU_SCORE)),
    uptime_bps=uptimes,
    outages=st.one_of(st.integers(0, 3), st.integers(4, 65_535)),
)
incomes = st.tuples(
    st.one_of(st.integers(0, 600_000), st.integers(ton(1), ton(5_000))),
    st.sampled_from(INCOME_KINDS),
)


@dataclass(frozen=True)
class EpochPlan:
    income: list[tuple[int, str]]
    reports: list[MemberMetrics | None]
    """One entry per member; None when the member does not report this epoch."""


@st.composite
def plans(draw: st.DrawFn) -> list[EpochPlan]:
    n = draw(st.integers(2, MAX_MEMBERS))
    epochs = draw(st.integers(1, 3))
    return [
        EpochPlan(
            income=draw(st.lists(incomes, max_size=3)),
            reports=draw(
                st.lists(st.one_of(metrics, metrics, metrics, st.none()), min_size=n, max_size=n)
            ),
        )
        for _ in range(epochs)
    ]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(plan=plans())
def test_chain_matches_model(plan: list[EpochPlan]) -> None:
    sb = _base().fork()
    pool = sb.pool
    n = len(plan[0].reports)
    members = [sb.members[f"m{i}"] for i in range(n)]
    bps = sb.params.commission_bps
    reserve = 0
    commission = 0
    owed = [0] * n  # the model's payouts per member, summed over epochs
    paid = [0] * n  # what the chain sent each member

    def run(trace: Trace) -> Trace:
        trace.assert_success()
        sb.assert_conserved()
        return trace

    for epoch, step in enumerate(plan, start=1):
        for value, kind in step.income:
            sb.pool.send_income(sb.proxy, value, kind)  # tiny ones may not run: still counted
            sb.assert_conserved()
        closed = one_event(run(sb.close_epoch()), EpochClosed)
        assert closed.end - closed.start == EPOCH_SECONDS
        reporters = [i for i, r in enumerate(step.reports) if r is not None]
        reported = [r for r in step.reports if r is not None]
        for i, m in zip(reporters, reported, strict=True):
            run(sb.report(members[i], epoch, m))
        finalized = one_event(run(sb.finalize()), EpochFinalized)

        expected = econ.simulate_epoch(closed.received, bps, reserve, reported)
        s = expected.settlement
        assert (closed.commission, closed.net) == (s.commission, s.net)
        assert finalized.reserve_in == reserve
        assert (finalized.penalty_pool, finalized.bonus_paid, finalized.claimable) == (
            s.penalty_pool,
            s.bonus_paid,
            s.claimable,
        )
        commission += s.commission
        if expected.aggregates.contribution_sum == 0:
            # Nobody contributed: all of N is carried; zero-contribution slips stay unclaimable.
            reserve = s.reserve_out
            assert not pool.final_epoch(epoch).found
        else:
            for i, share in zip(reporters, expected.shares, strict=True):
                settled = one_event(
                    run(pool.crank_payout(sb.keeper, members[i].address, epoch)), RewardSettled
                )
                assert settled.payout == share.payout
                owed[i] += share.payout
                if settled.paid_now:
                    paid[i] += settled.payout + settled.pending_carry
            reserve = expected.reserve_after_sweep
            assert not pool.final_epoch(epoch).found  # every claim made: retired, dust swept
        ledger = pool.ledger()
        assert (ledger.reserve, ledger.commission, ledger.unsettled) == (reserve, commission, 0)

    pending = [pool.participant_info(w.address).pending for w in members]
    assert [p + q for p, q in zip(paid, pending, strict=True)] == owed
    ledger = pool.ledger()
    assert ledger.paid == sum(paid)
    assert ledger.pending_credit == sum(pending)
    assert ledger.commission == commission
    assert ledger.reserve == reserve
    sb.assert_conserved()
