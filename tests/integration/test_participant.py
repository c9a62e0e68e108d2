"""Participant on the real TVM: lifecycle, member operations, roles and bounce paths.

Every refusal is checked for its exact exit code, for the sender losing nothing but the
fees of the trace, and for the Participant keeping its balance (minus storage) and state.
"""

from __future__ import annotations

import pytest
from ton_core import Address, Cell, begin_cell

from cocoon_pool.chain import internal_message
from cocoon_pool.chain.emulator import Wallet
from cocoon_pool.chain.types import Trace
from cocoon_pool.contracts import messages as m
from cocoon_pool.contracts import storage as st
from cocoon_pool.contracts.codec import TlbStruct
from cocoon_pool.contracts.constants import fee, ton
from cocoon_pool.contracts.events import (
    ContributionRecorded,
    ContributionRefused,
    EpochClosed,
    EpochFinalized,
    MemberLeft,
    OwnerActionReturned,
    OwnerActionSent,
    PendingCredited,
    RewardSettled,
    StakeWithdrawn,
    UnbondingStarted,
    trace_events,
)
from cocoon_pool.contracts.exit_codes import code
from cocoon_pool.contracts.pool import pool_codes
from cocoon_pool.economics import (
    MemberMetrics,
    bonus_bps,
    contribution,
    penalty_bps,
    simulate_epoch,
)
from cocoon_pool.errors import ChainError
from cocoon_pool.sandbox import PoolSandbox
from tracing import (
    assert_refused_and_refunded,
    gain,
    kept_of_value,
    one_event,
    payer_cost,
    same,
    storage_paid,
)

RESERVE = fee("PARTICIPANT_STORAGE_RESERVE")
MEMBER_OP_FEE = fee("MEMBER_OP_FEE")
ACTIVE, UNBONDING, WITHDRAWN = 1, 2, 3
RICH_BOUNCE_OP = m.RICH_BOUNCE_PREFIX
YEAR = 365 * 86_400
METRICS = MemberMetrics(500_000, 1_000, 9_000, 5)


# ---------------------------------------------------------------- helpers


def refused_by_participant(
    sb: PoolSandbox, wallet: Wallet, member: Address, body: Cell, value: int, *, expected: int
) -> Trace:
    """Send ``body`` to ``member``'s Participant; check the refusal and the full refund."""
    pool, chain = sb.pool, sb.chain
    target = pool.participant_address(member)
    wallet_before = wallet.balance
    target_before = chain.get_balance(target)
    state_before = pool.participant_info(member)
    registry_before = pool.registry_info()
    trace = wallet.send(target, value, body)
    assert_refused_and_refunded(
        trace,
        chain,
        wallet,
        target,
        value=value,
        expected=expected,
        payer_before=wallet_before,
        contract_before=target_before,
    )
    assert pool.participant_info(member) == state_before
    assert pool.registry_info() == registry_before
    return trace


def run_epoch(sb: PoolSandbox, members: list[Wallet], epoch: int, income: int) -> None:
    """Income, close the epoch, one report per member (the window stays open)."""
    sb.pool.send_income(sb.proxy, income).assert_success()
    sb.close_epoch()
    for w in members:
        sb.report(w, epoch, METRICS).assert_success()


def crank_body(epoch: int, query_id: int = 1) -> Cell:
    return m.CrankPayout(query_id=query_id, epoch=epoch).to_cell()


# ---------------------------------------------------------------- lifecycle


