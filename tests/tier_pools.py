"""The pool most distribution and security tests start from: three verified members spanning
the tiers plus one unverified member, 100 TON of income, epoch 1 open or closed (a snapshot
built once per process and forked per test, so the suite stays fast)."""

from __future__ import annotations

from functools import cache

from cocoon_pool.contracts.constants import ton
from cocoon_pool.economics import MemberMetrics
from cocoon_pool.sandbox import PoolSandbox

METRICS = {
    "a": MemberMetrics(600_000, 1_000, 9_900, 0),  # bonus
    "b": MemberMetrics(500_000, 2_000, 9_000, 1),  # minor penalty
    "c": MemberMetrics(300_000, 1_500, 7_000, 5),  # major penalty + outages
}
INCOME = ton(100)


@cache
def open_base() -> PoolSandbox:
    sb = PoolSandbox.create()
    for name in METRICS:
        sb.add_member(name)
    sb.add_member("u", verify=False)
    sb.pool.send_income(sb.proxy, INCOME).assert_success()
    return sb


@cache
def reporting_base() -> PoolSandbox:
    sb = open_base().fork()
    sb.close_epoch()
    return sb


def report_all(sb: PoolSandbox, epoch: int, names: tuple[str, ...] = tuple(METRICS)) -> None:
    """Every named member's report for ``epoch``, each checked to succeed and conserve."""
    for name in names:
        sb.report(sb.members[name], epoch, METRICS[name]).assert_success()
        sb.assert_conserved()
