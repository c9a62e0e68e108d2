"""The member's own worker binding, the admin's verification and revocation, and the member's
pending amount, on the real TVM (docs/security.md, points 2 and 3, "Revoking a member").

Each attack is driven through the real contracts; a refusal is checked for its exact exit code,
for the sender losing only the fees of the trace, and for no state or value moving anywhere.
"""

from __future__ import annotations

import dataclasses

import pytest
from ton_core import Address, Cell, begin_cell

from cocoon_doubles import CocoonDoubles, deploy_node_wallet
from cocoon_pool.chain.emulator import Wallet
from cocoon_pool.chain.types import Trace
from cocoon_pool.contracts import messages as m
from cocoon_pool.contracts.constants import fee, ton
from cocoon_pool.contracts.events import (
    ContributionRecorded,
    ContributionRefused,
    MemberRevoked,
    MemberVerified,
    OwnerActionReturned,
    OwnerActionSent,
    PendingCredited,
    PendingPaid,
    RewardSettled,
    StakeWithdrawn,
    WorkerBound,
    trace_events,
)
from cocoon_pool.contracts.exit_codes import code
from cocoon_pool.contracts.pool import PoolParams
from cocoon_pool.contracts.reports import OracleSigner
from cocoon_pool.economics import MemberMetrics
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

MEMBER_OP_FEE = fee("MEMBER_OP_FEE")
WITHDRAWN = 3
RICH_BOUNCE_OP = m.RICH_BOUNCE_PREFIX
METRICS = MemberMetrics(500_000, 1_000, 9_000, 5)
NODE_FUNDS = ton(5)
AMOUNT = ton(2)
WITHDRAWAL = m.NodeWalletWithdrawal.PREFIX
SEND_MESSAGE = m.CocoonOwnerWalletSendMessage.PREFIX
# Far above any share these tests produce: every keeper crank becomes a pending amount.
HIGH_MIN_PAYOUT = ton(1_000)


# ---------------------------------------------------------------- helpers


def refused_by_participant(
    sb: PoolSandbox, wallet: Wallet, member: Address, body: Cell, value: int, *, expected: str
) -> Trace:
    """Send ``body`` to ``member``'s Participant: refused with ``expected``, the whole value
    back but the fees, and nothing changed in the member's contract, registry or ledger."""
    pool, chain = sb.pool, sb.chain
    target = pool.participant_address(member)
    wallet_before = wallet.balance
    target_before = chain.get_balance(target)
    info_before = pool.participant_info(member)
    registry_before = pool.registry_info()
    ledger_before = pool.ledger()
    trace = wallet.send(target, value, body)
    assert_refused_and_refunded(
        trace,
        chain,
        wallet,
        target,
        value=value,
        expected=code(expected),
        payer_before=wallet_before,
        contract_before=target_before,
    )
    assert pool.participant_info(member) == info_before
    assert pool.registry_info() == registry_before
    assert pool.ledger() == ledger_before
    return trace


def bind_body(worker: Address, node_wallet: Address | None = None) -> Cell:
    return m.BindWorker(query_id=5, worker=worker, node_wallet=node_wallet).to_cell()


def node_wallet(sb: PoolSandbox, funder: Wallet, seed: str) -> Address:
    """A funded Cocoon node wallet whose owner is the pool (as every member's node wallet)."""
    return deploy_node_wallet(sb.chain, sb.pool.distribution, funder, NODE_FUNDS, seed=seed)


def bound_member(sb: PoolSandbox, name: str, node: Address | None = None) -> Wallet:
    """A registered member that bound its own wallet as worker (and ``node``), not verified."""
    member = sb.add_member(name, verify=False)
    sb.pool.bind_worker(member, member.address, node).assert_success()
    return member


def run_epoch(sb: PoolSandbox, members: list[Wallet], epoch: int, income: int) -> None:
    """Income, close the epoch, one report per member (the window stays open)."""
    sb.pool.send_income(sb.proxy, income).assert_success()
    sb.close_epoch()
    for w in members:
        sb.report(w, epoch, METRICS).assert_success()


def low_payout_pool() -> PoolSandbox:
    signer = OracleSigner.from_seed_text("cocoon-pool-oracle")
    params = PoolParams(oracle_key=signer.public_key, min_payout=HIGH_MIN_PAYOUT)
    return PoolSandbox.create(params=params)