def test_lifecycle_register_verify_leave_withdraw_and_return(sandbox: PoolSandbox) -> None:
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    stake = ton(15)
    alice = sb.wallet("alice")
    participant = pool.participant_address(alice.address)
    pool.register(alice, stake).assert_success()
    assert chain.get_balance(participant) == stake + RESERVE
    pool.bind_worker(alice, alice.address).assert_success()
    before = chain.get_balance(participant)
    trace = pool.verify_member(sb.admin, alice.address).assert_success()
    assert pool.participant_info(alice.address).verified
    # The verification's MarkVerified leaves what it carried beyond its gas here.
    held = before - storage_paid(trace, participant)
    held += kept_of_value(trace, participant, fee("VERIFY_APPLY_VALUE"))
    assert chain.get_balance(participant) == held

    # Unregister: status and unbonding time here; count and total in the registry; the member
    # gets back all but the fees (the pool contract is not involved).
    wallet_before = alice.balance
    operator_before = chain.get_balance(pool.operator)
    trace = pool.unregister(alice).assert_success()
    unbond_at = chain.now + sb.params.unbonding_seconds
    started = one_event(trace, UnbondingStarted, participant)
    assert same(started.member, alice.address) and started.unbond_at == unbond_at
    left = one_event(trace, MemberLeft, pool.registry)
    assert (left.stake, left.member_count) == (stake, 0)
    refund = trace.find(alice.address, m.ReturnExcesses.PREFIX)
    assert refund.in_message is not None and same(refund.in_message.src, pool.registry)
    assert not trace.find_all(pool.operator)
    assert chain.get_balance(pool.operator) == operator_before
    assert wallet_before - alice.balance == payer_cost(trace, alice.address)
    assert chain.get_balance(participant) == held - storage_paid(trace, participant)
    info = pool.participant_info(alice.address)
    assert (info.status, info.stake, info.unbond_at) == (UNBONDING, stake, unbond_at)
    registry = pool.registry_info()
    assert (registry.member_count, registry.total_stake) == (0, 0)

    chain.set_now(unbond_at - 1)
    refused_by_participant(
        sb, alice, alice.address, m.WithdrawStake().to_cell(), MEMBER_OP_FEE,
        expected=code("UNBONDING_NOT_OVER"),
    )  # fmt: skip

    # Withdraw at the exact second the unbonding ends: exactly the stake comes back.
    chain.set_now(unbond_at)
    wallet_before = alice.balance
    participant_before = chain.get_balance(participant)
    trace = pool.withdraw_stake(alice).assert_success()
    withdrawn = one_event(trace, StakeWithdrawn, participant)
    assert same(withdrawn.member, alice.address) and withdrawn.amount == stake
    returned = trace.find(alice.address, m.StakeReturned.PREFIX)
    assert returned.in_message is not None
    assert m.StakeReturned.from_cell(returned.in_message.body).amount == stake
    assert alice.balance - wallet_before == stake - payer_cost(trace, alice.address)
    assert chain.get_balance(participant) == participant_before - stake - storage_paid(
        trace, participant
    )
    info = pool.participant_info(alice.address)
    assert (info.status, info.stake) == (WITHDRAWN, 0)

    # Coming back is allowed once the stake is out: same contract, fresh stake, verification
    # and history kept, and no second reserve (the first one is topped up to the full amount:
    # a year of storage wore it below, what the verification left included).
    new_stake = ton(11)
    chain.advance(365 * 86_400)
    wallet_before = alice.balance
    operator_before = chain.get_balance(pool.operator)
    registry_before = chain.get_balance(pool.registry)
    left_over = chain.get_balance(participant)
    trace = pool.register(alice, new_stake).assert_success()
    assert chain.get_balance(participant) == new_stake + RESERVE
    assert gain(chain, trace, pool.operator, operator_before) == 0
    # A year of storage wore the registry below its floor: this caller tops it back up.
    registry_topped = gain(chain, trace, pool.registry, registry_before)
    assert chain.get_balance(pool.registry) == fee("REGISTRY_STORAGE_FLOOR")
    reserve_topped = RESERVE - (left_over - storage_paid(trace, participant))
    assert 0 < reserve_topped < RESERVE
    assert wallet_before - alice.balance == (
        new_stake + reserve_topped + registry_topped + payer_cost(trace, alice.address)
    )
    info = pool.participant_info(alice.address)
    assert (info.status, info.stake, info.unbond_at) == (ACTIVE, new_stake, 0)
    assert info.joined_at == chain.now and info.verified
    registry = pool.registry_info()
    assert (registry.member_count, registry.total_stake, registry.ever_joined) == (1, new_stake, 2)


