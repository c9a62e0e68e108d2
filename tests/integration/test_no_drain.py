"""No operation spends a pool contract's own balance: callers pay for what they cause.

For every operation the registry's and the distribution's balances change by exactly
minus their storage fees, apart from the pool money the operation is meant to move
(a payout, the commission) and the registry's top-up to its storage floor. Income is the
only thing that adds to the distribution.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pytest

from cocoon_pool.chain.types import Trace
from cocoon_pool.contracts.constants import fee, ton
from cocoon_pool.contracts.events import (
    CommissionCollected,
    Event,
    PendingPaid,
    RewardSettled,
    trace_events,
)
from cocoon_pool.contracts.messages import CollectCommission
from cocoon_pool.economics import MemberMetrics
from cocoon_pool.sandbox import PoolSandbox
from tracing import storage_paid

REGISTRY_FLOOR = fee("REGISTRY_STORAGE_FLOOR")


def pool_spend(trace: Trace) -> int:
    """Pool money an operation is meant to send out (paid rewards and pending amounts,
    collected commission)."""
    spent = 0
    for event in trace_events(trace, Event):
        if isinstance(event, RewardSettled) and event.paid_now:
            spent += event.payout + event.pending_carry
        elif isinstance(event, (CommissionCollected, PendingPaid)):
            spent += event.amount
    return spent


def test_operations_never_spend_contract_balances(sandbox: PoolSandbox) -> None:
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain

    def check(run: Callable[[], Trace]) -> Trace:
        before_registry = chain.get_balance(pool.registry)
        before_distribution = chain.get_balance(pool.distribution)
        trace = run().assert_success()
        # The registry has no income: it only ever loses its storage fee, and a caller tops
        # it back up to its floor when storage has worn it below (never beyond).
        after_storage = before_registry - storage_paid(trace, pool.registry)
        assert chain.get_balance(pool.registry) in (
            after_storage,
            max(after_storage, REGISTRY_FLOOR),
        ), trace.describe()
        assert chain.get_balance(pool.distribution) == (
            before_distribution - storage_paid(trace, pool.distribution) - pool_spend(trace)
        ), trace.describe()
        return trace

    members = [sb.wallet(f"m{i}") for i in range(5)]
    for w in members:
        check(partial(pool.register, w, sb.params.min_stake))
        check(partial(pool.bind_worker, w, w.address))
        check(partial(pool.verify_member, sb.admin, w.address))
    pool.send_income(sb.proxy, ton(250)).assert_success()
    check(sb.close_epoch)
    for i, w in enumerate(members):
        metrics = MemberMetrics(600_000, 1_000 + i, (9_900, 9_000, 7_000, 9_800, 8_500)[i], i)
        check(partial(sb.report, w, 1, metrics))
    check(sb.finalize)
    for w in members[:3]:
        check(partial(pool.crank_payout, sb.keeper, w.address, 1))
    check(lambda: pool.claim_rewards(members[3], 1))
    check(partial(pool.verify_member, sb.admin, members[2].address, verified=False))
    # A small epoch: every share stays below the minimum payout, so cranks credit pending
    # amounts that the members then take out (ClaimPending, or with the stake).
    pool.send_income(sb.proxy, ton("0.2")).assert_success()
    check(sb.close_epoch)
    paid_members = [members[0], members[4]]
    for w in paid_members:
        check(partial(sb.report, w, 2, MemberMetrics(600_000, 1_000, 9_000, 0)))
    check(sb.finalize)
    for w in paid_members:
        settled = check(partial(pool.crank_payout, sb.keeper, w.address, 2))
        assert not trace_events(settled, RewardSettled)[0].paid_now
    assert trace_events(check(lambda: pool.claim_pending(members[0])), PendingPaid)
    check(lambda: pool.unregister(members[4]))
    chain.advance(sb.params.unbonding_seconds)
    assert trace_events(check(lambda: pool.withdraw_stake(members[4])), PendingPaid)
    check(lambda: pool.admin_call(sb.admin, CollectCommission()))
    sb.assert_conserved()


@pytest.mark.parametrize("count", [40])
def test_many_registrations_keep_registry_balance(sandbox: PoolSandbox, count: int) -> None:
    registry = sandbox.pool.registry
    start = sandbox.chain.get_balance(registry)
    for i in range(count):
        sandbox.add_member(f"member-{i}")
    assert sandbox.chain.get_balance(registry) == start  # no time passed: no storage due
    assert sandbox.pool.registry_info().member_count == count