def crank_to_pending(sb: PoolSandbox, member: Wallet, epoch: int) -> int:
    """A keeper's crank below the minimum payout: the share becomes the member's pending."""
    pool = sb.pool
    pending_before = pool.participant_info(member.address).pending
    credit_before = pool.ledger().pending_credit
    trace = pool.crank_payout(sb.keeper, member.address, epoch).assert_success()
    settled = one_event(trace, RewardSettled, pool.distribution)
    assert not settled.paid_now and 0 < settled.payout < HIGH_MIN_PAYOUT
    credited = one_event(trace, PendingCredited, pool.participant_address(member.address))
    assert credited.pending == settled.payout + pending_before
    pending = pool.participant_info(member.address).pending
    assert pending == pending_before + settled.payout
    assert pool.ledger().pending_credit == credit_before + settled.payout
    return pending


def withdraw_to_member(sb: PoolSandbox, member: Wallet, wallet: Address, amount: int) -> Trace:
    """The admin's node-wallet withdrawal for ``member``: exactly ``amount`` leaves ``wallet``
    for the member's own wallet and nothing else moves."""
    pool, chain = sb.pool, sb.chain
    member_before = chain.get_balance(member.address)
    wallet_before = chain.get_balance(wallet)
    trace = pool.owner_wallet_withdraw(sb.admin, member.address, amount).assert_success()
    received = trace.find(wallet, SEND_MESSAGE)
    assert received.in_message is not None and same(received.in_message.src, pool.distribution)
    (out,) = received.internal_out
    assert chain.get_balance(wallet) == (
        wallet_before + fee("NODE_WALLET_GAS_VALUE") - received.total_fees - amount - out.fwd_fee
    )
    paid = trace.find(member.address, WITHDRAWAL)
    assert paid.in_message is not None and same(paid.in_message.src, wallet)
    assert paid.in_message.value == amount
    assert chain.get_balance(member.address) == member_before + amount - paid.total_fees
    sent = one_event(trace, OwnerActionSent, pool.distribution)
    assert same(sent.member, member.address) and same(sent.target, wallet)
    assert sent.amount == amount
    return trace


# ---------------------------------------------------------------- (a) binding


@pytest.mark.parametrize("first_with_wallet", [False, True], ids=["worker-only", "with-wallet"])
def test_a_binding_is_set_once_by_the_member(sandbox: PoolSandbox, first_with_wallet: bool) -> None:
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    alice = sb.add_member("alice", verify=False)
    participant = pool.participant_address(alice.address)
    worker = sb.wallet("alice-worker").address
    own = node_wallet(sb, alice, "alice-node")
    other_worker = sb.wallet("mallory-worker").address
    other_wallet = node_wallet(sb, sb.wallet("mallory"), "mallory-node")
    other_funds = chain.get_balance(other_wallet)

    wallet_before = alice.balance
    trace = pool.bind_worker(alice, worker, own if first_with_wallet else None).assert_success()
    bound = one_event(trace, WorkerBound, participant)
    assert same(bound.member, alice.address) and same(bound.worker, worker)
    assert (bound.node_wallet is not None) == first_with_wallet
    # The member's value comes back but the fees; the Participant keeps nothing of it.
    assert wallet_before - alice.balance == payer_cost(trace, alice.address)
    if not first_with_wallet:
        # The one second message allowed: the node wallet, not known at first, for the same worker.
        trace = pool.bind_worker(alice, worker, own).assert_success()
        added = one_event(trace, WorkerBound, participant)
        assert same(added.worker, worker) and same(added.node_wallet, own)
    info = pool.participant_info(alice.address)
    assert same(info.worker, worker) and same(info.node_wallet, own) and not info.verified

    # Every other rebinding is refused and refunded; the binding stays as the member set it.
    for attempt in (
        bind_body(other_worker),
        bind_body(other_worker, other_wallet),
        bind_body(other_worker, own),
        bind_body(worker, other_wallet),
        bind_body(worker, own),
        bind_body(worker),
    ):
        refused_by_participant(
            sb, alice, alice.address, attempt, MEMBER_OP_FEE, expected="ALREADY_BOUND"
        )
    info = pool.participant_info(alice.address)
    assert same(info.worker, worker) and same(info.node_wallet, own)
    assert chain.get_balance(other_wallet) == other_funds