def test_withdraw_after_storage_ate_the_reserve_pays_out_what_is_left(
    sandbox: PoolSandbox,
) -> None:
    """Before the fix the handler reserved (balance - stake) < 0: exit 5, stake locked forever.
    Storage costs a Participant about 0.02 TON a year, so the 0.05 reserve lasts ~2.5 years."""
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    stake = ton(10)
    alice = sb.add_member("alice", stake)
    participant = pool.participant_address(alice.address)
    pool.unregister(alice).assert_success()
    # The member leaves and forgets to take the stake out for a few years.
    chain.advance(4 * YEAR)
    balance_before = chain.get_balance(participant)
    wallet_before = alice.balance
    trace = pool.withdraw_stake(alice).assert_success()
    tx = trace.find(participant)
    left = balance_before - tx.storage_fees
    assert left < stake  # the premise: rent has eaten into the stake
    withdrawn = one_event(trace, StakeWithdrawn, participant)
    assert withdrawn.amount == left
    returned = trace.find(alice.address, m.StakeReturned.PREFIX)
    assert returned.in_message is not None
    assert m.StakeReturned.from_cell(returned.in_message.body).amount == left
    assert chain.get_balance(participant) == 0
    assert alice.balance - wallet_before == left - payer_cost(trace, alice.address)
    assert pool.participant_info(alice.address).status == WITHDRAWN


# ---------------------------------------------------------------- member operations: refusals


def member_op(kind: str, epoch: int = 1) -> Cell:
    bodies: dict[str, TlbStruct] = {
        "unregister": m.RequestUnregister(),
        "withdraw": m.WithdrawStake(),
        "claim": m.ClaimRewards(query_id=3, epoch=epoch),
        "crank": m.CrankPayout(query_id=3, epoch=epoch),
        "claim-pending": m.ClaimPending(query_id=3),
        "bind": m.BindWorker(query_id=3, worker=Address("0:" + "ab" * 32)),
    }
    return bodies[kind].to_cell()


@pytest.mark.parametrize(
    ("state", "sender", "op", "value", "expected"),
    [
        ("active", "stranger", "unregister", MEMBER_OP_FEE, "PARTICIPANT_NOT_FROM_MEMBER"),
        ("active", "bob", "unregister", MEMBER_OP_FEE, "PARTICIPANT_NOT_FROM_MEMBER"),
        ("active", "admin", "unregister", MEMBER_OP_FEE, "PARTICIPANT_NOT_FROM_MEMBER"),
        ("active", "alice", "unregister", MEMBER_OP_FEE - 1, "PARTICIPANT_VALUE_TOO_LOW"),
        ("unbonding", "alice", "unregister", MEMBER_OP_FEE, "NOT_ACTIVE"),
        ("withdrawn", "alice", "unregister", MEMBER_OP_FEE, "NOT_ACTIVE"),
        ("unbonding", "stranger", "withdraw", MEMBER_OP_FEE, "PARTICIPANT_NOT_FROM_MEMBER"),
        ("unbonding", "admin", "withdraw", MEMBER_OP_FEE, "PARTICIPANT_NOT_FROM_MEMBER"),
        ("active", "alice", "withdraw", MEMBER_OP_FEE, "NOT_UNBONDING"),
        ("unbonding", "alice", "withdraw", MEMBER_OP_FEE, "UNBONDING_NOT_OVER"),
        ("withdrawn", "alice", "withdraw", MEMBER_OP_FEE, "NOT_UNBONDING"),
        ("active", "stranger", "claim", MEMBER_OP_FEE, "PARTICIPANT_NOT_FROM_MEMBER"),
        ("active", "bob", "claim", MEMBER_OP_FEE, "PARTICIPANT_NOT_FROM_MEMBER"),
        ("active", "alice", "claim", MEMBER_OP_FEE, "NOTHING_TO_CLAIM"),
        ("active", "alice", "claim", MEMBER_OP_FEE - 1, "PARTICIPANT_VALUE_TOO_LOW"),
        ("withdrawn", "alice", "claim", MEMBER_OP_FEE, "NOTHING_TO_CLAIM"),
        ("active", "stranger", "crank", MEMBER_OP_FEE, "NOTHING_TO_CLAIM"),
        ("active", "stranger", "crank", MEMBER_OP_FEE - 1, "PARTICIPANT_VALUE_TOO_LOW"),
    ],
)
def test_member_operations_refused(
    sandbox: PoolSandbox, *, state: str, sender: str, op: str, value: int, expected: str
) -> None:
    sb = sandbox
    alice = sb.add_member("alice")
    sb.add_member("bob")
    if state in ("unbonding", "withdrawn"):
        sb.pool.unregister(alice).assert_success()
    if state == "withdrawn":
        sb.chain.advance(sb.params.unbonding_seconds)
        sb.pool.withdraw_stake(alice).assert_success()
    wallet = sb.admin if sender == "admin" else sb.wallet(sender)
    refused_by_participant(sb, wallet, alice.address, member_op(op), value, expected=code(expected))


