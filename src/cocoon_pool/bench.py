"""Gas per operation at two pool sizes: every per-member cost must not depend on N.

A pool of N members is built for real (each one registered, verified, reported and paid
in epoch 1); then one more member goes through every operation and each whole trace's gas
is recorded (wallet transactions excluded). Gas is deterministic, so the figures are exact.
"""

from __future__ import annotations

from collections.abc import Callable

from cocoon_pool.chain.types import Trace
from cocoon_pool.contracts.constants import ton
from cocoon_pool.contracts.messages import CollectCommission
from cocoon_pool.contracts.pool import VERIFY_BATCH
from cocoon_pool.contracts.reports import cheap_batch_size
from cocoon_pool.economics import MemberMetrics
from cocoon_pool.sandbox import PoolSandbox

# Goals from the foundation issue and issue 10 (whole traces, wallets excluded): one member's
# payout or claim on every path, the pending credit and taking it out included.
GAS_GOALS = {
    "cocoon_payout": 3_000,
    "register": 25_000,
    "report": 12_000,
    "report_unclaimed": 12_000,
    "payout": 12_000,
    "payout_pending": 12_000,
    "claim": 12_000,
    "claim_pending": 12_000,
}
OPERATIONS = (
    "deploy",
    "register",
    "register_bound",
    "bind_worker",
    "verify_member",
    "verify_member_single",
    "owner_worker_register",
    "cocoon_payout",
    "close_epoch",
    "report",
    "report_single",
    "report_unclaimed",
    "finalize_epoch",
    "payout",
    "payout_pending",
    "claim",
    "claim_pending",
    "unregister",
    "withdraw_stake",
    "collect_commission",
)

ProgressCallback = Callable[[int], None]


# The crowd cycles through every tier so both pool sizes take the same branches (bonus and
# penalty terms present); the probe members always sit in the bonus tier.
CROWD_UPTIMES = (9_900, 9_000, 7_000, 9_800, 8_500)


def _metrics(index: int, epoch_seconds: int) -> MemberMetrics:
    return MemberMetrics(epoch_seconds, 1_000 + index % 97, CROWD_UPTIMES[index % 5], index % 5)


def _probe_metrics(epoch_seconds: int) -> MemberMetrics:
    return MemberMetrics(epoch_seconds, 1_000, 9_900, 0)


def measure_gas(members: int, progress: ProgressCallback | None = None) -> dict[str, int]:
    """Whole-trace gas of each operation in a pool that already has ``members`` members.

    ``members`` must be at least 5 so that every tier is present in the crowd.
    """
    sb = PoolSandbox.create()
    pool, chain = sb.pool, sb.chain
    gas: dict[str, int] = {"deploy": sb.gas(sb.deploy_trace)}

    def record(name: str, trace: Trace) -> Trace:
        trace.assert_success()
        gas[name] = sb.gas(trace)
        return trace

    crowd = [sb.add_member(f"crowd-{i:06d}") for i in range(members)]
    probe = sb.wallet("probe")
    second = sb.wallet("probe-2")
    record("register", pool.register(probe, sb.params.min_stake))
    bound = sb.wallet("probe-bound")
    record("register_bound", pool.register(bound, sb.params.min_stake, worker=bound.address))
    record("bind_worker", pool.bind_worker(probe, probe.address))
    record("verify_member_single", pool.verify_member(sb.admin, probe.address))
    # "verify_member" is one member's share of a batch of VERIFY_BATCH, as the scale run
    # verifies (rounded up).
    unverified = [sb.add_member(f"probe-verify-{k}", verify=False) for k in range(VERIFY_BATCH)]
    for w in unverified:
        pool.bind_worker(w, w.address).assert_success()
    trace = pool.verify_members(sb.admin, [w.address for w in unverified]).assert_success()
    gas["verify_member"] = -(-sb.gas(trace) // VERIFY_BATCH)
    # The probe's "worker" is its own wallet: the pool's hops are what is measured.
    record("owner_worker_register", pool.owner_worker_register(sb.admin, probe.address))
    pool.register(second, sb.params.min_stake).assert_success()
    pool.bind_worker(second, second.address).assert_success()
    pool.verify_member(sb.admin, second.address).assert_success()
    # A member whose share stays below the minimum payout: its crank is credited as pending.
    small = sb.add_member("probe-small")
    batch = cheap_batch_size(1)
    others = [sb.add_member(f"probe-batch-{k}") for k in range(batch - 2)]
    record("cocoon_payout", pool.send_income(sb.proxy, ton(1_000)))
    record("close_epoch", sb.close_epoch())
    length = pool.ledger().epoch_length
    # Reports go in batches of the size the keeper relays at a one-key quorum; "report" is
    # one member's share of such a batch's whole trace (rounded up), "report_single" a batch
    # of one.
    for start in range(0, len(crowd), batch):
        chunk = [
            (w, _metrics(start + k, length)) for k, w in enumerate(crowd[start : start + batch])
        ]
        sb.report_batch(1, chunk).assert_success()
        if progress is not None:
            progress(start + len(chunk) - 1)
    probe_batch = [(probe, _probe_metrics(length)), (second, _probe_metrics(length))]
    probe_batch += [(w, _probe_metrics(length)) for w in others]
    trace = sb.report_batch(1, probe_batch).assert_success()
    gas["report"] = -(-sb.gas(trace) // len(probe_batch))
    record("report_single", sb.report(small, 1, MemberMetrics(1_000, 10, 9_900, 0)))
    record("finalize_epoch", sb.finalize())
    record("payout", pool.crank_payout(sb.keeper, probe.address, 1))
    record("payout_pending", pool.crank_payout(sb.keeper, small.address, 1))
    record("claim", pool.claim_rewards(second, 1))
    record("claim_pending", pool.claim_pending(small))
    record("unregister", pool.unregister(probe))
    chain.advance(sb.params.unbonding_seconds)
    record("withdraw_stake", pool.withdraw_stake(probe))
    record("collect_commission", pool.admin_call(sb.admin, CollectCommission()))
    # The dearest report path: the member's previous slip was never claimed, so the report
    # moves it into the member's dictionary of older slips (one member's share of a batch).
    pool.send_income(sb.proxy, ton(1_000)).assert_success()
    sb.close_epoch().assert_success()
    unclaimed = [(w, _probe_metrics(length)) for w in others + crowd[: batch - len(others)]]
    trace = sb.report_batch(2, unclaimed).assert_success()
    gas["report_unclaimed"] = -(-sb.gas(trace) // len(unclaimed))
    sb.assert_conserved()
    return {name: gas[name] for name in OPERATIONS}
