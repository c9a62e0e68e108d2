"""Every RewardDistribution operation on the real contracts: reports, epochs, claims, roles,
bounce paths and commission, with exact exit codes and exact amounts.

Most tests start from a snapshot (a fork of one deployed pool, so the suite stays fast): three
verified members spanning the tiers plus one unverified member, 100 TON of income, and epoch 1
either still open (`open_pool`) or closed and taking reports (`reporting_pool`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from ton_core import Address, Cell, begin_cell

from cocoon_pool import economics as econ
from cocoon_pool.chain.emulator import Wallet
from cocoon_pool.chain.messages import internal_message
from cocoon_pool.chain.types import Trace, Transaction, raw_address
from cocoon_pool.contracts import messages as m
from cocoon_pool.contracts.constants import fee, ton
from cocoon_pool.contracts.events import (
    CommissionCollected,
    ContributionRecorded,
    ContributionRefused,
    EpochClosed,
    EpochFinalized,
    EpochRetired,
    PendingCredited,
    RewardSettled,
    trace_events,
    transaction_events,
)
from cocoon_pool.contracts.exit_codes import code
from cocoon_pool.contracts.pool import PoolParams
from cocoon_pool.contracts.reports import (
    MAX_REPORTS_PER_BATCH,
    OracleSigner,
    batch_message,
    report_value,
)
from cocoon_pool.contracts.views import ReportingView
from cocoon_pool.sandbox import PoolSandbox
from tier_pools import INCOME, METRICS, open_base, report_all, reporting_base
from tracing import one_event, same, storage_paid, trace_fees

RICH_BOUNCE_OP = m.RICH_BOUNCE_PREFIX

# ---------------------------------------------------------------- snapshots


@pytest.fixture
def open_pool() -> PoolSandbox:
    return open_base().fork()


@pytest.fixture
def reporting_pool() -> PoolSandbox:
    return reporting_base().fork()


# ---------------------------------------------------------------- helpers


def dist_tx(sb: PoolSandbox, trace: Trace, op: int | None = None) -> Transaction:
    return trace.find(sb.pool.distribution, op)


def assert_caller_lost_only_fees(
    sb: PoolSandbox, caller: Wallet, before: int, trace: Trace, received: int = 0
) -> None:
    """Nothing of the caller's value stayed anywhere: it paid the trace's fees and no more
    (and got ``received`` of pool money, when it is the member being paid)."""
    pool_storage = sum(
        storage_paid(trace, a) for a in (sb.pool.distribution, sb.pool.registry, sb.pool.operator)
    )
    participants = {
        tx.address_raw
        for tx in trace
        if tx.address_raw not in {raw_address(a) for a in (caller.address, sb.pool.distribution)}
    }
    other_storage = sum(tx.storage_fees for tx in trace if tx.address_raw in participants)
    assert before - caller.balance == trace_fees(trace) - pool_storage - other_storage - received, (
        trace.describe()
    )


def refused(sb: PoolSandbox, trace: Trace, error: str, op: int | None = None) -> Transaction:
    """The distribution refused the message with ERR_<error> and bounced it to the sender."""
    tx = dist_tx(sb, trace, op)
    assert tx.exit_code == code(error), tx.describe()
    assert tx.aborted and tx.bounced
    (bounce,) = tx.internal_out
    assert bounce.bounced
    assert any(t.in_message is not None and t.in_message.bounced for t in trace)
    return tx


def report_body(
    sb: PoolSandbox,
    member: Address,
    epoch: int,
    *,
    signer: OracleSigner | None = None,
    distribution: Address | None = None,
    running: int = 600_000,
    gpu: int = 1_000,
    uptime: int = 9_900,
    outages: int = 0,
    tamper: Callable[[m.MetricsReport], m.MetricsReport] | None = None,
) -> Cell:
    """A SubmitReport body built field by field, so out-of-bounds values can be signed too."""
    report = m.MetricsReport(
        global_id=sb.chain.global_id,
        distribution=distribution or sb.pool.distribution,
        epoch=epoch,
        member=member,
        running_seconds=running,
        gpu_score=gpu,
        uptime_bps=uptime,
        outages=outages,
    )
    msg = (signer or sb.signer).submit_message(report, 1)
    if tamper is not None:
        msg = dataclasses.replace(msg, report=tamper(report))
    return msg.to_cell()


def aggregates(view: ReportingView) -> tuple[int, ...]:
    return (view.contribution_sum, view.penalty_weight, view.bonus_weight, view.reporters)


def with_aggregates(view: ReportingView, summed: tuple[int, ...]) -> ReportingView:
    """``view`` with the sums of :func:`aggregates` replaced by ``summed`` (C, CP, CB, n)."""
    contribution_sum, penalty_weight, bonus_weight, reporters = summed
    return dataclasses.replace(
        view,
        contribution_sum=contribution_sum,
        penalty_weight=penalty_weight,
        bonus_weight=bonus_weight,
        reporters=reporters,
    )


def recorded_events(submit: Transaction) -> list[ContributionRecorded]:
    """The reports a SubmitReport transaction counted, in the batch's order."""
    return [e for e in transaction_events(submit) if isinstance(e, ContributionRecorded)]


def figures(event: ContributionRecorded | ContributionRefused) -> tuple[int, int, int, int]:
    return (event.epoch, event.contribution, event.penalty_bps, event.bonus_bps)


# ---------------------------------------------------------------- SubmitReport


REJECTED_REPORTS: dict[str, tuple[str, Callable[[PoolSandbox, Address, int], Cell], int | None]] = {
    "bad-signature": (
        "BAD_SIGNATURE",
        lambda sb, a, span: report_body(sb, a, 1, signer=OracleSigner.from_seed_text("forger")),
        None,
    ),
    "tampered-report": (
        "BAD_SIGNATURE",
        lambda sb, a, span: report_body(
            sb, a, 1, tamper=lambda r: dataclasses.replace(r, gpu_score=r.gpu_score + 1)
        ),
        None,
    ),
    "other-pool": (
        "REPORT_FOR_OTHER_POOL",
        lambda sb, a, span: report_body(sb, a, 1, distribution=sb.pool.registry),
        None,
    ),
    "next-epoch": ("WRONG_REPORT_EPOCH", lambda sb, a, span: report_body(sb, a, 2), None),
    "epoch-zero": ("WRONG_REPORT_EPOCH", lambda sb, a, span: report_body(sb, a, 0), None),
    "running-over-epoch": (
        "RUNNING_TIME_OUT_OF_RANGE",
        lambda sb, a, span: report_body(sb, a, 1, running=span + 1),
        None,
    ),
    "running-max-uint32": (
        "RUNNING_TIME_OUT_OF_RANGE",
        lambda sb, a, span: report_body(sb, a, 1, running=2**32 - 1),
        None,
    ),
    "gpu-score": (
        "GPU_SCORE_OUT_OF_RANGE",
        lambda sb, a, span: report_body(sb, a, 1, gpu=econ.MAX_GPU_SCORE + 1),
        None,
    ),
    "uptime": (
        "UPTIME_OUT_OF_RANGE",
        lambda sb, a, span: report_body(sb, a, 1, uptime=econ.BPS + 1),
        None,
    ),
    "value-too-low": (
        "DISTRIBUTION_VALUE_TOO_LOW",
        lambda sb, a, span: report_body(sb, a, 1),
        report_value(1) - 1,
    ),
}