def test_claim_of_an_epoch_already_claimed_is_refused(sandbox: PoolSandbox) -> None:
    sb = sandbox
    alice = sb.add_member("alice")
    run_epoch(sb, [alice], 1, ton(50))
    sb.finalize()
    sb.pool.claim_rewards(alice, 1).assert_success()
    assert not sb.pool.unclaimed(alice.address, 1).found
    refused_by_participant(
        sb,
        alice,
        alice.address,
        member_op("claim"),
        MEMBER_OP_FEE,
        expected=code("NOTHING_TO_CLAIM"),
    )


# ---------------------------------------------------------------- privileged ops x roles


def privileged(kind: str, sb: PoolSandbox, member: Address) -> Cell:
    keeper = sb.keeper.address
    bodies: dict[str, TlbStruct] = {
        "InitParticipant": m.InitParticipant(
            query_id=1, stake=ton(1), member=member, distribution=sb.pool.distribution,
            unbonding_seconds=0,
        ),
        "MarkVerified": m.MarkVerified(query_id=1, verified=True, excess_to=keeper),
        "ApplyReport": m.ApplyReport(
            query_id=1, epoch=9, contribution=1, penalty_bps=0, bonus_bps=1_000,
            running_seconds=1, gpu_score=1, uptime_bps=10_000, outages=0, excess_to=keeper,
        ),
        "CreditPending": m.CreditPending(query_id=1, epoch=1, amount=ton(100), excess_to=keeper),
        "CheckOwnerAction": m.CheckOwnerAction(
            query_id=1, action=m.OWNER_ACTION_WORKER_REGISTER, excess_to=keeper
        ),
    }  # fmt: skip
    return bodies[kind].to_cell()


PRIVILEGED = {
    "InitParticipant": "PARTICIPANT_NOT_FROM_REGISTRY",
    "MarkVerified": "PARTICIPANT_NOT_FROM_REGISTRY",
    "ApplyReport": "PARTICIPANT_NOT_FROM_DISTRIBUTION",
    "CreditPending": "PARTICIPANT_NOT_FROM_DISTRIBUTION",
    "CheckOwnerAction": "PARTICIPANT_NOT_FROM_DISTRIBUTION",
}


@pytest.mark.parametrize("sender", ["stranger", "alice", "bob", "admin"])
@pytest.mark.parametrize("kind", list(PRIVILEGED))
def test_privileged_messages_refuse_wallets(sandbox: PoolSandbox, kind: str, sender: str) -> None:
    sb = sandbox
    alice = sb.add_member("alice")
    sb.add_member("bob")
    wallet = sb.admin if sender == "admin" else sb.wallet(sender)
    body = privileged(kind, sb, alice.address)
    refused_by_participant(sb, wallet, alice.address, body, ton(1), expected=code(PRIVILEGED[kind]))


def rightful_sender(kind: str) -> str:
    return "registry" if PRIVILEGED[kind].endswith("REGISTRY") else "distribution"


@pytest.mark.parametrize(
    ("kind", "src"),
    [
        (kind, src)
        for kind in PRIVILEGED
        for src in ("bob-participant", "registry", "distribution", "operator")
        if src != rightful_sender(kind)  # the rightful sender is the success path
    ],
)
def test_privileged_messages_refuse_the_wrong_contract(
    sandbox: PoolSandbox, kind: str, src: str
) -> None:
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    alice = sb.add_member("alice")
    bob = sb.add_member("bob")
    sender = {
        "bob-participant": pool.participant_address(bob.address),
        "registry": pool.registry,
        "distribution": pool.distribution,
        "operator": pool.operator,
    }[src]
    target = pool.participant_address(alice.address)
    before = pool.participant_info(alice.address)
    balance_before = chain.get_balance(target)
    trace = chain.send_internal(sender, target, ton(1), privileged(kind, sb, alice.address))
    tx = trace.find(target)
    assert tx.exit_code == code(PRIVILEGED[kind]) and tx.bounced
    assert pool.participant_info(alice.address) == before
    assert chain.get_balance(target) == balance_before - tx.storage_fees