@pytest.mark.parametrize("with_wallet", [False, True], ids=["worker-only", "with-wallet"])
def test_joining_binds_the_worker_in_the_same_message(
    sandbox: PoolSandbox, with_wallet: bool
) -> None:
    """RegisterParticipant may carry the binding: one message joins and binds, under the same
    rules as BindWorker (set once, by the member only), and the admin can verify at once."""
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    alice = sb.wallet("alice")
    participant = pool.participant_address(alice.address)
    worker = sb.wallet("alice-worker").address
    own = node_wallet(sb, alice, "alice-node") if with_wallet else None
    stake = sb.params.min_stake
    wallet_before = alice.balance

    trace = pool.register(alice, stake, worker=worker, node_wallet=own).assert_success()

    bound = one_event(trace, WorkerBound, participant)
    assert same(bound.member, alice.address) and same(bound.worker, worker)
    assert (bound.node_wallet is None) == (own is None)
    assert own is None or same(bound.node_wallet, own)
    assert not trace.find_all(participant, m.BindWorker.PREFIX)
    reserve = fee("PARTICIPANT_STORAGE_RESERVE")
    assert chain.get_balance(participant) == stake + reserve
    assert wallet_before - alice.balance == stake + reserve + payer_cost(trace, alice.address)
    info = pool.participant_info(alice.address)
    assert same(info.worker, worker) and not info.verified
    assert (info.node_wallet is None) == (own is None)
    pool.verify_member(sb.admin, alice.address).assert_success()
    assert pool.participant_info(alice.address).verified
    # The binding made at joining is as final as one made with BindWorker.
    refused_by_participant(
        sb,
        alice,
        alice.address,
        bind_body(sb.wallet("mallory").address),
        MEMBER_OP_FEE,
        expected="ALREADY_BOUND",
    )
    if own is None:
        # The node wallet, unknown at joining, can still be added for the same worker.
        later = node_wallet(sb, alice, "alice-node")
        pool.bind_worker(alice, worker, later).assert_success()
        assert same(pool.participant_info(alice.address).node_wallet, later)


def test_a_returning_member_cannot_rebind_by_joining_again(sandbox: PoolSandbox) -> None:
    """A member that left and took its stake out keeps its binding: a new registration naming
    a worker is refused by its contract and refunded whole by the registry, nothing counted;
    the same registration without a binding goes through and keeps the old one."""
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    alice = sb.add_member("alice")
    participant = pool.participant_address(alice.address)
    pool.unregister(alice).assert_success()
    chain.advance(sb.params.unbonding_seconds)
    pool.withdraw_stake(alice).assert_success()
    info_before = pool.participant_info(alice.address)
    registry_before = pool.registry_info()
    wallet_before = alice.balance
    registry_balance = chain.get_balance(pool.registry)
    participant_balance = chain.get_balance(participant)
    mallory = sb.wallet("mallory").address

    trace = pool.register(alice, sb.params.min_stake, worker=mallory)

    init = trace.find(participant, m.InitParticipant.PREFIX)
    assert init.exit_code == code("ALREADY_BOUND") and init.bounced
    assert [tx.success for tx in trace].count(False) == 1
    assert trace_events(trace, WorkerBound) == []
    # The unbonding wore the registry below its storage floor: the caller tops it back up,
    # as every registration does, and gets everything else back.
    topped = gain(chain, trace, pool.registry, registry_balance)
    assert chain.get_balance(pool.registry) == fee("REGISTRY_STORAGE_FLOOR") and topped > 0
    assert alice.balance == wallet_before - payer_cost(trace, alice.address) - topped
    assert chain.get_balance(participant) == participant_balance - storage_paid(trace, participant)
    assert pool.participant_info(alice.address) == info_before
    assert pool.registry_info() == registry_before

    pool.register(alice, sb.params.min_stake).assert_success()
    info = pool.participant_info(alice.address)
    assert same(info.worker, alice.address) and info.verified


def test_a_worker_only_binding_cannot_switch_worker_when_adding_a_wallet(
    sandbox: PoolSandbox,
) -> None:
    sb, pool = sandbox, sandbox.pool
    alice = sb.add_member("alice", verify=False)
    worker = sb.wallet("alice-worker").address
    pool.bind_worker(alice, worker).assert_success()
    mallory_node = node_wallet(sb, sb.wallet("mallory"), "mallory-node")
    for attempt in (bind_body(sb.wallet("mallory").address, mallory_node), bind_body(worker)):
        refused_by_participant(
            sb, alice, alice.address, attempt, MEMBER_OP_FEE, expected="ALREADY_BOUND"
        )
    info = pool.participant_info(alice.address)
    assert same(info.worker, worker) and info.node_wallet is None