@pytest.mark.parametrize("case", sorted(REJECTED_REPORTS))
def test_submit_report_rejected(reporting_pool: PoolSandbox, case: str) -> None:
    sb = reporting_pool
    error, make, value = REJECTED_REPORTS[case]
    view = sb.pool.reporting_epoch()
    body = make(sb, sb.members["a"].address, view.end - view.start)
    before = sb.keeper.balance
    trace = sb.keeper.send(sb.pool.distribution, value or report_value(1), body)
    refused(sb, trace, error)
    assert len(trace) == 3  # keeper -> distribution -> bounce to keeper; no participant hop
    assert_caller_lost_only_fees(sb, sb.keeper, before, trace)
    assert sb.pool.reporting_epoch() == view
    assert not sb.pool.unclaimed(sb.members["a"].address, 1).found
    sb.assert_conserved()


def test_report_at_every_bound_is_accepted(reporting_pool: PoolSandbox) -> None:
    sb = reporting_pool
    view = sb.pool.reporting_epoch()
    span = view.end - view.start
    a = sb.members["a"].address
    body = report_body(
        sb, a, 1, running=span, gpu=econ.MAX_GPU_SCORE, uptime=econ.BPS, outages=65_535
    )
    trace = sb.keeper.send(sb.pool.distribution, report_value(1), body).assert_success()
    recorded = one_event(trace, ContributionRecorded)
    expected = span * econ.MAX_GPU_SCORE  # uptime 10000 bps multiplies by exactly 1
    assert (recorded.contribution, recorded.penalty_bps, recorded.bonus_bps) == (
        expected,
        econ.OUTAGE_PENALTY_BPS,
        econ.BONUS_BPS,
    )
    after = sb.pool.reporting_epoch()
    assert aggregates(after) == (expected, expected * 1000, expected * 1000, 1)
    sb.assert_conserved()


def test_report_without_reporting_epoch(open_pool: PoolSandbox) -> None:
    sb = open_pool
    trace = sb.keeper.send(
        sb.pool.distribution, report_value(1), report_body(sb, sb.members["a"].address, 1)
    )
    refused(sb, trace, "NO_REPORTING_EPOCH")
    sb.assert_conserved()


def test_report_after_window(reporting_pool: PoolSandbox) -> None:
    sb = reporting_pool
    view = sb.pool.reporting_epoch()
    sb.chain.set_now(view.deadline)
    sb.report(sb.members["a"], 1, METRICS["a"]).assert_success()  # the deadline itself is in
    sb.chain.set_now(view.deadline + 1)
    trace = sb.report(sb.members["b"], 1, METRICS["b"])
    refused(sb, trace, "REPORT_WINDOW_CLOSED")
    assert sb.pool.reporting_epoch().reporters == 1
    sb.assert_conserved()


def test_paused_blocks_reports_closing_and_finalize_but_not_final_claims(
    reporting_pool: PoolSandbox,
) -> None:
    """A pause that begins inside the report window holds the epoch open (finalize waits for
    the unpause, which gives the window back its lost time); claims of final epochs go on."""
    sb = reporting_pool
    report_all(sb, 1)
    sb.finalize()
    sb.close_epoch()
    report_all(sb, 2)
    sb.pool.admin_call(sb.pauser, m.PausePool(query_id=1)).assert_success()
    assert sb.pool.ledger().paused and sb.pool.ledger().paused_at == sb.chain.now
    refused(sb, sb.report(sb.members["a"], 2, METRICS["a"]), "DISTRIBUTION_PAUSED")
    sb.chain.set_now(sb.pool.reporting_epoch().deadline + 1)
    refused(sb, sb.pool.close_epoch(sb.keeper), "DISTRIBUTION_PAUSED")
    refused(sb, sb.pool.finalize_epoch(sb.keeper), "DISTRIBUTION_PAUSED")
    # Epoch 1 is final: its members take out what they earned while the pool is paused.
    settled = one_event(sb.pool.claim_rewards(sb.members["a"], 1).assert_success(), RewardSettled)
    assert settled.paid_now and settled.payout > 0
    sb.pool.admin_call(sb.admin, m.UnpausePool(query_id=2)).assert_success()
    one_event(sb.finalize(), EpochFinalized)
    one_event(sb.close_epoch(), EpochClosed)
    sb.assert_conserved()


# ---------------------------------------------------------------- reports the participant refuses


def _non_member(sb: PoolSandbox) -> tuple[Wallet, int | None]:
    return sb.wallet("never-joined"), None  # its participant does not exist: compute skipped


def _unverified(sb: PoolSandbox) -> tuple[Wallet, int | None]:
    return sb.members["u"], code("NOT_VERIFIED")


def _replayed(sb: PoolSandbox) -> tuple[Wallet, int | None]:
    sb.report(sb.members["a"], 1, METRICS["a"]).assert_success()
    return sb.members["a"], code("REPORT_REPLAYED")


@pytest.mark.parametrize("who", [_non_member, _unverified, _replayed])
def test_report_refused_by_participant_refunds_relay(
    reporting_pool: PoolSandbox, who: Callable[[PoolSandbox], tuple[Wallet, int | None]]
) -> None:
    sb = reporting_pool
    member, participant_code = who(sb)
    view = sb.pool.reporting_epoch()
    ledger = sb.pool.ledger()
    before = sb.keeper.balance
    trace = sb.report(member, 1, METRICS["b"])
    # Counted at submit ...
    (recorded,) = recorded_events(dist_tx(sb, trace, m.SubmitReport.PREFIX))
    assert same(recorded.member, member.address)
    apply = trace.find(sb.pool.participant_address(member.address), m.ApplyReport.PREFIX)
    if participant_code is None:
        assert apply.compute_skipped == "no-state"
    else:
        assert apply.exit_code == participant_code
    assert apply.bounced
    # ... and taken back out by the bounce, which refunds the relay.
    back = dist_tx(sb, trace, RICH_BOUNCE_OP)
    assert back.success and back.in_message is not None and back.in_message.bounced
    (refund,) = back.internal_out
    assert refund.dest == sb.keeper.address and refund.op == m.ReturnExcesses.PREFIX
    refused_event = one_event(trace, ContributionRefused, sb.pool.distribution)
    assert same(refused_event.participant, sb.pool.participant_address(member.address))
    assert figures(refused_event) == figures(recorded)
    assert_caller_lost_only_fees(sb, sb.keeper, before, trace)
    assert sb.pool.reporting_epoch() == view
    after = sb.pool.ledger()
    assert (after.unsettled, after.reserve, after.pending_credit) == (
        ledger.unsettled,
        ledger.reserve,
        ledger.pending_credit,
    )
    sb.assert_conserved()


