"""The audit's attacks, each driven on the real TVM, each shown to move no value.

Messages can be replayed, sent with too little value, or held back and delivered late: the
emulator runs a trace at one instant, so a test holds a message back by cutting its trace
(``held``) and delivers it later with ``chain.send_message``, after a deadline, a finalize, a
pause or a bounce. docs/security.md lists every attack with the test that shows it here.

A relayed report counts in its epoch's aggregates as soon as RewardDistribution checks its
signatures; the member's contract refuses a replay (or an ineligible member) and its
ApplyReport bounces back: before finalize the bounce takes the report out again, after it the
refused share is settled into the reserve.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import pytest

from cocoon_pool import economics as econ
from cocoon_pool.chain.types import OutMessage, Trace, Transaction, raw_address
from cocoon_pool.contracts import messages as m
from cocoon_pool.contracts.constants import fee, ton
from cocoon_pool.contracts.events import (
    ContributionRefused,
    EpochClosed,
    EpochFinalized,
    EpochRetired,
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
    report_value,
)
from cocoon_pool.contracts.views import ReportingView
from cocoon_pool.errors import ChainError
from cocoon_pool.sandbox import PoolSandbox
from tier_pools import INCOME, METRICS, report_all, reporting_base
from tracing import one_event, payer_cost


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


def since(sb: PoolSandbox, start: int) -> Trace:
    """Every transaction the chain ran since ``start`` (its transaction count then), as one
    trace: the pieces of a trace that was cut and delivered by hand."""
    return Trace(tuple(sb.chain.transactions[start:]))


def relay_holding_applies(sb: PoolSandbox, send: Callable[[], Trace]) -> list[OutMessage]:
    """Relay a batch but stop after RewardDistribution's transaction (the relayer's wallet,
    then SubmitReport): the batch is counted, its ApplyReports are returned, held, and the
    relayer's change is delivered at once."""
    out = held(sb, send, 2)
    assert sb.chain.transactions[-1].op == m.SubmitReport.PREFIX
    for message in out:
        if message.op == m.ReturnExcesses.PREFIX:
            deliver(sb, message)
    applies = [message for message in out if message.op == m.ApplyReport.PREFIX]
    for message in applies:
        assert message.value == fee("REPORT_APPLY_VALUE")
    return applies


def apply_holding_bounce(sb: PoolSandbox, apply: OutMessage) -> tuple[Transaction, OutMessage]:
    """Deliver an ApplyReport that the member's contract refuses, and hold the bounce it sends
    back to RewardDistribution."""
    (bounce,) = held(sb, lambda: sb.chain.send_message(apply.cell), 1)
    tx = sb.chain.transactions[-1]
    assert tx.bounced and bounce.bounced and bounce.op is not None, tx.describe()
    return tx, bounce


def aggregates(view: ReportingView) -> tuple[int, int, int, int]:
    """The reporting epoch's sums: C, CP, CB and the number of reports counted."""
    return (view.contribution_sum, view.penalty_weight, view.bonus_weight, view.reporters)


def model_aggregates(members: list[econ.MemberMetrics]) -> tuple[int, int, int, int]:
    a = econ.aggregate(members)
    return (a.contribution_sum, a.penalty_weight, a.bonus_weight, a.members)


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


def test_a_replay_refused_before_finalize_never_dilutes_anyone(
    reporting_pool: PoolSandbox,
) -> None:
    """A copied signed report relayed again right at the deadline counts at once (the
    distribution cannot know it is a copy), but the member's contract refuses it as a replay
    and its bounce, held back past the deadline and delivered before finalize, takes it out
    again: the aggregates are the honest ones, every member gets the model's payout of the
    honest reports, and the replay's relayer loses only the fees."""
    sb = reporting_pool
    received = sb.pool.ledger().received
    report_all(sb, 1)
    honest = sb.pool.reporting_epoch()
    assert aggregates(honest) == model_aggregates(list(METRICS.values()))
    a = sb.members["a"]
    sb.chain.set_now(honest.deadline)
    keeper_before, start = sb.keeper.balance, len(sb.chain.transactions)
    (apply,) = relay_holding_applies(sb, lambda: sb.report(a, 1, METRICS["a"]))
    doubled = [*METRICS.values(), METRICS["a"]]
    assert aggregates(sb.pool.reporting_epoch()) == model_aggregates(doubled)
    refusal, bounce = apply_holding_bounce(sb, apply)
    assert refusal.exit_code == code("REPORT_REPLAYED")
    sb.chain.set_now(honest.deadline + 1)  # the window is over; the epoch is not final yet
    refused = one_event(deliver(sb, bounce), ContributionRefused)
    assert (refused.epoch, refused.contribution) == (1, econ.contribution(METRICS["a"]))
    assert sb.pool.reporting_epoch() == honest
    # The relay came back whole but for the fees of every transaction it paid for.
    assert keeper_before - sb.keeper.balance == payer_cost(since(sb, start), sb.keeper.address)
    sb.assert_conserved()
    sb.pool.finalize_epoch(sb.keeper).assert_success()
    expected = econ.simulate_epoch(received, sb.params.commission_bps, 0, list(METRICS.values()))
    pay_everyone_and_check_model(sb, 1, expected, tuple(METRICS))
    assert sb.pool.ledger().reserve == expected.reserve_after_sweep
    assert not sb.pool.final_epoch(1).found  # retired with its last claim