def forged_deploy(sb: PoolSandbox, member: Address) -> Trace:
    """Mallory deploys ``member``'s Participant herself, with a forged InitParticipant."""
    data = st.ParticipantStorage(registry=sb.pool.registry, member=member).to_cell()
    target = sb.pool.participant_address(member)
    mallory = sb.wallet("mallory")
    before = mallory.balance
    trace = mallory.send(
        target, ton(20), privileged("InitParticipant", sb, member),
        state_init=(pool_codes().participant_code, data),
    )  # fmt: skip
    tx = trace.find(target)
    assert tx.exit_code == code("PARTICIPANT_NOT_FROM_REGISTRY") and tx.bounced
    assert mallory.balance == before - payer_cost(trace, mallory.address)
    return trace


def test_a_forged_deploy_registers_nobody_and_blocks_nobody(sandbox: PoolSandbox) -> None:
    """The TVM keeps a state init even when the compute phase fails, so a stranger can put
    Alice's Participant on chain with empty state. That contract must count for nothing and
    must not stand in the way of Alice's own registration."""
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    alice = sb.wallet("alice")
    forged_deploy(sb, alice.address)
    target = pool.participant_address(alice.address)
    assert chain.get_state(target).status == "active"
    assert not pool.participant_info(alice.address).registered
    assert pool.registry_info().member_count == 0

    pool.register(alice, ton(10)).assert_success()
    assert chain.get_balance(target) == ton(10) + RESERVE
    info = pool.participant_info(alice.address)
    assert info.registered and (info.status, info.stake) == (ACTIVE, ton(10))
    assert pool.registry_info().member_count == 1


@pytest.mark.parametrize(
    ("sender", "op"),
    [
        ("alice", "unregister"),
        ("alice", "withdraw"),
        ("alice", "claim"),
        ("stranger", "crank"),
        ("alice", "claim-pending"),
        ("alice", "bind"),
    ],
)
def test_an_empty_participant_refuses_member_operations(
    sandbox: PoolSandbox, sender: str, op: str
) -> None:
    alice = sandbox.wallet("alice")
    forged_deploy(sandbox, alice.address)
    wallet = sandbox.wallet(sender)
    refused_by_participant(
        sandbox,
        wallet,
        alice.address,
        member_op(op),
        MEMBER_OP_FEE,
        expected=code("NOT_REGISTERED"),
    )


def test_verifying_an_empty_participant_is_refused_and_refunded(sandbox: PoolSandbox) -> None:
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    alice = sb.wallet("alice")
    forged_deploy(sb, alice.address)
    target = pool.participant_address(alice.address)
    operator_before = chain.get_balance(pool.operator)
    admin_before = sb.admin.balance
    trace = pool.verify_member(sb.admin, alice.address)
    mark = trace.find(target, m.MarkVerified.PREFIX)
    assert mark.exit_code == code("NOT_REGISTERED") and mark.bounced
    assert trace.find(pool.registry, RICH_BOUNCE_OP).success
    assert gain(chain, trace, pool.operator, operator_before) == 0
    assert admin_before - sb.admin.balance == payer_cost(trace, sb.admin.address)
    assert not pool.participant_info(alice.address).verified


@pytest.mark.parametrize(
    "body",
    [
        begin_cell().store_uint(0x12345678, 32).store_uint(0, 64).end_cell(),
        begin_cell().store_uint(0, 32).store_snake_string("top up").end_cell(),
        m.StakeReturned(query_id=1, amount=ton(10)).to_cell(),
        m.RewardPayout(query_id=1, epoch=1, amount=ton(10)).to_cell(),
        m.RegisterParticipant(query_id=1, stake=ton(10)).to_cell(),
    ],
    ids=["unknown-op", "text-comment", "stake-returned", "reward-payout", "register"],
)
def test_unknown_messages_are_refused(sandbox: PoolSandbox, body: Cell) -> None:
    alice = sandbox.add_member("alice")
    refused_by_participant(
        sandbox, sandbox.wallet("stranger"), alice.address, body, ton(2),
        expected=code("PARTICIPANT_UNKNOWN_OP"),
    )  # fmt: skip


def test_plain_transfer_tops_up_the_reserve(sandbox: PoolSandbox) -> None:
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    alice = sb.add_member("alice")
    target = pool.participant_address(alice.address)
    before = chain.get_balance(target)
    state_before = pool.participant_info(alice.address)
    trace = sb.wallet("friend").send(target, ton(1)).assert_success()
    assert chain.get_balance(target) == before + ton(1) - trace.find(target).total_fees
    assert pool.participant_info(alice.address) == state_before


