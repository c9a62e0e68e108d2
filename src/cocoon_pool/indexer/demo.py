"""A small, deterministic pool on the embedded chain for `cocoon-pool index --demo`.

Three members join (registered, worker bound, verified by the admin); each epoch receives
Cocoon income, is closed, gets one signed report per member, is finalized and every share
is cranked out. Carol's share stays below the 1 TON minimum payout: kept pending in epoch 1,
paid with her epoch 2 share, pending again in epoch 3 until she takes it out. At the end the
admin collects the commission and Bob leaves and withdraws his stake, so every kind of
history row shows up.
"""

from __future__ import annotations

from ton_core import Address

from cocoon_pool.chain.emulator import Wallet
from cocoon_pool.contracts import messages as m
from cocoon_pool.contracts.constants import ton
from cocoon_pool.contracts.pool import PoolParams
from cocoon_pool.contracts.reports import OracleSigner
from cocoon_pool.economics import MemberMetrics
from cocoon_pool.indexer.source import EmulatedChainSource
from cocoon_pool.sandbox import PoolSandbox

DEMO_ORACLE_SEED = "cocoon-pool-indexer-demo"
DEMO_MIN_PAYOUT = ton(1)
DEMO_INCOME = (ton(120), ton(45), ton(80))
"""Cocoon income per epoch (cycled)."""
DEMO_MEMBERS: tuple[tuple[str, MemberMetrics], ...] = (
    ("alice", MemberMetrics(running_seconds=604_800, gpu_score=1_000, uptime_bps=9_900, outages=0)),
    ("bob", MemberMetrics(running_seconds=500_000, gpu_score=900, uptime_bps=9_000, outages=1)),
    ("carol", MemberMetrics(running_seconds=80_000, gpu_score=200, uptime_bps=7_000, outages=5)),
)


class DemoPool:
    """The demo pool, advanced one step at a time (tests index between the steps)."""

    def __init__(self) -> None:
        signer = OracleSigner.from_seed_text(DEMO_ORACLE_SEED)
        params = PoolParams(oracle_key=signer.public_key, min_payout=DEMO_MIN_PAYOUT)
        self.sandbox = PoolSandbox.create(params=params, oracle_seed=DEMO_ORACLE_SEED)
        self.members: dict[str, Wallet] = {
            name: self.sandbox.add_member(name) for name, _ in DEMO_MEMBERS
        }
        self.epochs_run = 0

    @property
    def source(self) -> EmulatedChainSource:
        return EmulatedChainSource(self.sandbox.chain)

    @property
    def operator(self) -> Address:
        return self.sandbox.pool.operator

    def run_epoch(self) -> int:
        """Income, close, reports, finalize and a crank per member; returns the epoch."""
        sb = self.sandbox
        epoch = self.epochs_run + 1
        sb.pool.send_income(sb.proxy, DEMO_INCOME[(epoch - 1) % len(DEMO_INCOME)]).assert_success()
        sb.close_epoch()
        for name, metrics in DEMO_MEMBERS:
            sb.report(self.members[name], epoch, metrics).assert_success()
        sb.finalize()
        for name, _ in DEMO_MEMBERS:
            sb.pool.crank_payout(sb.keeper, self.members[name].address, epoch).assert_success()
        self.epochs_run = epoch
        return epoch

    def wrap_up(self) -> None:
        """Commission to the admin, Carol's pending out, Bob leaves and withdraws."""
        sb = self.sandbox
        collect = m.CollectCommission(query_id=sb.pool.next_query_id())
        sb.pool.admin_call(sb.admin, collect).assert_success()
        if sb.pool.participant_info(self.members["carol"].address).pending > 0:
            sb.pool.claim_pending(self.members["carol"]).assert_success()
        sb.pool.unregister(self.members["bob"]).assert_success()
        sb.chain.advance(sb.params.unbonding_seconds)
        sb.pool.withdraw_stake(self.members["bob"]).assert_success()
        sb.assert_conserved()


def build_demo(epochs: int = 3) -> DemoPool:
    demo = DemoPool()
    for _ in range(epochs):
        demo.run_epoch()
    demo.wrap_up()
    return demo
