"""The audit's attacks, each driven on the real TVM, each shown to move no value.

Messages can be replayed, sent with too little value, or held back and delivered late: the
emulator runs a trace at one instant, so a test holds a message back by cutting its trace
(``held``) and delivers it later with ``chain.send_message``, after a deadline, a finalize, a
pause or a bounce. docs/security.md lists every attack with the test that shows it here.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import pytest

from cocoon_pool import economics as econ
from cocoon_pool.chain.types import OutMessage, Trace, raw_address
from cocoon_pool.contracts import messages as m
from cocoon_pool.contracts.constants import fee, ton
from cocoon_pool.contracts.events import (
    ContributionRefused,
    EpochClosed,
    EpochFinalized,
    ReportWindowExtended,
    RewardSettled,
    trace_events,
)
from cocoon_pool.contracts.exit_codes import code
from cocoon_pool.contracts.pool import PoolParams
from cocoon_pool.contracts.reports import (
    TESTNET_GLOBAL_ID,
    OracleSigner,
    build_report,
    quorum_message,
)
from cocoon_pool.errors import ChainError
from cocoon_pool.sandbox import PoolSandbox
from tier_pools import INCOME, METRICS, report_all, reporting_base
from tracing import one_event


@pytest.fixture
def reporting_pool() -> PoolSandbox:
    return reporting_base().fork()


def held(sb: PoolSandbox, send: Callable[[], Trace], transactions: int) -> list[OutMessage]:
    """Run ``send`` but stop its trace after ``transactions`` transactions; return the messages
    the last one sent, which a test delivers later (or never)."""
    limit = sb.chain.max_trace_transactions
    sb.chain.max_trace_transactions = transactions
    try:
        with pytest.raises(ChainError):
            send()
    finally:
        sb.chain.max_trace_transactions = limit
    return list(sb.chain.transactions[-1].internal_out)


def deliver(sb: PoolSandbox, message: OutMessage) -> Trace:
    return sb.chain.send_message(message.cell).assert_success()


def pay_everyone_and_check_model(
    sb: PoolSandbox, epoch: int, expected: econ.EpochResult, names: tuple[str, ...]
) -> None:
    """Crank every member's payout of ``epoch`` and compare each to the reference model."""
    for name, share in zip(names, expected.shares, strict=True):
        trace = sb.pool.crank_payout(sb.keeper, sb.members[name].address, epoch).assert_success()
        assert one_event(trace, RewardSettled).payout == share.payout, name
        sb.assert_conserved()


def assert_refused(trace: Trace, address: object, error: str) -> None:
    tx = trace.find(address)  # type: ignore[arg-type]
    assert tx.exit_code == code(error), trace.describe()
    assert tx.bounced


# ---------------------------------------------------------------- finding 1: replayed reports


def test_replays_held_back_past_the_deadline_never_dilute_anyone(
    reporting_pool: PoolSandbox,
) -> None:
    """A copied signed report relayed K times near the deadline, each refusal delivered late:
    none ever enters the aggregates, finalize waits for every refusal, and every member gets
    exactly the reference model's payout of the honest reports."""
    sb = reporting_pool
    received = sb.pool.ledger().received
    report_all(sb, 1)
    honest = sb.pool.reporting_epoch()
    a = sb.members["a"]
    sb.chain.set_now(honest.deadline)
    bounces = []
    for _ in range(3):
        # keeper wallet, SubmitReport, ApplyReport (refused: replayed); the bounce is held.
        (bounce,) = held(sb, lambda: sb.report(a, 1, METRICS["a"]), 3)
        assert sb.chain.transactions[-1].exit_code == code("REPORT_REPLAYED")
        bounces.append(bounce)
    view = sb.pool.reporting_epoch()
    assert view.in_flight == 3
    assert (view.contribution_sum, view.penalty_weight, view.bonus_weight, view.reporters) == (
        honest.contribution_sum,
        honest.penalty_weight,
        honest.bonus_weight,
        honest.reporters,
    )
    sb.chain.set_now(honest.deadline + 1)
    # Nothing can freeze the epoch while a refusal is on its way: finalize, a claim that would
    # finalize on the way, and closing the next epoch all wait.
    trace = sb.pool.finalize_epoch(sb.keeper)
    assert_refused(trace, sb.pool.distribution, "REPORTS_IN_FLIGHT")
    trace = sb.pool.crank_payout(sb.keeper, a.address, 1)
    assert_refused(trace, sb.pool.distribution, "REPORTS_IN_FLIGHT")
    assert sb.pool.unclaimed(a.address, 1).found  # the bounce gave the slip back
    sb.chain.set_now(sb.pool.ledger().epoch_start + sb.pool.ledger().epoch_length)
    assert_refused(sb.pool.close_epoch(sb.keeper), sb.pool.distribution, "REPORTS_IN_FLIGHT")
    for bounce in bounces:
        before = sb.keeper.balance
        trace = deliver(sb, bounce)
        assert one_event(trace, ContributionRefused).epoch == 1
        assert sb.keeper.balance > before  # the relay's value came back
    assert sb.pool.reporting_epoch().in_flight == 0
    sb.assert_conserved()
    sb.pool.finalize_epoch(sb.keeper).assert_success()
    names = tuple(METRICS)
    expected = econ.simulate_epoch(received, sb.params.commission_bps, 0, list(METRICS.values()))
    pay_everyone_and_check_model(sb, 1, expected, names)
    assert sb.pool.ledger().reserve == expected.reserve_after_sweep