# ---------------------------------------------------------------- reports


def test_report_records_a_slip_history_and_totals(sandbox: PoolSandbox) -> None:
    sb, pool = sandbox, sandbox.pool
    alice = sb.add_member("alice")
    pool.send_income(sb.proxy, ton(10)).assert_success()
    sb.close_epoch()
    keeper_before = sb.keeper.balance
    trace = sb.report(alice, 1, METRICS).assert_success()
    recorded = one_event(trace, ContributionRecorded, pool.distribution)
    expected = (contribution(METRICS), penalty_bps(METRICS), bonus_bps(METRICS))
    assert (recorded.contribution, recorded.penalty_bps, recorded.bonus_bps) == expected
    slip = pool.unclaimed(alice.address, 1)
    assert slip.found and (slip.contribution, slip.penalty_bps, slip.bonus_bps) == expected
    record = pool.epoch_record(alice.address, 1)
    assert record.found and (record.running_seconds, record.gpu_score) == (500_000, 1_000)
    assert (record.uptime_bps, record.outages, record.contribution) == (9_000, 5, expected[0])
    info = pool.participant_info(alice.address)
    assert (info.last_reported_epoch, info.epochs_reported) == (1, 1)
    assert (info.total_running_seconds, info.total_contribution) == (500_000, expected[0])
    assert trace.find(sb.keeper.address, m.ReturnExcesses.PREFIX).success
    # The relay paid the trace's fees and REPORT_APPLY_VALUE, whose unspent part stays with
    # the member's contract (no answer goes back).
    target = pool.participant_address(alice.address)
    apply = trace.find(target, m.ApplyReport.PREFIX)
    kept = fee("REPORT_APPLY_VALUE") - (apply.total_fees - apply.storage_fees)
    assert keeper_before - sb.keeper.balance == payer_cost(trace, sb.keeper.address) + kept
    # The Python mirror of the storage layout reads the same (contracts/storage.tolk).
    data = sb.chain.get_state(target).data
    assert data is not None
    stored = st.ParticipantStorage.from_cell(data)
    assert stored.state is not None and stored.state.latest is not None
    assert (stored.state.latest.epoch, stored.state.latest.contribution) == (1, expected[0])
    assert (stored.state.epochs_reported, stored.state.total_contribution) == (1, expected[0])
    assert same(stored.state.profile.distribution, pool.distribution)
    assert stored.state.profile.stake == info.stake
    assert stored.state.history.begin_parse().remaining_bits == (
        st.HISTORY_SLOTS * st.HISTORY_RECORD_BITS
    )


@pytest.mark.parametrize(
    ("state", "expected"),
    [("unverified", "NOT_VERIFIED"), ("replayed", "REPORT_REPLAYED"), ("withdrawn", "NOT_ACTIVE")],
)
def test_refused_reports_refund_the_relay(sandbox: PoolSandbox, state: str, expected: str) -> None:
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    alice = sb.add_member("alice", verify=state != "unverified")
    if state == "withdrawn":
        pool.unregister(alice).assert_success()
        chain.advance(sb.params.unbonding_seconds)
        pool.withdraw_stake(alice).assert_success()
    pool.send_income(sb.proxy, ton(10)).assert_success()
    sb.close_epoch()
    if state == "replayed":
        sb.report(alice, 1, METRICS).assert_success()
    target = pool.participant_address(alice.address)
    info_before = pool.participant_info(alice.address)
    reporting_before = pool.reporting_epoch()
    keeper_before = sb.keeper.balance
    trace = sb.report(alice, 1, METRICS)
    tx = trace.find(target, m.ApplyReport.PREFIX)
    assert tx.exit_code == code(expected) and tx.bounced
    assert trace.find(pool.distribution, RICH_BOUNCE_OP).success
    # SubmitReport counted the report at once; the bounce of the refusal takes exactly that
    # back out of the aggregates.
    recorded = one_event(trace, ContributionRecorded, pool.distribution)
    refused = one_event(trace, ContributionRefused, pool.distribution)
    assert same(refused.participant, target) and same(recorded.member, alice.address)
    figures = (1, contribution(METRICS), penalty_bps(METRICS), bonus_bps(METRICS))
    assert (recorded.epoch, recorded.contribution, recorded.penalty_bps, recorded.bonus_bps) == (
        figures
    )
    assert (refused.epoch, refused.contribution, refused.penalty_bps, refused.bonus_bps) == (
        figures
    )
    assert trace.find(sb.keeper.address, m.ReturnExcesses.PREFIX).success
    assert keeper_before - sb.keeper.balance == payer_cost(trace, sb.keeper.address)
    assert pool.participant_info(alice.address) == info_before
    assert pool.reporting_epoch() == reporting_before