def test_report_for_withdrawn_member_is_refused(open_pool: PoolSandbox) -> None:
    sb = open_pool
    d = sb.members["c"]
    sb.pool.unregister(d).assert_success()
    sb.chain.advance(sb.params.unbonding_seconds)
    sb.pool.withdraw_stake(d).assert_success()
    sb.close_epoch()
    trace = sb.report(d, 1, METRICS["c"])
    apply = trace.find(sb.pool.participant_address(d.address), m.ApplyReport.PREFIX)
    assert apply.exit_code == code("NOT_ACTIVE")
    assert dist_tx(sb, trace, RICH_BOUNCE_OP).success
    assert sb.pool.reporting_epoch().reporters == 0
    sb.assert_conserved()


# ---------------------------------------------------------------- batches

BATCH_METRICS = {
    **METRICS,
    "d": econ.MemberMetrics(450_000, 1_200, 9_700, 4),  # bonus + outages
    "e": econ.MemberMetrics(200_000, 800, 8_500, 0),  # minor penalty
}


def batch_members(sb: PoolSandbox) -> list[str]:
    """Five verified members across the tiers: the snapshot's three and two that join now."""
    for name in BATCH_METRICS:
        if name not in sb.members:
            sb.add_member(name)
    return list(BATCH_METRICS)


def signed(sb: PoolSandbox, names: list[str], epoch: int = 1) -> list[m.SubmitReport]:
    """Each named member's report for ``epoch``, signed on its own as an oracle signs it."""
    return [
        sb.pool.signed_report(
            sb.signer, sb.members[name].address, epoch, BATCH_METRICS.get(name, METRICS["b"])
        )
        for name in names
    ]


def expected_aggregates(names: list[str]) -> tuple[int, ...]:
    summed = econ.aggregate([BATCH_METRICS[name] for name in names])
    return (summed.contribution_sum, summed.penalty_weight, summed.bonus_weight, summed.members)


def chained(reports: list[m.SubmitReport], query_id: int = 1) -> m.SubmitReport:
    """The batch chain built by hand, without ``batch_message``'s length check."""
    link: Cell | None = None
    for report in reversed(reports[1:]):
        link = dataclasses.replace(report, query_id=0, next=link).to_cell()
    return dataclasses.replace(reports[0], query_id=query_id, next=link)


def participant_balances(sb: PoolSandbox, names: list[str]) -> dict[str, int]:
    return {
        name: sb.chain.get_balance(sb.pool.participant_address(sb.members[name].address))
        for name in names
    }


def assert_relayer_change(sb: PoolSandbox, trace: Trace, value: int, before: int) -> None:
    """The relayer got back exactly ``value`` less what the batch spent: the SubmitReport
    transaction's own fees (its storage fee excepted: the distribution pays that from its own
    balance), every ApplyReport's value and forward fee, and the change's forward fee."""
    submit = dist_tx(sb, trace, m.SubmitReport.PREFIX)
    applies = [msg for msg in submit.internal_out if msg.op == m.ApplyReport.PREFIX]
    (change,) = [msg for msg in submit.internal_out if msg.op == m.ReturnExcesses.PREFIX]
    assert same(change.dest, sb.keeper.address)
    spent = submit.total_fees - submit.storage_fees + sum(a.value + a.fwd_fee for a in applies)
    assert change.value == value - spent - change.fwd_fee
    send = trace[0]
    assert same(send.address, sb.keeper.address)
    # Besides the change (its receiving fee paid), the relayer is refunded any refused report.
    receiving_fee = refunds = 0
    for tx in trace.find_all(sb.keeper.address, m.ReturnExcesses.PREFIX):
        assert tx.in_message is not None
        if tx.in_message.created_lt == change.created_lt:
            receiving_fee = tx.total_fees
        else:
            refunds += tx.in_message.value - tx.total_fees
    sent = value + send.total_fees + sum(msg.fwd_fee for msg in send.internal_out)
    assert sb.keeper.balance == before - sent + change.value - receiving_fee + refunds


def test_a_batch_records_every_member_and_returns_the_change(reporting_pool: PoolSandbox) -> None:
    sb = reporting_pool
    names = batch_members(sb)
    view = sb.pool.reporting_epoch()
    participants_before = participant_balances(sb, names)
    reports = signed(sb, names)
    value = report_value(len(reports))
    before = sb.keeper.balance
    trace = sb.pool.submit_reports(sb.keeper, reports).assert_success()

    submit = dist_tx(sb, trace, m.SubmitReport.PREFIX)
    applies = [msg for msg in submit.internal_out if msg.op == m.ApplyReport.PREFIX]
    assert [raw_address(msg.dest) for msg in applies if msg.dest is not None] == [
        raw_address(sb.pool.participant_address(sb.members[name].address)) for name in names
    ]
    assert {msg.value for msg in applies} == {fee("REPORT_APPLY_VALUE")}
    wanted = [
        (
            raw_address(sb.members[name].address),
            (1, econ.contribution(mm), econ.penalty_bps(mm), econ.bonus_bps(mm)),
        )
        for name, mm in ((name, BATCH_METRICS[name]) for name in names)
    ]
    assert [(raw_address(e.member), figures(e)) for e in recorded_events(submit)] == wanted
    for name, (_, (_, c, p, b)) in zip(names, wanted, strict=True):
        slip = sb.pool.unclaimed(sb.members[name].address, 1)
        assert slip.found and (slip.contribution, slip.penalty_bps, slip.bonus_bps) == (c, p, b)
    summed = expected_aggregates(names)
    assert sb.pool.reporting_epoch() == with_aggregates(view, summed)
    # Each member's contract keeps what its ApplyReport's gas left of REPORT_APPLY_VALUE.
    for name, balance in participant_balances(sb, names).items():
        target = sb.pool.participant_address(sb.members[name].address)
        apply = trace.find(target, m.ApplyReport.PREFIX)
        assert balance == participants_before[name] + fee("REPORT_APPLY_VALUE") - apply.total_fees
    assert_relayer_change(sb, trace, value, before)
    sb.assert_conserved()
    # The epoch settles the batch as the model settles the same five members.
    received = sb.pool.ledger().received
    fin = one_event(sb.finalize(), EpochFinalized)
    expected = econ.simulate_epoch(
        received, sb.params.commission_bps, 0, [BATCH_METRICS[name] for name in names]
    )
    assert (fin.claimable, fin.reporters) == (expected.settlement.claimable, len(names))
    sb.assert_conserved()


def assert_batch_refused_without_effect(
    sb: PoolSandbox, error: str, names: list[str], relay: Callable[[], Trace]
) -> None:
    """``relay`` sends a batch the distribution refuses with ``error``: the keeper loses only
    fees, and the epoch, the ledger, the named members' contracts and slips are as before."""
    view = sb.pool.reporting_epoch()
    ledger = sb.pool.ledger()
    participants_before = participant_balances(sb, names)
    before = sb.keeper.balance
    trace = relay()
    refused(sb, trace, error)
    assert len(trace) == 3  # keeper -> distribution -> bounce to keeper; nothing sent on
    assert_caller_lost_only_fees(sb, sb.keeper, before, trace)
    assert sb.pool.reporting_epoch() == view
    assert sb.pool.ledger() == ledger
    assert participant_balances(sb, names) == participants_before
    for name in names:
        assert not sb.pool.unclaimed(sb.members[name].address, 1).found
    sb.assert_conserved()