@pytest.mark.parametrize("bound", [False, True], ids=["before-binding", "after-binding"])
@pytest.mark.parametrize("sender", ["admin", "stranger", "bob"])
def test_nobody_but_the_member_binds(sandbox: PoolSandbox, sender: str, bound: bool) -> None:
    """The admin (or anyone) would love to bind a member's contract to a node wallet it
    chooses, first or instead: only the member's own wallet may send BindWorker."""
    sb = sandbox
    alice = sb.add_member("alice", verify=False)
    sb.add_member("bob")
    if bound:
        sb.pool.bind_worker(alice, alice.address).assert_success()
    wallet = sb.admin if sender == "admin" else sb.wallet(sender)
    mallory_node = node_wallet(sb, sb.wallet("mallory"), "mallory-node")
    refused_by_participant(
        sb, wallet, alice.address, bind_body(wallet.address, mallory_node), MEMBER_OP_FEE,
        expected="PARTICIPANT_NOT_FROM_MEMBER",
    )  # fmt: skip


@pytest.mark.parametrize("src", ["operator", "registry", "distribution", "bob-participant"])
def test_no_pool_contract_binds_for_the_member(sandbox: PoolSandbox, src: str) -> None:
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    alice = sb.add_member("alice", verify=False)
    bob = sb.add_member("bob")
    sender = {
        "operator": pool.operator,
        "registry": pool.registry,
        "distribution": pool.distribution,
        "bob-participant": pool.participant_address(bob.address),
    }[src]
    target = pool.participant_address(alice.address)
    before = pool.participant_info(alice.address)
    balance_before = chain.get_balance(target)
    body = bind_body(sb.wallet("mallory").address, sb.wallet("mallory").address)
    trace = chain.send_internal(sender, target, ton(1), body)
    tx = trace.find(target)
    assert tx.exit_code == code("PARTICIPANT_NOT_FROM_MEMBER") and tx.bounced
    assert pool.participant_info(alice.address) == before
    assert chain.get_balance(target) == balance_before - tx.storage_fees


def test_verify_member_carries_no_address(sandbox: PoolSandbox) -> None:
    """VerifyMember is {query_id, member, verified, more}. Even a body in the old layout, naming the
    admin's worker and node wallet after the member, leaves the member's binding alone, and
    the withdrawal still pays the member from the wallet it bound."""
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    assert [f.name for f in dataclasses.fields(m.VerifyMember)] == [
        "query_id",
        "member",
        "verified",
        "more",
    ]
    alice_node = node_wallet(sb, sb.wallet("alice"), "alice-node")
    alice = bound_member(sb, "alice", alice_node)
    admin_node = node_wallet(sb, sb.admin, "admin-node")
    admin_node_funds = chain.get_balance(admin_node)
    old_layout = (
        begin_cell()
        .store_uint(m.VerifyMember.PREFIX or 0, 32)
        .store_uint(9, 64)
        .store_address(alice.address)
        .store_address(sb.admin.address)  # the old `worker`
        .store_bit(1)
        .store_address(admin_node)  # the old `nodeWallet`
        .end_cell()
    )
    trace = sb.admin.send(pool.operator, fee("ADMIN_OP_FEE"), old_layout).assert_success()
    mark = trace.find(pool.participant_address(alice.address), m.MarkVerified.PREFIX)
    assert mark.in_message is not None
    # Only a flag and where the change goes (the admin, named by the pool contract itself)
    # reach the member's contract (the old worker's first bit reads as `true`).
    assert m.MarkVerified.from_cell(mark.in_message.body) == m.MarkVerified(
        query_id=9, verified=True, excess_to=sb.admin.address
    )
    info = pool.participant_info(alice.address)
    assert same(info.worker, alice.address) and same(info.node_wallet, alice_node)
    trace = withdraw_to_member(sb, alice, alice_node, AMOUNT)
    assert trace.find_all(admin_node) == []
    assert chain.get_balance(admin_node) == admin_node_funds