def test_report_landing_after_the_deadline_is_still_recorded(sandbox: PoolSandbox) -> None:
    """SubmitReport counts the report at once; its ApplyReport may reach the member's contract
    in a later block, after the deadline and even after finalize (the emulator runs a trace at
    one instant, so the trace is cut after SubmitReport and ApplyReport is delivered by hand).
    Finalize does not wait for it; the member's contract has no window of its own and records
    the slip the final epoch already counted, which then claims its exact share."""
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    alice = sb.add_member("alice")
    pool.send_income(sb.proxy, ton(10)).assert_success()
    closed = one_event(sb.close_epoch(), EpochClosed)
    target = pool.participant_address(alice.address)
    limit = chain.max_trace_transactions
    chain.max_trace_transactions = 2  # keeper wallet, SubmitReport
    with pytest.raises(ChainError):
        sb.report(alice, 1, METRICS)
    chain.max_trace_transactions = limit
    submit = chain.transactions[-1]
    assert submit.success and submit.op == m.SubmitReport.PREFIX
    (apply,) = [msg for msg in submit.internal_out if msg.op == m.ApplyReport.PREFIX]
    assert same(apply.dest, target) and apply.value == fee("REPORT_APPLY_VALUE")
    reporting = pool.reporting_epoch()
    assert (reporting.reporters, reporting.contribution_sum) == (1, contribution(METRICS))
    assert not pool.unclaimed(alice.address, 1).found

    chain.set_now(reporting.deadline + 1)
    finalized = one_event(pool.finalize_epoch(sb.keeper).assert_success(), EpochFinalized)
    assert (finalized.epoch, finalized.reporters) == (1, 1)
    assert pool.final_epoch(1).contribution_sum == contribution(METRICS)

    ledger = pool.ledger()
    balance_before = chain.get_balance(target)
    trace = chain.send_message(apply.cell).assert_success()
    (applied,) = trace
    assert applied.op == m.ApplyReport.PREFIX and applied.internal_out == ()
    assert pool.unclaimed(alice.address, 1).found and pool.epoch_record(alice.address, 1).found
    assert pool.participant_info(alice.address).epochs_reported == 1
    assert chain.get_balance(target) == balance_before + apply.value - applied.total_fees
    assert pool.ledger() == ledger  # no pool money moved: the report was counted at submit
    sb.assert_conserved()

    # The one member of the epoch claims all of it, exactly as the model settles it.
    expected = simulate_epoch(closed.received, sb.params.commission_bps, 0, [METRICS])
    settled = one_event(
        pool.crank_payout(sb.keeper, alice.address, 1).assert_success(), RewardSettled
    )
    assert (settled.payout, settled.paid_now) == (expected.shares[0].payout, True)
    assert not pool.final_epoch(1).found
    sb.assert_conserved()


# ---------------------------------------------------------------- settlement


def small_pool(sb: PoolSandbox) -> Wallet:
    """One member and two reported epochs whose payouts stay below the minimum payout."""
    alice = sb.add_member("alice")
    run_epoch(sb, [alice], 1, ton("0.02"))
    run_epoch(sb, [alice], 2, ton("0.03"))
    return alice