def test_an_accepted_report_held_back_counts_before_finalize(reporting_pool: PoolSandbox) -> None:
    """The member's acceptance delivered late (after the deadline) still counts: finalize cannot
    run before it lands, so it never changes a frozen epoch."""
    sb = reporting_pool
    received = sb.pool.ledger().received
    report_all(sb, 1, ("a", "b"))
    c = sb.members["c"]
    # keeper wallet, SubmitReport, ApplyReport (accepted); ReportAccepted is held.
    (accepted,) = held(sb, lambda: sb.report(c, 1, METRICS["c"]), 3)
    assert accepted.op == m.ReportAccepted.PREFIX
    assert sb.pool.reporting_epoch().in_flight == 1
    sb.chain.set_now(sb.pool.reporting_epoch().deadline + 1)
    assert_refused(sb.pool.finalize_epoch(sb.keeper), sb.pool.distribution, "REPORTS_IN_FLIGHT")
    deliver(sb, accepted)
    view = sb.pool.reporting_epoch()
    assert (view.in_flight, view.reporters) == (0, 3)
    sb.pool.finalize_epoch(sb.keeper).assert_success()
    expected = econ.simulate_epoch(received, sb.params.commission_bps, 0, list(METRICS.values()))
    pay_everyone_and_check_model(sb, 1, expected, tuple(METRICS))


# ---------------------------------------------------------------- finding 4: pause


def test_a_pause_inside_the_window_gives_the_window_back(reporting_pool: PoolSandbox) -> None:
    """Paused 100 s before the deadline and kept paused for a week: nobody could report, so the
    epoch cannot be finalized, and unpausing reopens the window for exactly the 100 s that were
    left. The late reporters still get their model share."""
    sb = reporting_pool
    received = sb.pool.ledger().received
    report_all(sb, 1, ("a",))
    deadline = sb.pool.reporting_epoch().deadline
    sb.chain.set_now(deadline - 100)
    paused_at = sb.chain.now
    sb.pool.admin_call(sb.pauser, m.PausePool(query_id=1)).assert_success()
    sb.chain.advance(7 * 86_400)
    assert_refused(sb.pool.finalize_epoch(sb.keeper), sb.pool.distribution, "DISTRIBUTION_PAUSED")
    unpause = sb.pool.admin_call(sb.admin, m.UnpausePool(query_id=2)).assert_success()
    extended = one_event(unpause, ReportWindowExtended)
    assert extended.deadline == deadline + (sb.chain.now - paused_at)
    assert extended.deadline - sb.chain.now == 100
    report_all(sb, 1, ("b", "c"))
    sb.chain.set_now(extended.deadline + 1)
    sb.pool.finalize_epoch(sb.keeper).assert_success()
    expected = econ.simulate_epoch(received, sb.params.commission_bps, 0, list(METRICS.values()))
    pay_everyone_and_check_model(sb, 1, expected, tuple(METRICS))


def test_a_pause_after_the_deadline_does_not_hold_the_epoch(reporting_pool: PoolSandbox) -> None:
    sb = reporting_pool
    report_all(sb, 1)
    deadline = sb.pool.reporting_epoch().deadline
    sb.chain.set_now(deadline + 1)
    sb.pool.admin_call(sb.pauser, m.PausePool(query_id=1)).assert_success()
    one_event(sb.pool.finalize_epoch(sb.keeper).assert_success(), EpochFinalized)
    trace = sb.pool.admin_call(sb.admin, m.UnpausePool(query_id=2)).assert_success()
    assert trace_events(trace, ReportWindowExtended) == []
    sb.assert_conserved()