@pytest.mark.parametrize("bounce_at", ["first", "between", "last"])
def test_a_replay_refused_after_finalize_settles_its_share_into_the_reserve(
    reporting_pool: PoolSandbox, bounce_at: str
) -> None:
    """The same replay with its bounce held back past finalize: the epoch froze with the copy
    counted, so every member's claim is what those frozen aggregates give (the price of not
    waiting for the member's answer), and the refused share, which nobody can ever claim, is
    settled into the reserve as a claim would settle it. Value is conserved to the nanoton
    and the epoch retires with its last slip, be that a claim or the bounce."""
    sb = reporting_pool
    received = sb.pool.ledger().received
    report_all(sb, 1)
    a = sb.members["a"]
    keeper_before, start = sb.keeper.balance, len(sb.chain.transactions)
    (apply,) = relay_holding_applies(sb, lambda: sb.report(a, 1, METRICS["a"]))
    refusal, bounce = apply_holding_bounce(sb, apply)
    assert refusal.exit_code == code("REPORT_REPLAYED")
    relay = since(sb, start)
    relay_cost = keeper_before - sb.keeper.balance
    refunds: list[tuple[int, Trace]] = []
    # The frozen epoch as the reference model settles it with the copy among its reports.
    names = tuple(METRICS)
    frozen = econ.simulate_epoch(
        received, sb.params.commission_bps, 0, [*METRICS.values(), METRICS["a"]]
    )
    *honest_shares, replayed = frozen.shares
    finalized = one_event(sb.finalize(), EpochFinalized)
    assert (finalized.reporters, finalized.claimable) == (4, frozen.settlement.claimable)
    assert sb.pool.final_epoch(1).claims_left == 4
    reserve = sb.pool.ledger().reserve
    assert reserve == frozen.reserve_out

    def claim(name: str, share: econ.MemberShare) -> None:
        trace = sb.pool.crank_payout(sb.keeper, sb.members[name].address, 1).assert_success()
        assert one_event(trace, RewardSettled).payout == share.payout, name
        sb.assert_conserved()

    def deliver_bounce() -> None:
        ledger = sb.pool.ledger()
        final = sb.pool.final_epoch(1)
        distribution = sb.chain.get_balance(sb.pool.distribution)
        keeper = sb.keeper.balance
        trace = deliver(sb, bounce)
        refused = one_event(trace, ContributionRefused)
        assert (refused.epoch, refused.contribution) == (1, replayed.contribution)
        retiring = final.claims_left == 1
        dust = final.remaining - replayed.payout if retiring else 0
        after = sb.pool.ledger()
        assert after.reserve == ledger.reserve + replayed.payout + dust
        assert after.unsettled == ledger.unsettled - replayed.payout - dust
        assert (after.paid, after.pending_credit) == (ledger.paid, ledger.pending_credit)
        assert after.dust_swept == ledger.dust_swept + dust
        if retiring:
            assert one_event(trace, EpochRetired).dust == dust
        else:
            assert trace_events(trace, EpochRetired) == []
            assert sb.pool.final_epoch(1).claims_left == final.claims_left - 1
        # No pool value leaves: the distribution keeps its balance less its storage fee, and
        # the relayer gets the bounced value back less the fees.
        (back,) = trace.find_all(sb.pool.distribution)
        assert sb.chain.get_balance(sb.pool.distribution) == distribution - back.storage_fees
        (change,) = back.internal_out
        assert change.op == m.ReturnExcesses.PREFIX
        refund = sb.keeper.balance - keeper
        assert refund == change.value - trace.find(sb.keeper.address).total_fees
        refunds.append((refund, trace))
        sb.assert_conserved()

    order = {"first": 0, "between": 2, "last": 3}[bounce_at]
    for i, (name, share) in enumerate(zip(names, honest_shares, strict=True)):
        if i == order:
            deliver_bounce()
        claim(name, share)
    if order == len(names):
        deliver_bounce()
    assert not sb.pool.final_epoch(1).found  # retired with its last slip
    ledger = sb.pool.ledger()
    assert ledger.reserve == frozen.reserve_after_sweep + replayed.payout
    assert ledger.unsettled == 0
    assert ledger.paid == sum(s.payout for s in honest_shares)
    # The whole replay, cut and delivered in pieces, cost its relayer the fees only.
    ((refund, bounced),) = refunds
    whole = Trace((*relay.transactions, *bounced.transactions))
    assert relay_cost - refund == payer_cost(whole, sb.keeper.address)
    sb.assert_conserved()