def test_verifying_before_binding_fails_and_the_admins_value_returns(
    sandbox: PoolSandbox,
) -> None:
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    alice = sb.add_member("alice", verify=False)
    target = pool.participant_address(alice.address)
    info_before = pool.participant_info(alice.address)
    participant_before = chain.get_balance(target)
    operator_before = chain.get_balance(pool.operator)
    admin_before = sb.admin.balance
    trace = pool.verify_member(sb.admin, alice.address)
    mark = trace.find(target, m.MarkVerified.PREFIX)
    assert mark.exit_code == code("NOT_BOUND") and mark.bounced
    assert trace.find(pool.registry, RICH_BOUNCE_OP).success
    assert trace_events(trace, MemberVerified) == []
    # The value goes back to the admin, as a successful verification's change does: the
    # admin pays the fees only, and the pool contract keeps nothing.
    assert gain(chain, trace, pool.operator, operator_before) == 0
    assert admin_before - sb.admin.balance == payer_cost(trace, sb.admin.address)
    assert pool.participant_info(alice.address) == info_before
    assert not info_before.verified and info_before.worker is None
    assert chain.get_balance(target) == participant_before - storage_paid(trace, target)

    # Once the member bound its worker, the same verification goes through.
    pool.bind_worker(alice, alice.address).assert_success()
    trace = pool.verify_member(sb.admin, alice.address).assert_success()
    verified = one_event(trace, MemberVerified, target)
    assert same(verified.member, alice.address) and same(verified.worker, alice.address)
    assert pool.participant_info(alice.address).verified


# ---------------------------------------------------------------- (b) node-wallet withdrawal


def test_the_withdrawal_pays_only_the_member_who_bound_the_wallet(sandbox: PoolSandbox) -> None:
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    doubles = CocoonDoubles.deploy(chain, sb.proxy)
    alice_node = node_wallet(sb, sb.wallet("alice"), "alice-node")
    bob_node = node_wallet(sb, sb.wallet("bob"), "bob-node")
    alice = bound_member(sb, "alice", alice_node)
    bob = bound_member(sb, "bob", bob_node)
    for member in (alice, bob):
        pool.verify_member(sb.admin, member.address).assert_success()

    bob_before = bob.balance
    bob_node_before = chain.get_balance(bob_node)
    trace = withdraw_to_member(sb, alice, alice_node, AMOUNT)
    assert trace.find_all(bob_node) == [] and trace.find_all(bob.address) == []
    assert chain.get_balance(bob_node) == bob_node_before and bob.balance == bob_before
    alice_before = alice.balance
    trace = withdraw_to_member(sb, bob, bob_node, ton(1))
    assert trace.find_all(alice.address) == [] and alice.balance == alice_before

    # Revoked: the binding stays recorded, but the pool no longer acts on it (a member might
    # have named a wallet that is not its node's): neither a withdrawal ...
    trace = pool.verify_member(sb.admin, alice.address, verified=False).assert_success()
    revoked = one_event(trace, MemberRevoked, pool.participant_address(alice.address))
    assert same(revoked.member, alice.address)
    info = pool.participant_info(alice.address)
    assert not info.verified and same(info.node_wallet, alice_node)
    alice_node_before = chain.get_balance(alice_node)
    trace = pool.owner_wallet_withdraw(sb.admin, alice.address, ton(1))
    check = trace.find(pool.participant_address(alice.address), m.CheckOwnerAction.PREFIX)
    assert check.exit_code == code("NOT_VERIFIED") and check.bounced
    assert trace.find_all(alice_node) == [] and chain.get_balance(alice_node) == alice_node_before

    # ... nor an action on the revoked member's worker.
    worker = doubles.deploy_worker(pool.distribution, alice)
    stake = pool.pool_info().operator_stake
    distribution_before = chain.get_balance(pool.distribution)
    admin_before = sb.admin.balance
    trace = pool.owner_worker_register(sb.admin, alice.address)
    check = trace.find(pool.participant_address(alice.address), m.CheckOwnerAction.PREFIX)
    assert check.exit_code == code("NOT_VERIFIED") and check.bounced
    returned = one_event(trace, OwnerActionReturned, pool.distribution)
    assert same(returned.recipient, sb.admin.address)
    assert trace.find(sb.admin.address, m.ReturnExcesses.PREFIX).success
    # The admin's whole value comes back but the fees of the trace.
    assert admin_before - sb.admin.balance == payer_cost(trace, sb.admin.address)
    assert trace_events(trace, OwnerActionSent) == []
    assert trace.find_all(worker) == [] and doubles.registrations(worker) == 0
    assert pool.pool_info().operator_stake == stake
    assert chain.get_balance(pool.distribution) == distribution_before - storage_paid(
        trace, pool.distribution
    )
    sb.assert_conserved()