@pytest.mark.parametrize("case", sorted(set(REJECTED_REPORTS) - {"value-too-low"}))
def test_one_bad_report_rejects_the_whole_batch(reporting_pool: PoolSandbox, case: str) -> None:
    sb = reporting_pool
    error, make, _ = REJECTED_REPORTS[case]
    view = sb.pool.reporting_epoch()
    names = ["a", "b", "c"]
    bad = m.SubmitReport.from_cell(make(sb, sb.members["b"].address, view.end - view.start))
    good = signed(sb, names)
    batch = batch_message([good[0], bad, good[2]], 1)
    assert_batch_refused_without_effect(
        sb,
        error,
        names,
        lambda: sb.keeper.send(sb.pool.distribution, report_value(3), batch.to_cell()),
    )


def test_a_batch_over_the_limit_is_rejected(reporting_pool: PoolSandbox) -> None:
    sb = reporting_pool
    count = MAX_REPORTS_PER_BATCH + 1
    reports = [
        sb.pool.signed_report(sb.signer, Address(f"0:{i:064x}"), 1, METRICS["a"])
        for i in range(1, count + 1)
    ]
    body = chained(reports).to_cell()
    assert_batch_refused_without_effect(
        sb,
        "REPORT_BATCH_TOO_LARGE",
        [],
        lambda: sb.keeper.send(sb.pool.distribution, report_value(count), body),
    )


def test_a_full_batch_fits_in_one_transaction(reporting_pool: PoolSandbox) -> None:
    """MAX_REPORTS_PER_BATCH reports at the default 1-of-1 quorum: the SubmitReport transaction
    succeeds within the gas limit and sends one ApplyReport each. No such members exist, so
    each bounces back and takes its report out again: the epoch ends as it began."""
    sb = reporting_pool
    view = sb.pool.reporting_epoch()
    ledger = sb.pool.ledger()
    reports = [
        sb.pool.signed_report(sb.signer, Address(f"0:{i:064x}"), 1, METRICS["a"])
        for i in range(1, MAX_REPORTS_PER_BATCH + 1)
    ]
    trace = sb.pool.submit_reports(sb.keeper, reports)
    submit = dist_tx(sb, trace, m.SubmitReport.PREFIX)
    assert submit.success, submit.describe()
    assert len(recorded_events(submit)) == MAX_REPORTS_PER_BATCH
    back = trace.find_all(sb.pool.distribution, RICH_BOUNCE_OP)
    assert len(back) == MAX_REPORTS_PER_BATCH and all(tx.success for tx in back)
    assert len(trace_events(trace, ContributionRefused)) == MAX_REPORTS_PER_BATCH
    assert sb.pool.reporting_epoch() == view
    after = sb.pool.ledger()
    assert (after.unsettled, after.reserve) == (ledger.unsettled, ledger.reserve)
    sb.assert_conserved()


def test_a_batch_with_too_little_value_for_its_count(reporting_pool: PoolSandbox) -> None:
    """Enough for one report passes the first check; the count is checked after the loop."""
    sb = reporting_pool
    names = ["a", "b", "c"]
    reports = signed(sb, names)
    assert_batch_refused_without_effect(
        sb,
        "DISTRIBUTION_VALUE_TOO_LOW",
        names,
        lambda: sb.pool.submit_reports(sb.keeper, reports, value=report_value(len(names)) - 1),
    )


def test_a_refused_member_in_a_batch_is_taken_back_out(reporting_pool: PoolSandbox) -> None:
    """The unverified member in the middle: the other two count, its contribution leaves the
    aggregates exactly as it came in, and its part of the relay's value is refunded."""
    sb = reporting_pool
    view = sb.pool.reporting_epoch()
    names = ["a", "u", "b"]
    reports = signed(sb, names)
    value = report_value(len(reports))
    before = sb.keeper.balance
    trace = sb.pool.submit_reports(sb.keeper, reports)
    submit = dist_tx(sb, trace, m.SubmitReport.PREFIX)
    assert submit.success
    recorded = recorded_events(submit)
    assert [raw_address(e.member) for e in recorded] == [
        raw_address(sb.members[name].address) for name in names
    ]
    target = sb.pool.participant_address(sb.members["u"].address)
    apply = trace.find(target, m.ApplyReport.PREFIX)
    assert apply.exit_code == code("NOT_VERIFIED") and apply.bounced
    back = dist_tx(sb, trace, RICH_BOUNCE_OP)
    assert back.success and back.in_message is not None and back.in_message.bounced
    (refund,) = back.internal_out
    assert same(refund.dest, sb.keeper.address) and refund.op == m.ReturnExcesses.PREFIX
    assert refund.value == (
        back.in_message.value - (back.total_fees - back.storage_fees) - refund.fwd_fee
    )
    refused_event = one_event(trace, ContributionRefused, sb.pool.distribution)
    assert same(refused_event.participant, target)
    assert figures(refused_event) == figures(recorded[1])
    for name in ("a", "b"):
        assert trace.find(
            sb.pool.participant_address(sb.members[name].address), m.ApplyReport.PREFIX
        ).success
        assert sb.pool.unclaimed(sb.members[name].address, 1).found
    assert not sb.pool.unclaimed(sb.members["u"].address, 1).found
    summed = expected_aggregates(["a", "b"])
    assert aggregates(sb.pool.reporting_epoch()) == summed
    assert sb.pool.reporting_epoch() == with_aggregates(view, summed)
    assert_relayer_change(sb, trace, value, before)
    sb.assert_conserved()


def test_an_accepted_report_leaves_the_rest_of_its_value_with_the_member(
    reporting_pool: PoolSandbox,
) -> None:
    sb = reporting_pool
    a = sb.members["a"]
    target = sb.pool.participant_address(a.address)
    balance = sb.chain.get_balance(target)
    trace = sb.report(a, 1, METRICS["a"]).assert_success()
    apply = trace.find(target, m.ApplyReport.PREFIX)
    assert apply.in_message is not None and apply.in_message.value == fee("REPORT_APPLY_VALUE")
    assert apply.internal_out == ()  # no answer to the distribution
    assert sb.chain.get_balance(target) == balance + fee("REPORT_APPLY_VALUE") - apply.total_fees
    sb.assert_conserved()


def test_report_replayed_in_a_later_epoch(reporting_pool: PoolSandbox) -> None:
    sb = reporting_pool
    a = sb.members["a"]
    report_all(sb, 1)
    sb.finalize()
    sb.pool.send_income(sb.proxy, ton(5)).assert_success()
    sb.close_epoch()
    refused(sb, sb.report(a, 1, METRICS["a"]), "WRONG_REPORT_EPOCH")
    assert sb.pool.reporting_epoch().reporters == 0
    sb.assert_conserved()