def test_an_accepted_report_held_back_past_finalize_counts_once(
    reporting_pool: PoolSandbox,
) -> None:
    """A report the distribution counted, whose ApplyReport is held back until after
    finalize: the epoch froze with it (it counted at submit), the member's contract still
    records the slip when it lands, nothing is counted a second time, and the member claims
    exactly the model's share."""
    sb = reporting_pool
    received = sb.pool.ledger().received
    report_all(sb, 1, ("a", "b"))
    c = sb.members["c"]
    (apply,) = relay_holding_applies(sb, lambda: sb.report(c, 1, METRICS["c"]))
    view = sb.pool.reporting_epoch()
    assert aggregates(view) == model_aggregates(list(METRICS.values()))
    finalized = one_event(sb.finalize(), EpochFinalized)
    expected = econ.simulate_epoch(received, sb.params.commission_bps, 0, list(METRICS.values()))
    assert (finalized.reporters, finalized.claimable) == (3, expected.settlement.claimable)
    assert not sb.pool.unclaimed(c.address, 1).found
    ledger, final = sb.pool.ledger(), sb.pool.final_epoch(1)
    participant = sb.pool.participant_address(c.address)
    balance = sb.chain.get_balance(participant)
    trace = deliver(sb, apply)
    (tx,) = trace.transactions  # accepted: no answer, no second count
    assert tx.internal_out == ()
    assert sb.chain.get_balance(participant) == balance + fee("REPORT_APPLY_VALUE") - tx.total_fees
    assert (sb.pool.ledger(), sb.pool.final_epoch(1)) == (ledger, final)
    slip = sb.pool.unclaimed(c.address, 1)
    assert (slip.found, slip.contribution) == (True, econ.contribution(METRICS["c"]))
    pay_everyone_and_check_model(sb, 1, expected, tuple(METRICS))
    assert sb.pool.ledger().reserve == expected.reserve_after_sweep
    assert not sb.pool.final_epoch(1).found


def test_a_replayed_batch_is_taken_back_out_before_finalize(reporting_pool: PoolSandbox) -> None:
    """A whole batch relayed twice: the copy counts at submit (every aggregate doubled), then
    each member's contract refuses its report as a replay and each bounce takes one back out.
    The epoch finalizes with the honest batch alone and pays the model's shares; the copy's
    relayer loses only the fees."""
    sb = reporting_pool
    received = sb.pool.ledger().received
    names = tuple(METRICS)
    reports = [
        sb.pool.signed_report(sb.signer, sb.members[n].address, 1, METRICS[n]) for n in names
    ]
    sb.pool.submit_reports(sb.keeper, reports).assert_success()
    honest = sb.pool.reporting_epoch()
    assert aggregates(honest) == model_aggregates(list(METRICS.values()))
    keeper_before, start = sb.keeper.balance, len(sb.chain.transactions)
    applies = relay_holding_applies(sb, lambda: sb.pool.submit_reports(sb.keeper, reports))
    assert len(applies) == len(names)
    assert aggregates(sb.pool.reporting_epoch()) == model_aggregates(
        [*METRICS.values(), *METRICS.values()]
    )
    for name, apply in zip(names, applies, strict=True):
        trace = sb.chain.send_message(apply.cell)
        participant = sb.pool.participant_address(sb.members[name].address)
        assert trace.find(participant).exit_code == code("REPORT_REPLAYED")
        assert one_event(trace, ContributionRefused).contribution == econ.contribution(
            METRICS[name]
        )
    assert sb.pool.reporting_epoch() == honest
    assert keeper_before - sb.keeper.balance == payer_cost(since(sb, start), sb.keeper.address)
    sb.assert_conserved()
    sb.finalize()
    expected = econ.simulate_epoch(received, sb.params.commission_bps, 0, list(METRICS.values()))
    pay_everyone_and_check_model(sb, 1, expected, names)
    assert sb.pool.ledger().reserve == expected.reserve_after_sweep