# ---------------------------------------------------------------- (c) revocation


def test_a_revoked_member_keeps_stake_slips_and_pending_and_can_leave() -> None:
    sb = low_payout_pool()
    pool, chain = sb.pool, sb.chain
    alice = sb.add_member("alice")
    bob = sb.add_member("bob")
    target = pool.participant_address(alice.address)
    # Epoch 1: a crank leaves alice a pending amount; epoch 2: an unclaimed slip.
    run_epoch(sb, [alice, bob], 1, ton(10))
    sb.finalize()
    pending = crank_to_pending(sb, alice, 1)
    run_epoch(sb, [alice, bob], 2, ton(10))
    pool.send_income(sb.proxy, ton(10)).assert_success()
    sb.close_epoch()  # finalizes epoch 2, epoch 3 takes reports
    slip = pool.unclaimed(alice.address, 2)
    assert slip.found

    info_before = pool.participant_info(alice.address)
    balance_before = chain.get_balance(target)
    trace = pool.verify_member(sb.admin, alice.address, verified=False).assert_success()
    one_event(trace, MemberRevoked, target)
    # Revoking flips the flag and nothing else: stake, slips, pending and binding stay.
    assert pool.participant_info(alice.address) == dataclasses.replace(info_before, verified=False)
    assert pool.unclaimed(alice.address, 2) == slip
    # The member's contract keeps what the MarkVerified carried beyond its gas.
    kept = kept_of_value(trace, target, fee("VERIFY_APPLY_VALUE"))
    assert chain.get_balance(target) == balance_before - storage_paid(trace, target) + kept

    # Its report for the open epoch no longer counts: refused, relay refunded, nothing added.
    reporting_before = pool.reporting_epoch()
    keeper_before = sb.keeper.balance
    info_before = pool.participant_info(alice.address)
    trace = sb.report(alice, 3, METRICS)
    apply = trace.find(target, m.ApplyReport.PREFIX)
    assert apply.exit_code == code("NOT_VERIFIED") and apply.bounced
    refused = one_event(trace, ContributionRefused, pool.distribution)
    assert refused.epoch == 3 and same(refused.participant, target)
    # Counted when submitted, taken back out by the refusal's bounce.
    recorded = one_event(trace, ContributionRecorded, pool.distribution)
    assert (recorded.epoch, recorded.contribution) == (3, refused.contribution)
    assert same(recorded.member, alice.address)
    assert pool.reporting_epoch() == reporting_before
    assert pool.participant_info(alice.address) == info_before
    assert not pool.unclaimed(alice.address, 3).found
    assert keeper_before - sb.keeper.balance == payer_cost(trace, sb.keeper.address)
    sb.report(bob, 3, METRICS).assert_success()  # a verified member's report still counts

    # The revoked member still claims the earlier epoch (with its pending amount) ...
    wallet_before = alice.balance
    trace = pool.claim_rewards(alice, 2).assert_success()
    settled = one_event(trace, RewardSettled, pool.distribution)
    assert settled.paid_now and settled.payout > 0 and settled.pending_carry == pending
    assert alice.balance - wallet_before == (
        settled.payout + pending - payer_cost(trace, alice.address)
    )
    assert pool.participant_info(alice.address).pending == 0
    # ... leaves, and takes its whole stake out after the unbonding.
    pool.unregister(alice).assert_success()
    chain.advance(sb.params.unbonding_seconds)
    wallet_before = alice.balance
    trace = pool.withdraw_stake(alice).assert_success()
    withdrawn = one_event(trace, StakeWithdrawn, target)
    assert withdrawn.amount == sb.params.min_stake
    assert alice.balance - wallet_before == sb.params.min_stake - payer_cost(trace, alice.address)
    assert trace_events(trace, PendingPaid) == []
    info = pool.participant_info(alice.address)
    assert (info.status, info.stake, info.pending, info.verified) == (WITHDRAWN, 0, 0, False)
    sb.assert_conserved()


# ---------------------------------------------------------------- (d) pending amount


@pytest.fixture
def pending_pool() -> tuple[PoolSandbox, Wallet, int]:
    """Alice with a pending amount (a keeper's crank below the minimum payout); bob a member."""
    sb = low_payout_pool()
    alice = sb.add_member("alice")
    sb.add_member("bob")
    run_epoch(sb, [alice], 1, ton(10))
    sb.finalize()
    return sb, alice, crank_to_pending(sb, alice, 1)