def test_crank_below_minimum_credits_pending_and_claim_pays_it(sandbox: PoolSandbox) -> None:
    sb, pool = sandbox, sandbox.pool
    alice = small_pool(sb)
    target = pool.participant_address(alice.address)
    keeper_before = sb.keeper.balance
    trace = pool.crank_payout(sb.keeper, alice.address, 1).assert_success()
    settled = one_event(trace, RewardSettled, pool.distribution)
    assert not settled.paid_now and 0 < settled.payout < sb.params.min_payout
    credited = one_event(trace, PendingCredited, target)
    assert same(credited.member, alice.address)
    assert (credited.epoch, credited.pending) == (1, settled.payout)
    assert pool.participant_info(alice.address).pending == settled.payout
    assert not pool.unclaimed(alice.address, 1).found
    assert keeper_before - sb.keeper.balance == payer_cost(trace, sb.keeper.address)

    sb.finalize()
    wallet_before = alice.balance
    trace = pool.claim_rewards(alice, 2).assert_success()
    second = one_event(trace, RewardSettled, pool.distribution)
    assert second.paid_now and second.pending_carry == settled.payout
    paid = trace.find(alice.address, m.RewardPayout.PREFIX)
    assert paid.in_message is not None
    assert m.RewardPayout.from_cell(paid.in_message.body).amount == second.payout + settled.payout
    assert alice.balance - wallet_before == (
        second.payout + settled.payout - payer_cost(trace, alice.address)
    )
    assert pool.participant_info(alice.address).pending == 0
    assert pool.ledger().pending_credit == 0


def test_claim_refused_by_distribution_restores_slip_and_pending(sandbox: PoolSandbox) -> None:
    """SettleClaim bounce, on a real path: epoch 2's report window is still open."""
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    alice = small_pool(sb)
    pool.crank_payout(sb.keeper, alice.address, 1).assert_success()
    target = pool.participant_address(alice.address)
    info_before = pool.participant_info(alice.address)
    assert info_before.pending > 0
    slip_before = pool.unclaimed(alice.address, 2)
    ledger_before = pool.ledger()
    wallet_before = alice.balance
    balance_before = chain.get_balance(target)
    trace = pool.claim_rewards(alice, 2)
    settle = trace.find(pool.distribution, m.SettleClaim.PREFIX)
    assert settle.exit_code == code("EPOCH_NOT_FINAL") and settle.bounced
    assert trace.find(target, RICH_BOUNCE_OP).success
    assert pool.participant_info(alice.address) == info_before
    assert pool.unclaimed(alice.address, 2) == slip_before
    assert pool.ledger() == ledger_before
    assert alice.balance == wallet_before - payer_cost(trace, alice.address)
    assert chain.get_balance(target) == balance_before - storage_paid(trace, target)


def test_two_settlements_in_flight_keep_both_credits(sandbox: PoolSandbox) -> None:
    """Before the fix CreditPending assigned `pending`: the second credit erased the first."""
    sb, pool = sandbox, sandbox.pool
    alice = small_pool(sb)
    sb.finalize()
    target = pool.participant_address(alice.address)
    cranks = [
        (internal_message(dest=target, value=MEMBER_OP_FEE, body=crank_body(e, e)), 3)
        for e in (1, 2)
    ]
    trace = sb.keeper.send_raw(cranks).assert_success()
    settled = trace_events(trace, RewardSettled, pool.distribution)
    assert len(settled) == 2 and not any(s.paid_now for s in settled)
    owed = sum(s.payout for s in settled)
    assert pool.participant_info(alice.address).pending == owed == pool.ledger().pending_credit


# ---------------------------------------------------------------- owner actions


@pytest.mark.parametrize(
    ("state", "expected"),
    [("verified", None), ("unverified", "NOT_VERIFIED"), ("unbonding", "NOT_ACTIVE")],
)
def test_owner_action_needs_an_active_verified_member(
    sandbox: PoolSandbox, state: str, expected: str | None
) -> None:
    sb, pool = sandbox, sandbox.pool
    alice = sb.add_member("alice", verify=state != "unverified")
    if state == "unbonding":
        pool.unregister(alice).assert_success()
    target = pool.participant_address(alice.address)
    info_before = pool.participant_info(alice.address)
    trace = pool.owner_worker_register(sb.admin, alice.address)
    check = trace.find(target, m.CheckOwnerAction.PREFIX)
    if expected is None:
        assert check.success
        sent = one_event(trace, OwnerActionSent, pool.distribution)
        assert same(sent.member, alice.address) and same(sent.target, alice.address)
    else:
        assert check.exit_code == code(expected) and check.bounced
        returned = one_event(trace, OwnerActionReturned, pool.distribution)
        assert same(returned.recipient, sb.admin.address)
        assert trace.find(sb.admin.address, m.ReturnExcesses.PREFIX).success
    assert pool.participant_info(alice.address) == info_before