# ---------------------------------------------------------------- finding 5: the reserve's exit


def test_wind_down_pays_the_reserve_to_the_last_epoch(reporting_pool: PoolSandbox) -> None:
    sb = reporting_pool
    names = tuple(METRICS)
    report_all(sb, 1)
    sb.finalize()
    for name in names:
        sb.pool.claim_rewards(sb.members[name], 1).assert_success()
    reserve = sb.pool.ledger().reserve
    assert reserve > 0  # penalties exceeded the bonus demand
    sb.pool.admin_call(sb.admin, m.ClosePool(query_id=1)).assert_success()
    assert sb.pool.ledger().winding_down and sb.pool.registry_info().closing
    sb.pool.send_income(sb.proxy, ton(40)).assert_success()
    closed = one_event(sb.close_epoch(), EpochClosed)
    report_all(sb, 2)
    finalized = one_event(sb.finalize(), EpochFinalized)
    expected = econ.simulate_epoch(
        closed.received, sb.params.commission_bps, reserve, list(METRICS.values()), wind_down=True
    )
    assert (finalized.reserve_in, finalized.claimable) == (reserve, closed.net + reserve)
    assert finalized.claimable == expected.settlement.claimable
    assert sb.pool.ledger().reserve == 0 and sb.pool.final_epoch(2).flat
    for name, share in zip(names, expected.shares, strict=True):
        trace = sb.pool.claim_rewards(sb.members[name], 2).assert_success()
        assert one_event(trace, RewardSettled).payout == share.payout
    # What is left is the rounding dust of this last epoch: under one nanoton per member.
    assert sb.pool.ledger().reserve == expected.dust < len(names)
    sb.assert_conserved()


# ---------------------------------------------------------------- finding 6: commission timing


def test_a_commission_change_never_applies_to_income_already_received() -> None:
    sb = PoolSandbox.create()
    sb.add_member("a")
    sb.pool.send_income(sb.proxy, ton(100)).assert_success()
    sb.pool.propose_change(sb.admin, m.ChangeCommission(bps=1500)).assert_success()
    sb.chain.advance(sb.params.timelock_seconds)
    sb.pool.admin_call(sb.admin, m.ApplyChange(query_id=9)).assert_success()
    ledger = sb.pool.ledger()
    assert (ledger.commission_bps, ledger.next_commission_bps, ledger.next_commission_epoch) == (
        1000,
        1500,
        2,
    )
    sb.pool.send_income(sb.proxy, ton(50)).assert_success()  # still epoch 1: the old rate
    first = one_event(sb.close_epoch(), EpochClosed)
    assert first.commission == first.received * 1000 // 10_000
    sb.pool.send_income(sb.proxy, ton(30)).assert_success()
    sb.finalize()
    second = one_event(sb.close_epoch(), EpochClosed)
    assert second.commission == second.received * 1500 // 10_000
    assert sb.pool.ledger().commission_bps == 1500
    assert sb.pool.ledger().next_commission_epoch == 0
    sb.assert_conserved()


# ---------------------------------------------------------------- finding 7 and the quorum


def _relay(sb: PoolSandbox, body: m.SubmitReport) -> Trace:
    return sb.keeper.send(sb.pool.distribution, fee("REPORT_FEE"), body.to_cell())


def test_a_report_signed_for_another_network_is_refused(reporting_pool: PoolSandbox) -> None:
    sb = reporting_pool
    a = sb.members["a"]
    report = build_report(sb.pool.distribution, 1, a.address, METRICS["a"], TESTNET_GLOBAL_ID)
    view = sb.pool.reporting_epoch()
    before = sb.keeper.balance
    trace = _relay(sb, sb.signer.submit_message(report, 1))
    assert_refused(trace, sb.pool.distribution, "WRONG_NETWORK")
    assert sb.pool.reporting_epoch() == view
    assert before - sb.keeper.balance < fee("REPORT_FEE") // 10  # fees only; the rest bounced
    sb.assert_conserved()


ORACLES = [OracleSigner.from_seed_text(f"quorum-oracle-{i}") for i in range(3)]