# ---------------------------------------------------------------- CloseEpoch / FinalizeEpoch


def test_close_epoch_not_over(reporting_pool: PoolSandbox) -> None:
    sb = reporting_pool
    ledger = sb.pool.ledger()
    sb.chain.set_now(ledger.epoch_start + ledger.epoch_length - 1)
    refused(sb, sb.pool.close_epoch(sb.keeper), "EPOCH_NOT_OVER")
    assert sb.pool.ledger().current_epoch == ledger.current_epoch
    sb.assert_conserved()


def test_close_epoch_value_too_low(open_pool: PoolSandbox) -> None:
    sb = open_pool
    ledger = sb.pool.ledger()
    sb.chain.set_now(ledger.epoch_start + ledger.epoch_length)
    trace = sb.pool.close_epoch(sb.keeper, value=fee("EPOCH_CRANK_FEE") - 1)
    refused(sb, trace, "DISTRIBUTION_VALUE_TOO_LOW")
    assert sb.pool.ledger().epochs_closed == 0
    sb.assert_conserved()


def test_close_epoch_while_previous_still_reporting(open_pool: PoolSandbox) -> None:
    sb = open_pool
    ledger = sb.pool.ledger()
    # Closed late, epoch 1's report window reaches past the end of epoch 2.
    sb.chain.set_now(ledger.epoch_start + 2 * ledger.epoch_length - ledger.report_grace // 2)
    closed = one_event(sb.pool.close_epoch(sb.keeper).assert_success(), EpochClosed)
    assert (closed.epoch, closed.end) == (1, ledger.epoch_start + ledger.epoch_length)
    sb.chain.set_now(closed.end + ledger.epoch_length)
    assert sb.chain.now <= closed.report_deadline
    refused(sb, sb.pool.close_epoch(sb.keeper), "PREVIOUS_EPOCH_STILL_REPORTING")
    # Once the window is over, the close finalizes epoch 1 on the way.
    sb.chain.set_now(closed.report_deadline + 1)
    trace = sb.pool.close_epoch(sb.keeper).assert_success()
    assert one_event(trace, EpochFinalized).epoch == 1
    assert one_event(trace, EpochClosed).epoch == 2
    sb.assert_conserved()


def test_finalize_without_reporting_epoch(open_pool: PoolSandbox) -> None:
    sb = open_pool
    refused(sb, sb.pool.finalize_epoch(sb.keeper), "NO_REPORTING_EPOCH")
    sb.assert_conserved()


def test_finalize_while_window_open(reporting_pool: PoolSandbox) -> None:
    sb = reporting_pool
    sb.chain.set_now(sb.pool.reporting_epoch().deadline)
    refused(sb, sb.pool.finalize_epoch(sb.keeper), "REPORT_WINDOW_OPEN")
    sb.chain.advance(1)
    refused(
        sb,
        sb.pool.finalize_epoch(sb.keeper, value=fee("EPOCH_CRANK_FEE") - 1),
        "DISTRIBUTION_VALUE_TOO_LOW",
    )
    one_event(sb.pool.finalize_epoch(sb.keeper).assert_success(), EpochFinalized)
    refused(sb, sb.pool.finalize_epoch(sb.keeper), "NO_REPORTING_EPOCH")
    sb.assert_conserved()


def test_nobody_reported_sends_net_to_reserve(reporting_pool: PoolSandbox) -> None:
    sb = reporting_pool
    net = sb.pool.reporting_epoch().net
    fin = one_event(sb.finalize(), EpochFinalized)
    assert (fin.claimable, fin.penalty_pool, fin.bonus_paid, fin.reporters) == (0, 0, 0, 0)
    ledger = sb.pool.ledger()
    assert (ledger.reserve, ledger.unsettled) == (net, 0)
    assert not sb.pool.final_epoch(1).found
    sb.assert_conserved()


# ---------------------------------------------------------------- claims and payouts


def test_full_epoch_matches_model_and_retires(reporting_pool: PoolSandbox) -> None:
    sb = reporting_pool
    received = sb.pool.ledger().received
    report_all(sb, 1)
    fin = one_event(sb.finalize(), EpochFinalized)
    expected = econ.simulate_epoch(received, sb.params.commission_bps, 0, list(METRICS.values()))
    s = expected.settlement
    assert (fin.penalty_pool, fin.bonus_paid, fin.claimable, fin.reporters) == (
        s.penalty_pool,
        s.bonus_paid,
        s.claimable,
        3,
    )
    assert sb.pool.ledger().reserve == s.reserve_out
    for (name, _), share in zip(METRICS.items(), expected.shares, strict=True):
        member = sb.members[name]
        before = member.balance
        trace = sb.pool.crank_payout(sb.keeper, member.address, 1).assert_success()
        settled = one_event(trace, RewardSettled)
        assert (settled.payout, settled.pending_carry, settled.paid_now) == (share.payout, 0, True)
        (payout_tx,) = trace.find_all(member.address, m.RewardPayout.PREFIX)
        assert payout_tx.in_message is not None
        assert member.balance - before == payout_tx.in_message.value - payout_tx.total_fees
        sb.assert_conserved()
    retired = trace_events(trace, EpochRetired)
    assert retired == [EpochRetired(epoch=1, dust=expected.dust)]
    ledger = sb.pool.ledger()
    assert ledger.reserve == expected.reserve_after_sweep
    assert ledger.paid == sum(expected.payouts)
    assert (ledger.unsettled, ledger.pending_credit, ledger.dust_swept) == (0, 0, expected.dust)
    assert not sb.pool.final_epoch(1).found


def test_crank_pays_the_keeper_back_its_excess(reporting_pool: PoolSandbox) -> None:
    """A keeper's unspent crank value goes back to the keeper, not to the member it paid."""
    sb = reporting_pool
    report_all(sb, 1)
    sb.finalize()
    a = sb.members["a"]
    before = sb.keeper.balance
    trace = sb.pool.crank_payout(sb.keeper, a.address, 1).assert_success()
    settled = one_event(trace, RewardSettled)
    (payout_tx,) = trace.find_all(a.address, m.RewardPayout.PREFIX)
    assert payout_tx.in_message is not None
    assert payout_tx.in_message.value == settled.payout
    spent = before - sb.keeper.balance
    assert 0 < spent < fee("MEMBER_OP_FEE") // 2
    sb.assert_conserved()


def test_claim_before_final_restores_the_slip(reporting_pool: PoolSandbox) -> None:
    sb = reporting_pool
    report_all(sb, 1)
    a = sb.members["a"]
    slip = sb.pool.unclaimed(a.address, 1)
    assert slip.found
    before = sb.keeper.balance
    trace = sb.pool.crank_payout(sb.keeper, a.address, 1)
    refused(sb, trace, "EPOCH_NOT_FINAL", m.SettleClaim.PREFIX)
    restore = trace.find(sb.pool.participant_address(a.address), RICH_BOUNCE_OP)
    assert restore.success
    assert sb.pool.unclaimed(a.address, 1) == slip
    assert sb.pool.participant_info(a.address).pending == 0
    assert sb.pool.reporting_epoch().reporters == 3
    assert_caller_lost_only_fees(sb, sb.keeper, before, trace)
    sb.assert_conserved()
    # The same crank after the window finalizes on the way and pays.
    sb.chain.set_now(sb.pool.reporting_epoch().deadline + 1)
    trace = sb.pool.crank_payout(sb.keeper, a.address, 1).assert_success()
    assert one_event(trace, EpochFinalized).epoch == 1 and one_event(trace, RewardSettled).paid_now
    sb.assert_conserved()


def test_own_claim_that_finalizes_on_its_way_pays_exactly_once(reporting_pool: PoolSandbox) -> None:
    # The claim logs EpochFinalized before its payment, so it pays with the reserve and mode
    # 128 instead of mode 64: the event's fee must come out of the member's value, not the pot.
    sb = reporting_pool
    report_all(sb, 1)
    a = sb.members["a"]
    paid_before = sb.pool.ledger().paid
    sb.chain.set_now(sb.pool.reporting_epoch().deadline + 1)
    before = a.balance
    trace = sb.pool.claim_rewards(a, 1).assert_success()
    assert one_event(trace, EpochFinalized).epoch == 1
    settled = one_event(trace, RewardSettled)
    assert settled.paid_now and settled.pending_carry == 0 and settled.payout > 0
    assert sb.pool.ledger().paid == paid_before + settled.payout
    assert_caller_lost_only_fees(sb, a, before, trace, received=settled.payout)
    sb.assert_conserved()
    # Replayed, the claim finds no slip: nothing moves but the member's fees.
    before = a.balance
    replay = sb.pool.claim_rewards(a, 1)
    tx = replay.find(sb.pool.participant_address(a.address), m.ClaimRewards.PREFIX)
    assert tx.exit_code == code("NOTHING_TO_CLAIM")
    assert sb.pool.ledger().paid == paid_before + settled.payout
    assert_caller_lost_only_fees(sb, a, before, replay)
    sb.assert_conserved()


def test_crank_credited_as_pending_that_retires_the_epoch_conserves() -> None:
    # The epoch's only claim retires it (EpochRetired logged), then the credit goes back with
    # the reserve and mode 128: the keeper pays the event, the pot pays nothing.
    signer = OracleSigner.from_seed_text("retire-pending")
    params = PoolParams(oracle_key=signer.public_key, min_payout=ton(1000))
    sb = PoolSandbox.create(params=params, oracle_seed="retire-pending")
    a = sb.add_member("a")
    sb.pool.send_income(sb.proxy, ton(5)).assert_success()
    sb.close_epoch()
    sb.report(a, 1, METRICS["a"]).assert_success()
    one_event(sb.finalize(), EpochFinalized)
    before = sb.keeper.balance
    trace = sb.pool.crank_payout(sb.keeper, a.address, 1).assert_success()
    retired = one_event(trace, EpochRetired)
    settled = one_event(trace, RewardSettled)
    assert retired.epoch == 1 and not settled.paid_now
    assert sb.pool.participant_info(a.address).pending == settled.payout > 0
    assert sb.pool.ledger().pending_credit == settled.payout
    assert not trace.find_all(a.address, m.RewardPayout.PREFIX)
    assert_caller_lost_only_fees(sb, sb.keeper, before, trace)
    sb.assert_conserved()


def test_claim_without_slip_and_for_unknown_epoch(reporting_pool: PoolSandbox) -> None:
    sb = reporting_pool
    a = sb.members["a"]
    trace = sb.pool.crank_payout(sb.keeper, a.address, 7)
    tx = trace.find(sb.pool.participant_address(a.address), m.CrankPayout.PREFIX)
    assert tx.exit_code == code("NOTHING_TO_CLAIM")
    # The distribution itself refuses an epoch it holds no final record of; a real
    # participant never asks for one, so the claim comes from a never-deployed participant.
    ghost = sb.wallet("ghost").address
    claim = m.SettleClaim(
        query_id=1,
        epoch=7,
        contribution=1,
        penalty_bps=0,
        bonus_bps=0,
        pending_carry=0,
        pay_below_minimum=True,
        member=ghost,
        excess_to=ghost,
    ).to_cell()
    ledger = sb.pool.ledger()
    trace = sb.chain.send_internal(
        sb.pool.participant_address(ghost), sb.pool.distribution, fee("MEMBER_OP_FEE"), claim
    )
    assert trace[0].exit_code == code("UNKNOWN_EPOCH") and trace[0].bounced
    after = sb.pool.ledger()
    assert (after.paid, after.unsettled, after.reserve) == (
        ledger.paid,
        ledger.unsettled,
        ledger.reserve,
    )
    sb.assert_conserved()


def test_below_minimum_stays_pending_then_paid_with_next_epoch() -> None:
    signer = OracleSigner.from_seed_text("pending-oracle")
    params = PoolParams(oracle_key=signer.public_key, min_payout=ton(2))
    sb = PoolSandbox.create(params=params, oracle_seed="pending-oracle")
    a, b = sb.add_member("a"), sb.add_member("b")
    metrics = [METRICS["a"], METRICS["b"]]
    reserve = 0
    payouts: list[int] = []
    own: list[int] = []
    for epoch, income in ((1, ton("2.5")), (2, ton(20))):
        sb.pool.send_income(sb.proxy, income).assert_success()
        closed = one_event(sb.close_epoch(), EpochClosed)
        sb.report(a, epoch, metrics[0]).assert_success()
        sb.report(b, epoch, metrics[1]).assert_success()
        one_event(sb.finalize(), EpochFinalized)
        expected = econ.simulate_epoch(closed.received, sb.params.commission_bps, reserve, metrics)
        payouts.append(expected.shares[0].payout)
        trace = sb.pool.crank_payout(sb.keeper, a.address, epoch).assert_success()
        settled = one_event(trace, RewardSettled)
        assert settled.payout == expected.shares[0].payout
        if epoch == 1:
            assert settled.payout < params.min_payout
            assert (settled.pending_carry, settled.paid_now) == (0, False)
            credited = one_event(trace, PendingCredited)
            assert credited.pending == settled.payout
            assert sb.pool.participant_info(a.address).pending == settled.payout
            assert sb.pool.ledger().pending_credit == settled.payout
            assert not trace.find_all(a.address, m.RewardPayout.PREFIX)
        else:
            assert (settled.pending_carry, settled.paid_now) == (payouts[0], True)
            (paid,) = trace.find_all(a.address, m.RewardPayout.PREFIX)
            body = m.RewardPayout.from_cell(paid.in_message.body) if paid.in_message else None
            assert body is not None and body.amount == sum(payouts)
            assert sb.pool.participant_info(a.address).pending == 0
            assert sb.pool.ledger().pending_credit == 0
        sb.assert_conserved()
        # b claims itself: a member is paid whatever the amount, even below the minimum.
        mine = one_event(sb.pool.claim_rewards(b, epoch).assert_success(), RewardSettled)
        assert (mine.payout, mine.paid_now) == (expected.shares[1].payout, True)
        own.append(mine.payout)
        reserve = expected.reserve_after_sweep
        sb.assert_conserved()
    assert sb.pool.ledger().paid == sum(payouts) + sum(own)


def test_two_settlements_in_flight_keep_both_pending() -> None:
    """Two below-minimum credits for one member arriving back to back both stay owed."""
    signer = OracleSigner.from_seed_text("flight-oracle")
    params = PoolParams(oracle_key=signer.public_key, min_payout=ton(1_000))
    sb = PoolSandbox.create(params=params, oracle_seed="flight-oracle")
    a = sb.add_member("a")
    for epoch in (1, 2):
        sb.pool.send_income(sb.proxy, ton(10)).assert_success()
        sb.close_epoch()
        sb.report(a, epoch, METRICS["a"]).assert_success()
    sb.finalize()
    target = sb.pool.participant_address(a.address)
    cranks = [
        (internal_message(dest=target, value=fee("MEMBER_OP_FEE"), body=crank.to_cell()), 3)
        for crank in (m.CrankPayout(query_id=1, epoch=1), m.CrankPayout(query_id=2, epoch=2))
    ]
    trace = sb.keeper.send_raw(cranks).assert_success()
    owed = sum(e.payout for e in trace_events(trace, RewardSettled))
    assert sb.pool.ledger().pending_credit == owed
    assert sb.pool.participant_info(a.address).pending == owed


def test_older_final_epoch_is_claimed_from_the_dictionary(reporting_pool: PoolSandbox) -> None:
    """The latest final epoch lives in the root; finalizing the next one moves it, with its
    counters, to the dictionary of older epochs, from which late claims are paid exactly."""
    sb = reporting_pool
    names = list(METRICS)
    metrics = list(METRICS.values())
    report_all(sb, 1)
    sb.finalize()
    first = sb.pool.final_epoch(1)
    assert first.found and first.claims_left == len(METRICS)
    expected_1 = econ.simulate_epoch(
        sb.pool.ledger().received, sb.params.commission_bps, 0, metrics
    )
    paid = one_event(sb.pool.claim_rewards(sb.members[names[0]], 1).assert_success(), RewardSettled)
    assert paid.payout == expected_1.shares[0].payout
    sb.pool.send_income(sb.proxy, INCOME).assert_success()
    closed = one_event(sb.close_epoch(), EpochClosed)
    report_all(sb, 2)
    sb.finalize()
    older = sb.pool.final_epoch(1)
    assert older == dataclasses.replace(
        first, remaining=first.remaining - paid.payout, claims_left=len(METRICS) - 1
    )
    reserve = expected_1.settlement.reserve_out
    expected_2 = econ.simulate_epoch(closed.received, sb.params.commission_bps, reserve, metrics)
    for i, name in enumerate(names):
        settled = one_event(
            sb.pool.crank_payout(sb.keeper, sb.members[name].address, 2).assert_success(),
            RewardSettled,
        )
        assert settled.payout == expected_2.shares[i].payout
    assert not sb.pool.final_epoch(2).found and sb.pool.final_epoch(1).found
    for i, name in enumerate(names[1:], start=1):
        trace = sb.pool.crank_payout(sb.keeper, sb.members[name].address, 1).assert_success()
        assert one_event(trace, RewardSettled).payout == expected_1.shares[i].payout
    assert one_event(trace, EpochRetired).dust == expected_1.dust
    assert not sb.pool.final_epoch(1).found
    sb.assert_conserved()


# ---------------------------------------------------------------- CreditPending bounce


def rich_bounce(original: Cell, value: int, exit_code: int) -> Cell:
    """The body the TVM delivers for a RichBounceOnlyRootCell bounce (stdlib RichBounceBody)."""
    info = begin_cell().store_coins(value).store_bit(0).store_uint(1, 64).store_uint(1, 32)
    return (
        begin_cell()
        .store_uint(RICH_BOUNCE_OP, 32)
        .store_ref(original)
        .store_ref(info.end_cell())
        .store_uint(1, 8)  # bounced by the compute phase
        .store_int(exit_code, 32)
        .store_bit(1)
        .store_uint(1_000, 32)
        .store_uint(100, 32)
        .end_cell()
    )


def test_credit_pending_bounce_moves_the_amount_to_reserve() -> None:
    """A participant cannot refuse CreditPending in practice, so the TVM's bounce is injected."""
    signer = OracleSigner.from_seed_text("credit-oracle")
    params = PoolParams(oracle_key=signer.public_key, min_payout=ton(1_000))
    sb = PoolSandbox.create(params=params, oracle_seed="credit-oracle")
    a = sb.add_member("a")
    sb.pool.send_income(sb.proxy, ton(10)).assert_success()
    sb.close_epoch()
    sb.report(a, 1, METRICS["a"]).assert_success()
    sb.finalize()
    trace = sb.pool.crank_payout(sb.keeper, a.address, 1).assert_success()
    credit_msg = next(
        msg for tx in trace for msg in tx.internal_out if msg.op == m.CreditPending.PREFIX
    )
    credit = m.CreditPending.from_cell(credit_msg.body)
    ledger = sb.pool.ledger()
    assert ledger.pending_credit == credit.amount > 0
    before = sb.keeper.balance
    value = ton("0.03")
    trace = sb.chain.send_internal(
        sb.pool.participant_address(a.address),
        sb.pool.distribution,
        value,
        rich_bounce(credit_msg.body, value, code("PARTICIPANT_NOT_FROM_DISTRIBUTION")),
        bounce=False,
        bounced=True,
    )
    tx = dist_tx(sb, trace)
    assert tx.success
    (refund,) = tx.internal_out
    assert refund.dest == sb.keeper.address == credit.excess_to
    assert refund.value == value - (tx.total_fees - tx.storage_fees) - refund.fwd_fee
    assert sb.keeper.balance - before == refund.value - trace[-1].total_fees
    after = sb.pool.ledger()
    assert after.pending_credit == ledger.pending_credit - credit.amount
    assert after.reserve == ledger.reserve + credit.amount
    assert after.paid == ledger.paid
    sb.assert_conserved()


# ---------------------------------------------------------------- roles


def _pool_only(sb: PoolSandbox) -> dict[str, Cell]:
    anyone = sb.keeper.address
    return {
        "InitDistribution": m.InitDistribution(
            query_id=1,
            registry=anyone,
            oracle_quorum=1,
            oracle_keys=m.oracle_keys_cell([1]),
            commission_bps=500,
            epoch_length=86_400,
            report_grace=3_600,
            min_payout=1,
        ).to_cell(),
        "SetPaused": m.SetPaused(query_id=1, paused=True).to_cell(),
        "UpdateDistributionConfig": m.UpdateDistributionConfig(
            query_id=1,
            oracle_quorum=1,
            oracle_keys=m.oracle_keys_cell([1]),
            commission_bps=1500,
            epoch_length=86_400,
        ).to_cell(),
        "SendCommission": m.SendCommission(query_id=1, recipient=anyone).to_cell(),
        "UpgradeCode": m.UpgradeCode(query_id=1, code=begin_cell().end_cell()).to_cell(),
        "StartWindDown": m.StartWindDown(query_id=1).to_cell(),
    }


def _participant_only(sb: PoolSandbox, member: Address) -> dict[str, Cell]:
    return {
        "ConfirmOwnerAction": m.ConfirmOwnerAction(
            query_id=1,
            action=m.OWNER_ACTION_WORKER_REGISTER,
            member=member,
            target=member,
            excess_to=member,
        ).to_cell(),
        "SettleClaim": m.SettleClaim(
            query_id=1,
            epoch=1,
            contribution=10**12,
            penalty_bps=0,
            bonus_bps=1000,
            pending_carry=0,
            pay_below_minimum=True,
            member=member,
            excess_to=member,
        ).to_cell(),
    }


WALLET_ROLES = ("admin", "pauser", "cocoon-proxy", "keeper", "a")


def _role_address(sb: PoolSandbox, role: str) -> Address:
    if role in sb.chain.wallets:
        return sb.chain.wallets[role].address
    return {
        "registry": sb.pool.registry,
        "participant-a": sb.pool.participant_address(sb.members["a"].address),
        "operator": sb.pool.operator,
    }[role]


def _send_as(sb: PoolSandbox, role: str, body: Cell) -> Trace:
    value = ton("0.1")
    if role in sb.chain.wallets:
        return sb.chain.wallets[role].send(sb.pool.distribution, value, body)
    # A contract's own message, delivered as it would arrive (non-bounceable keeps it simple:
    # the refused value stays and counts as income, which the books check covers).
    return sb.chain.send_internal(
        _role_address(sb, role), sb.pool.distribution, value, body, bounce=False
    )


_POOL_ONLY_OPS = (
    "InitDistribution",
    "SetPaused",
    "UpdateDistributionConfig",
    "SendCommission",
    "UpgradeCode",
    "StartWindDown",
)


@pytest.mark.parametrize("role", [*WALLET_ROLES, "registry", "participant-a"])
@pytest.mark.parametrize(
    "op",
    sorted(_POOL_ONLY_OPS),
)
def test_pool_only_ops_refuse_other_senders(
    reporting_pool: PoolSandbox, op: str, role: str
) -> None:
    sb = reporting_pool
    ledger = sb.pool.ledger()
    trace = _send_as(sb, role, _pool_only(sb)[op])
    tx = dist_tx(sb, trace)
    assert tx.exit_code == code("DISTRIBUTION_NOT_FROM_POOL"), tx.describe()
    after = sb.pool.ledger()
    assert dataclasses.replace(after, open_income=0) == dataclasses.replace(ledger, open_income=0)
    sb.assert_conserved()


@pytest.mark.parametrize("role", [*WALLET_ROLES, "registry", "operator", "participant-b"])
@pytest.mark.parametrize("op", ["ConfirmOwnerAction", "SettleClaim"])
def test_participant_only_ops_refuse_other_senders(
    reporting_pool: PoolSandbox, op: str, role: str
) -> None:
    sb = reporting_pool
    view = sb.pool.reporting_epoch()
    a = sb.members["a"].address
    body = _participant_only(sb, a)[op]
    if role == "participant-b":
        # Another member's own contract cannot speak for member a.
        trace = sb.chain.send_internal(
            sb.pool.participant_address(sb.members["b"].address),
            sb.pool.distribution,
            ton("0.1"),
            body,
            bounce=False,
        )
    else:
        trace = _send_as(sb, role, body)
    tx = dist_tx(sb, trace)
    assert tx.exit_code == code("DISTRIBUTION_NOT_FROM_PARTICIPANT"), tx.describe()
    assert sb.pool.reporting_epoch() == view
    sb.assert_conserved()


@pytest.mark.parametrize("role", ["admin", "keeper", "a", "b"])
def test_credit_pending_only_from_distribution(reporting_pool: PoolSandbox, role: str) -> None:
    sb = reporting_pool
    a = sb.members["a"].address
    body = m.CreditPending(query_id=1, epoch=1, amount=ton(50), excess_to=a).to_cell()
    sender = sb.chain.wallets[role]
    trace = sender.send(sb.pool.participant_address(a), ton("0.1"), body)
    tx = trace.find(sb.pool.participant_address(a))
    assert tx.exit_code == code("PARTICIPANT_NOT_FROM_DISTRIBUTION") and tx.bounced
    assert sb.pool.participant_info(a).pending == 0
    # Sent to the distribution it is no operation at all.
    refused(sb, sender.send(sb.pool.distribution, ton("0.1"), body), "DISTRIBUTION_UNKNOWN_OP")
    sb.assert_conserved()


def test_init_twice_from_the_pool_is_refused(reporting_pool: PoolSandbox) -> None:
    sb = reporting_pool
    body = _pool_only(sb)["InitDistribution"]
    trace = sb.chain.send_internal(
        sb.pool.operator, sb.pool.distribution, ton("0.1"), body, bounce=False
    )
    assert dist_tx(sb, trace).exit_code == code("DISTRIBUTION_ALREADY_INITIALIZED")
    sb.assert_conserved()


# ---------------------------------------------------------------- commission


def test_commission_collected_exactly(reporting_pool: PoolSandbox) -> None:
    sb = reporting_pool
    ledger = sb.pool.ledger()
    first = ledger.commission
    assert first == ledger.received * sb.params.commission_bps // econ.BPS
    report_all(sb, 1)
    sb.finalize()
    sb.pool.send_income(sb.proxy, ton(33)).assert_success()
    closed = one_event(sb.close_epoch(), EpochClosed)
    second = closed.commission
    assert second == closed.received * sb.params.commission_bps // econ.BPS
    assert sb.pool.ledger().commission_unpaid == first + second
    refused_tx = sb.pool.admin_call(sb.keeper, m.CollectCommission(query_id=1))
    assert refused_tx.find(sb.pool.operator).exit_code == code("NOT_ADMIN")
    before_admin = sb.admin.balance
    before_dist = sb.chain.get_balance(sb.pool.distribution)
    trace = sb.pool.admin_call(sb.admin, m.CollectCommission(query_id=2)).assert_success()
    collected = one_event(trace, CommissionCollected)
    assert (collected.amount, collected.recipient) == (first + second, sb.admin.address)
    assert sb.chain.get_balance(sb.pool.distribution) == before_dist - collected.amount - (
        storage_paid(trace, sb.pool.distribution)
    )
    assert sb.admin.balance - before_admin == collected.amount - trace_fees(trace) + (
        storage_paid(trace, sb.pool.distribution) + storage_paid(trace, sb.pool.operator)
    )
    ledger = sb.pool.ledger()
    assert (ledger.commission_unpaid, ledger.commission) == (0, first + second)
    sb.assert_conserved()
    again = one_event(
        sb.pool.admin_call(sb.admin, m.CollectCommission(query_id=3)), CommissionCollected
    )
    assert again.amount == 0
    sb.assert_conserved()