def test_claim_pending_pays_exactly_the_pending_amount(
    pending_pool: tuple[PoolSandbox, Wallet, int],
) -> None:
    sb, alice, pending = pending_pool
    pool, chain = sb.pool, sb.chain
    target = pool.participant_address(alice.address)
    refused_by_participant(
        sb, alice, alice.address, m.ClaimPending(query_id=1).to_cell(), MEMBER_OP_FEE - 1,
        expected="PARTICIPANT_VALUE_TOO_LOW",
    )  # fmt: skip

    ledger_before = pool.ledger()
    assert ledger_before.pending_credit == pending
    wallet_before = alice.balance
    distribution_before = chain.get_balance(pool.distribution)
    participant_before = chain.get_balance(target)
    trace = pool.claim_pending(alice).assert_success()
    paid = one_event(trace, PendingPaid, pool.distribution)
    assert same(paid.member, alice.address) and paid.amount == pending
    payout = trace.find(alice.address, m.RewardPayout.PREFIX)
    assert payout.in_message is not None and same(payout.in_message.src, pool.distribution)
    assert m.RewardPayout.from_cell(payout.in_message.body).epoch == 0
    assert m.RewardPayout.from_cell(payout.in_message.body).amount == pending
    assert alice.balance - wallet_before == pending - payer_cost(trace, alice.address)
    ledger = pool.ledger()
    assert ledger.pending_credit == 0 and ledger.paid == ledger_before.paid + pending
    assert pool.participant_info(alice.address).pending == 0
    assert chain.get_balance(pool.distribution) == (
        distribution_before - pending - storage_paid(trace, pool.distribution)
    )
    assert chain.get_balance(target) == participant_before - storage_paid(trace, target)

    # Nothing left: a second claim is refused and refunded.
    refused_by_participant(
        sb, alice, alice.address, m.ClaimPending(query_id=2).to_cell(), MEMBER_OP_FEE,
        expected="NOTHING_TO_CLAIM",
    )  # fmt: skip
    sb.assert_conserved()


def test_claim_pending_with_nothing_pending_is_refused(
    pending_pool: tuple[PoolSandbox, Wallet, int],
) -> None:
    sb = pending_pool[0]
    bob = sb.members["bob"]
    assert sb.pool.participant_info(bob.address).pending == 0
    refused_by_participant(
        sb, bob, bob.address, m.ClaimPending(query_id=1).to_cell(), MEMBER_OP_FEE,
        expected="NOTHING_TO_CLAIM",
    )  # fmt: skip


@pytest.mark.parametrize("sender", ["stranger", "bob", "admin"])
def test_nobody_else_claims_a_members_pending_amount(
    pending_pool: tuple[PoolSandbox, Wallet, int], sender: str
) -> None:
    sb, alice, pending = pending_pool
    wallet = sb.admin if sender == "admin" else sb.wallet(sender)
    refused_by_participant(
        sb, wallet, alice.address, m.ClaimPending(query_id=1).to_cell(), MEMBER_OP_FEE,
        expected="PARTICIPANT_NOT_FROM_MEMBER",
    )  # fmt: skip
    assert sb.pool.participant_info(alice.address).pending == pending


@pytest.mark.parametrize("src", ["stranger", "bob-participant"])
def test_a_forged_pay_pending_moves_nothing(
    pending_pool: tuple[PoolSandbox, Wallet, int], src: str
) -> None:
    """Skipping the member's contract: PayPending straight to the distribution, naming alice
    (from a wallet, or from another member's contract), is refused."""
    sb, alice, pending = pending_pool
    pool, chain = sb.pool, sb.chain
    body = m.PayPending(query_id=1, member=alice.address, amount=pending).to_cell()
    ledger_before = pool.ledger()
    info_before = pool.participant_info(alice.address)
    distribution_before = chain.get_balance(pool.distribution)
    alice_before = alice.balance
    if src == "stranger":
        stranger = sb.wallet("stranger")
        stranger_before = stranger.balance
        trace = stranger.send(pool.distribution, MEMBER_OP_FEE, body)
        assert_refused_and_refunded(
            trace,
            chain,
            stranger,
            pool.distribution,
            value=MEMBER_OP_FEE,
            expected=code("DISTRIBUTION_NOT_FROM_PARTICIPANT"),
            payer_before=stranger_before,
            contract_before=distribution_before,
        )
    else:
        bob_participant = pool.participant_address(sb.members["bob"].address)
        trace = chain.send_internal(bob_participant, pool.distribution, MEMBER_OP_FEE, body)
        tx = trace.find(pool.distribution)
        assert tx.exit_code == code("DISTRIBUTION_NOT_FROM_PARTICIPANT") and tx.bounced
        assert chain.get_balance(pool.distribution) == distribution_before - tx.storage_fees
    assert trace_events(trace, PendingPaid) == []
    assert pool.ledger() == ledger_before
    assert pool.participant_info(alice.address) == info_before
    assert alice.balance == alice_before