@cache
def _quorum_base() -> PoolSandbox:
    params = PoolParams(
        oracle_key=ORACLES[0].public_key,
        extra_oracle_keys=(ORACLES[1].public_key, ORACLES[2].public_key),
        oracle_quorum=2,
    )
    sb = PoolSandbox.create(params=params, oracle_seed="quorum-oracle-0")
    sb.add_member("a")
    sb.pool.send_income(sb.proxy, INCOME).assert_success()
    sb.close_epoch()
    return sb


QUORUM_CASES: dict[str, tuple[list[tuple[int, OracleSigner]], str | None]] = {
    "one-of-two": ([(0, ORACLES[0])], "ORACLE_QUORUM_NOT_REACHED"),
    "same-key-twice": ([(1, ORACLES[1]), (1, ORACLES[1])], "ORACLE_SIGNATURES_NOT_ORDERED"),
    "key-under-another-index": ([(0, ORACLES[0]), (1, ORACLES[2])], "BAD_SIGNATURE"),
    "unknown-index": ([(0, ORACLES[0]), (5, ORACLES[1])], "UNKNOWN_ORACLE_KEY"),
    "outsider": ([(0, ORACLES[0]), (1, OracleSigner.from_seed_text("x"))], "BAD_SIGNATURE"),
    "keys-0-and-2": ([(0, ORACLES[0]), (2, ORACLES[2])], None),
    "all-three": ([(0, ORACLES[0]), (1, ORACLES[1]), (2, ORACLES[2])], None),
}


@pytest.mark.parametrize("case", sorted(QUORUM_CASES))
def test_a_report_counts_only_with_k_distinct_oracle_keys(case: str) -> None:
    sb = _quorum_base().fork()
    a = sb.members["a"]
    signers, error = QUORUM_CASES[case]
    report = build_report(sb.pool.distribution, 1, a.address, METRICS["a"], sb.chain.global_id)
    view = sb.pool.reporting_epoch()
    trace = _relay(sb, quorum_message(report, signers, 1))
    if error is None:
        trace.assert_success()
        assert sb.pool.reporting_epoch().reporters == 1
        assert sb.pool.reporting_epoch().contribution_sum == econ.contribution(METRICS["a"])
    else:
        assert_refused(trace, sb.pool.distribution, error)
        assert sb.pool.reporting_epoch() == view
    sb.assert_conserved()


def test_signatures_beyond_the_quorum_are_never_read() -> None:
    """At k = 2 a third signature costs no gas: the contract stops at k, so a relayer cannot
    make a report dearer to process by padding it."""
    sb = _quorum_base().fork()
    a = sb.members["a"]
    report = build_report(sb.pool.distribution, 1, a.address, METRICS["a"], sb.chain.global_id)
    two = sb.fork()
    three = sb.fork()
    gas_two = two.gas(_relay(two, quorum_message(report, [(0, ORACLES[0]), (1, ORACLES[1])])))
    all_three = [(0, ORACLES[0]), (1, ORACLES[1]), (2, ORACLES[2])]
    gas_three = three.gas(_relay(three, quorum_message(report, all_three)))
    assert gas_three == gas_two


# ---------------------------------------------------------------- finding 7: crank payouts


def test_a_crank_to_an_uninitialised_wallet_lands_on_the_members_address(
    reporting_pool: PoolSandbox,
) -> None:
    """The payout is non-bounceable: a member wallet that is not deployed (or was deleted)
    still receives exactly its reward at its address, instead of the value bouncing into the
    pot where it would count as income."""
    sb = reporting_pool
    report_all(sb, 1)
    sb.finalize()
    a = sb.members["a"]
    del sb.chain.accounts[raw_address(a.address)]
    assert sb.chain.get_state(a.address).status == "nonexist"
    trace = sb.pool.crank_payout(sb.keeper, a.address, 1)
    assert trace.find(sb.pool.distribution, m.SettleClaim.PREFIX).success
    payout = one_event(trace, RewardSettled).payout
    (landing,) = trace.find_all(a.address, m.RewardPayout.PREFIX)
    assert landing.in_message is not None and landing.in_message.value == payout
    state = sb.chain.get_state(a.address)
    assert state.status == "uninit" and state.balance == payout - landing.total_fees
    sb.assert_conserved()