def test_one_forged_report_rejects_its_whole_batch(reporting_pool: PoolSandbox) -> None:
    """A report signed by an outsider hidden among good ones: the whole batch is refused and
    bounced, nothing is counted and nothing is sent to any member's contract."""
    sb = reporting_pool
    names = tuple(METRICS)
    reports = [
        sb.pool.signed_report(sb.signer, sb.members[n].address, 1, METRICS[n]) for n in names
    ]
    forger = OracleSigner.from_seed_text("not-the-oracle")
    reports[1] = sb.pool.signed_report(forger, sb.members["b"].address, 1, METRICS["b"])
    view = sb.pool.reporting_epoch()
    before = sb.keeper.balance
    trace = sb.pool.submit_reports(sb.keeper, reports)
    assert_refused(trace, sb.pool.distribution, "BAD_SIGNATURE")
    assert trace.find_all(op=m.ApplyReport.PREFIX) == []
    assert sb.pool.reporting_epoch() == view
    assert before - sb.keeper.balance == payer_cost(trace, sb.keeper.address)
    sb.assert_conserved()


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
    return sb.keeper.send(sb.pool.distribution, report_value(1), body.to_cell())


def test_a_report_signed_for_another_network_is_refused(reporting_pool: PoolSandbox) -> None:
    sb = reporting_pool
    a = sb.members["a"]
    report = build_report(sb.pool.distribution, 1, a.address, METRICS["a"], TESTNET_GLOBAL_ID)
    view = sb.pool.reporting_epoch()
    before = sb.keeper.balance
    trace = _relay(sb, sb.signer.submit_message(report, 1))
    assert_refused(trace, sb.pool.distribution, "WRONG_NETWORK")
    assert sb.pool.reporting_epoch() == view
    assert before - sb.keeper.balance == payer_cost(trace, sb.keeper.address)  # the rest bounced
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
    """A report counted at submit whose ApplyReport is still on its way when the pool is
    paused: the member's contract records it while paused (the pause stops new reports, not
    ones already counted), the epoch stays open until the unpause, the same signed report
    relayed again after it is refused as a replay and taken back out, and every payout equals
    the model."""
    sb = reporting_pool
    received = sb.pool.ledger().received
    report_all(sb, 1, ("a", "b"))
    c = sb.members["c"]
    (apply,) = relay_holding_applies(sb, lambda: sb.report(c, 1, METRICS["c"]))
    view = sb.pool.reporting_epoch()
    assert aggregates(view) == model_aggregates(list(METRICS.values()))
    sb.pool.admin_call(sb.pauser, m.PausePool(query_id=1)).assert_success()
    deliver(sb, apply)
    assert sb.pool.unclaimed(c.address, 1).found
    assert sb.pool.reporting_epoch() == view  # counted once, at submit
    sb.chain.set_now(view.deadline + 1)
    assert_refused(sb.pool.finalize_epoch(sb.keeper), sb.pool.distribution, "DISTRIBUTION_PAUSED")
    sb.pool.admin_call(sb.admin, m.UnpausePool(query_id=2)).assert_success()
    # The window is open again for the time the pause took from it; the same signed report
    # relayed again is refused as a replay and its bounce takes it back out.
    extended = sb.pool.reporting_epoch()
    assert extended.deadline > view.deadline
    sb.chain.set_now(extended.deadline)
    replay = sb.report(c, 1, METRICS["c"])
    assert replay.find(sb.pool.participant_address(c.address)).exit_code == code("REPORT_REPLAYED")
    one_event(replay, ContributionRefused)
    assert sb.pool.reporting_epoch() == extended
    sb.chain.set_now(extended.deadline + 1)
    sb.pool.finalize_epoch(sb.keeper).assert_success()
    expected = econ.simulate_epoch(received, sb.params.commission_bps, 0, list(METRICS.values()))
    pay_everyone_and_check_model(sb, 1, expected, tuple(METRICS))