def test_withdraw_stake_pays_stake_and_pending(
    pending_pool: tuple[PoolSandbox, Wallet, int],
) -> None:
    sb, alice, pending = pending_pool
    pool, chain = sb.pool, sb.chain
    target = pool.participant_address(alice.address)
    stake = sb.params.min_stake
    pool.unregister(alice).assert_success()
    chain.advance(sb.params.unbonding_seconds)
    # With a pending amount to send on, the member's value must cover the extra hop.
    refused_by_participant(
        sb, alice, alice.address, m.WithdrawStake().to_cell(), MEMBER_OP_FEE - 1,
        expected="PARTICIPANT_VALUE_TOO_LOW",
    )  # fmt: skip

    ledger_before = pool.ledger()
    wallet_before = alice.balance
    distribution_before = chain.get_balance(pool.distribution)
    trace = pool.withdraw_stake(alice).assert_success()
    withdrawn = one_event(trace, StakeWithdrawn, target)
    assert same(withdrawn.member, alice.address) and withdrawn.amount == stake
    paid = one_event(trace, PendingPaid, pool.distribution)
    assert same(paid.member, alice.address) and paid.amount == pending
    returned = trace.find(alice.address, m.StakeReturned.PREFIX)
    assert returned.in_message is not None
    assert m.StakeReturned.from_cell(returned.in_message.body).amount == stake
    payout = trace.find(alice.address, m.RewardPayout.PREFIX)
    assert payout.in_message is not None
    assert m.RewardPayout.from_cell(payout.in_message.body).amount == pending
    assert alice.balance - wallet_before == stake + pending - payer_cost(trace, alice.address)
    ledger = pool.ledger()
    assert ledger.pending_credit == 0 and ledger.paid == ledger_before.paid + pending
    assert chain.get_balance(pool.distribution) == (
        distribution_before - pending - storage_paid(trace, pool.distribution)
    )
    info = pool.participant_info(alice.address)
    assert (info.status, info.stake, info.pending) == (WITHDRAWN, 0, 0)
    sb.assert_conserved()


def test_a_pay_pending_held_back_across_a_pause_pays_exactly_once(
    pending_pool: tuple[PoolSandbox, Wallet, int],
) -> None:
    """The member's PayPending is held back, the pool is paused, then it lands: a pause never
    blocks earned money, the amount is paid exactly once, and the books conserve."""
    sb, alice, pending = pending_pool
    pool = sb.pool
    limit = sb.chain.max_trace_transactions
    sb.chain.max_trace_transactions = 2  # alice's wallet and her Participant; PayPending held
    with pytest.raises(ChainError):
        pool.claim_pending(alice)
    sb.chain.max_trace_transactions = limit
    (held,) = sb.chain.transactions[-1].internal_out
    assert held.op == m.PayPending.PREFIX
    assert pool.participant_info(alice.address).pending == 0  # taken out before it left
    assert pool.ledger().pending_credit == pending  # still owed until the distribution pays

    pool.admin_call(sb.pauser, m.PausePool(query_id=1)).assert_success()
    paid_before, alice_before = pool.ledger().paid, alice.balance
    trace = sb.chain.send_message(held.cell).assert_success()
    assert one_event(trace, PendingPaid, pool.distribution).amount == pending
    landing = trace.find(alice.address, m.RewardPayout.PREFIX)
    assert landing.in_message is not None
    assert alice.balance - alice_before == landing.in_message.value - landing.total_fees
    assert landing.in_message.value >= pending
    ledger = pool.ledger()
    assert (ledger.pending_credit, ledger.paid) == (0, paid_before + pending)
    refused_by_participant(
        sb, alice, alice.address, m.ClaimPending(query_id=9).to_cell(), MEMBER_OP_FEE,
        expected="NOTHING_TO_CLAIM",
    )  # fmt: skip
    sb.assert_conserved()