def test_a_crank_the_pot_cannot_cover_bounces_back_to_the_slip(
    reporting_pool: PoolSandbox,
) -> None:
    """If the distribution ever held less than a payout (it never should), the crank's
    transaction is undone and bounced: the member's slip and pending come back, nothing moves."""
    sb = reporting_pool
    report_all(sb, 1)
    sb.finalize()
    a = sb.members["a"]
    state = sb.chain.get_state(sb.pool.distribution)
    assert state.code is not None and state.data is not None
    sb.chain.set_account(sb.pool.distribution, state.code, state.data, ton("0.5"))
    slip = sb.pool.unclaimed(a.address, 1)
    info = sb.pool.participant_info(a.address)
    member_before = a.balance
    trace = sb.pool.crank_payout(sb.keeper, a.address, 1)
    settle = trace.find(sb.pool.distribution, m.SettleClaim.PREFIX)
    assert settle.aborted and settle.bounced, trace.describe()
    assert sb.pool.unclaimed(a.address, 1) == slip
    assert sb.pool.participant_info(a.address).pending == info.pending
    assert a.balance == member_before
    assert sb.chain.get_balance(sb.pool.distribution) <= ton("0.5")


def test_a_crank_to_a_frozen_wallet_pays_its_debt_and_keeps_the_rest(
    reporting_pool: PoolSandbox,
) -> None:
    """A member wallet frozen for unpaid storage still receives the non-bounceable payout:
    its storage debt is paid out of it and the rest stays on the member's account. Nothing
    comes back into the pot."""
    sb = reporting_pool
    report_all(sb, 1)
    sb.finalize()
    a = sb.members["a"]
    state = sb.chain.get_state(a.address)
    assert state.code is not None and state.data is not None
    # Unpaid storage since 1970 and an empty balance: the next bounceable message freezes it.
    sb.chain.set_account(a.address, state.code, state.data, 0, last_paid=1)
    freeze = sb.chain.send_internal(sb.keeper.address, a.address, 1, None, bounce=True)
    assert freeze.find(a.address).end_status == "frozen"
    ledger = sb.pool.ledger()
    trace = sb.pool.crank_payout(sb.keeper, a.address, 1)
    assert trace.find(sb.pool.distribution, m.SettleClaim.PREFIX).success
    payout = one_event(trace, RewardSettled).payout
    (landing,) = trace.find_all(a.address, m.RewardPayout.PREFIX)
    assert landing.in_message is not None and landing.in_message.value == payout
    assert landing.storage_fees > 0  # the debt, paid out of the payout
    assert sb.chain.get_balance(a.address) == 1 + payout - landing.total_fees
    assert sb.pool.ledger().paid == ledger.paid + payout
    sb.assert_conserved()


def test_an_accepted_report_held_across_a_pause_still_counts_once(
    reporting_pool: PoolSandbox,
) -> None:
    """A report the member's contract accepted is in flight when the pool is paused: it
    still lands in the sums (the pause stops new reports, not ones already admitted), the
    epoch stays open until the unpause, and every payout equals the model."""
    sb = reporting_pool
    received = sb.pool.ledger().received
    report_all(sb, 1, ("a", "b"))
    (accepted,) = held(sb, lambda: sb.report(sb.members["c"], 1, METRICS["c"]), 3)
    sb.pool.admin_call(sb.pauser, m.PausePool(query_id=1)).assert_success()
    deliver(sb, accepted)
    view = sb.pool.reporting_epoch()
    assert (view.reporters, view.in_flight) == (3, 0)
    sb.chain.set_now(view.deadline + 1)
    assert_refused(sb.pool.finalize_epoch(sb.keeper), sb.pool.distribution, "DISTRIBUTION_PAUSED")
    sb.pool.admin_call(sb.admin, m.UnpausePool(query_id=2)).assert_success()
    # The window is open again for the time the pause took from it; the same signed report
    # relayed again is refused as a replay and changes nothing.
    extended = sb.pool.reporting_epoch().deadline
    assert extended > view.deadline
    sb.chain.set_now(extended)
    replay = sb.report(sb.members["c"], 1, METRICS["c"])
    assert replay.find(sb.pool.participant_address(sb.members["c"].address)).exit_code == code(
        "REPORT_REPLAYED"
    )
    sb.chain.set_now(extended + 1)
    sb.pool.finalize_epoch(sb.keeper).assert_success()
    expected = econ.simulate_epoch(received, sb.params.commission_bps, 0, list(METRICS.values()))
    pay_everyone_and_check_model(sb, 1, expected, tuple(METRICS))
