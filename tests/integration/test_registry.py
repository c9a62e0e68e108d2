"""ParticipantRegistry on the real TVM: admission, counts, refunds, roles and bounce paths.

Every refusal is checked for its exact exit code, for the sender losing nothing but the
fees of the trace, and for the registry keeping its balance (minus storage) and its state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from ton_core import Address, Cell, begin_cell

from cocoon_pool.chain.emulator import EmulatedChain, Wallet
from cocoon_pool.chain.types import Trace, Transaction
from cocoon_pool.contracts import messages as m
from cocoon_pool.contracts import storage as st
from cocoon_pool.contracts.codec import TlbStruct
from cocoon_pool.contracts.constants import fee, ton
from cocoon_pool.contracts.events import (
    MemberJoined,
    MemberLeft,
    MemberRevoked,
    MemberVerified,
    RegistrationRefunded,
    WorkerBound,
    trace_events,
)
from cocoon_pool.contracts.exit_codes import code
from cocoon_pool.contracts.pool import PoolParams, pool_codes
from cocoon_pool.contracts.reports import OracleSigner
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
REGISTER_FEE = fee("REGISTER_FEE")
ADMIN_OP_FEE = fee("ADMIN_OP_FEE")
RICH_BOUNCE_OP = m.RICH_BOUNCE_PREFIX
BOUNCE_OP = 0xFFFFFFFF
MASTERCHAIN_SENDER = Address("-1:" + "11" * 32)


# ---------------------------------------------------------------- helpers


def register_body(stake: int, query_id: int = 1) -> Cell:
    return m.RegisterParticipant(query_id=query_id, stake=stake).to_cell()


def min_value(stake: int) -> int:
    return stake + RESERVE + REGISTER_FEE


def refused_by_registry(
    sb: PoolSandbox, wallet: Wallet, body: Cell, value: int, expected: int
) -> Trace:
    """Send ``body`` to the registry from ``wallet``; check the refusal and the full refund."""
    pool, chain = sb.pool, sb.chain
    wallet_before = wallet.balance
    registry_before = chain.get_balance(pool.registry)
    info_before = pool.registry_info()
    trace = wallet.send(pool.registry, value, body)
    assert_refused_and_refunded(
        trace,
        chain,
        wallet,
        pool.registry,
        value=value,
        expected=expected,
        payer_before=wallet_before,
        contract_before=registry_before,
    )
    assert pool.registry_info() == info_before
    return trace


def injected_refusal(
    sb: PoolSandbox, src: Address, body: Cell, value: int, expected: int
) -> Transaction:
    """A message the registry receives from a contract address (value minted by the emulator)."""
    pool, chain = sb.pool, sb.chain
    registry_before = chain.get_balance(pool.registry)
    info_before = pool.registry_info()
    trace = chain.send_internal(src, pool.registry, value, body)
    tx = trace.find(pool.registry)
    assert tx.exit_code == expected, trace.describe()
    assert tx.bounced
    (bounce,) = tx.internal_out
    assert bounce.bounced and same(bounce.dest, src)
    assert bounce.value == value - (tx.total_fees - tx.storage_fees) - bounce.fwd_fee
    assert chain.get_balance(pool.registry) == registry_before - tx.storage_fees
    assert pool.registry_info() == info_before
    return tx


def participant_status(chain: EmulatedChain, address: Address) -> str:
    return chain.get_state(address).status


# ---------------------------------------------------------------- register: success


@pytest.mark.parametrize(
    ("stake_extra", "value_extra"),
    [(0, 0), (ton(5), 0), (0, ton(3)), (ton("1.5"), ton("0.777"))],
)
def test_register_keeps_stake_and_reserve_and_refunds_the_rest(
    sandbox: PoolSandbox, stake_extra: int, value_extra: int
) -> None:
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    alice = sb.wallet("alice")
    stake = sb.params.min_stake + stake_extra
    value = min_value(stake) + value_extra
    participant = pool.participant_address(alice.address)
    wallet_before = alice.balance
    registry_before = chain.get_balance(pool.registry)
    operator_before = chain.get_balance(pool.operator)

    trace = pool.register(alice, stake, value=value).assert_success()

    init = trace.find(participant, m.InitParticipant.PREFIX)
    assert init.orig_status in ("nonexist", "uninit") and init.end_status == "active"
    assert chain.get_balance(participant) == stake + RESERVE
    # The excess rides with the confirmation and goes back to the member from the registry,
    # in this same trace: one change message, and the pool contract is not involved.
    refund = trace.find(alice.address, m.ReturnExcesses.PREFIX)
    assert refund.in_message is not None and same(refund.in_message.src, pool.registry)
    assert refund.in_message.value > value_extra
    assert chain.get_balance(pool.registry) == registry_before - storage_paid(trace, pool.registry)
    assert not trace.find_all(pool.operator)
    assert chain.get_balance(pool.operator) == operator_before
    # The member paid the stake, the reserve and the fees, nothing else.
    assert wallet_before - alice.balance == stake + RESERVE + payer_cost(trace, alice.address)

    joined = one_event(trace, MemberJoined, pool.registry)
    assert same(joined.member, alice.address)
    assert (joined.stake, joined.member_count) == (stake, 1)
    registry = pool.registry_info()
    assert (registry.member_count, registry.total_stake, registry.ever_joined) == (1, stake, 1)
    member = pool.participant_info(alice.address)
    assert member.registered and same(member.member, alice.address)
    assert same(member.registry, pool.registry)
    assert (member.status, member.verified, member.stake) == (1, False, stake)
    assert (member.joined_at, member.unbond_at, member.pending) == (chain.now, 0, 0)
    # Both contracts derive the address without cells (calcParticipantHash); it must match
    # the StateInit the registry deployed and the Python derivation with real cells.
    for contract in (pool.registry, pool.distribution):
        derived = pool.chain.run_get_method(contract, "participantAddress", [alice.address])
        assert derived.address_at(0) == participant


def test_counts_and_totals_follow_joins_and_leaves(sandbox: PoolSandbox) -> None:
    sb, pool = sandbox, sandbox.pool
    stakes = {"a": ton(10), "b": ton(25), "c": ton("12.5")}
    wallets = {name: sb.add_member(name, stake) for name, stake in stakes.items()}
    registry = pool.registry_info()
    assert (registry.member_count, registry.total_stake, registry.ever_joined) == (
        3,
        sum(stakes.values()),
        3,
    )

    trace = pool.unregister(wallets["b"]).assert_success()
    left = one_event(trace, MemberLeft, pool.registry)
    assert same(left.member, wallets["b"].address)
    assert (left.stake, left.member_count) == (stakes["b"], 2)
    registry = pool.registry_info()
    expected = (2, stakes["a"] + stakes["c"], 3)
    assert (registry.member_count, registry.total_stake, registry.ever_joined) == expected

    # Taking the stake out later does not count the member a second time.
    sb.chain.advance(sb.params.unbonding_seconds)
    pool.withdraw_stake(wallets["b"]).assert_success()
    registry = pool.registry_info()
    assert (registry.member_count, registry.total_stake, registry.ever_joined) == expected


# ---------------------------------------------------------------- register: refusals


def pause(sb: PoolSandbox) -> None:
    sb.pool.admin_call(sb.pauser, m.PausePool()).assert_success()


def close(sb: PoolSandbox) -> None:
    sb.pool.admin_call(sb.admin, m.ClosePool()).assert_success()


def nothing(sb: PoolSandbox) -> None:
    pass


@pytest.mark.parametrize(
    ("setup", "stake_delta", "value_delta", "expected"),
    [
        (nothing, -1, 0, "STAKE_BELOW_MINIMUM"),
        (nothing, -ton(10), 0, "STAKE_BELOW_MINIMUM"),
        (nothing, 0, -1, "REGISTER_VALUE_TOO_LOW"),
        (nothing, ton(5), -ton(5) - 1, "REGISTER_VALUE_TOO_LOW"),
        (pause, 0, 0, "REGISTRATION_PAUSED"),
        (pause, -1, 0, "REGISTRATION_PAUSED"),
        (close, 0, 0, "POOL_CLOSING"),
    ],
    ids=[
        "stake-1",
        "stake-0",
        "value-1",
        "stake-up-value-short",
        "paused",
        "paused-low",
        "closing",
    ],
)
def test_register_refused(
    sandbox: PoolSandbox,
    setup: Callable[[PoolSandbox], None],
    stake_delta: int,
    value_delta: int,
    expected: str,
) -> None:
    setup(sandbox)
    alice = sandbox.wallet("alice")
    stake = sandbox.params.min_stake + stake_delta
    value = min_value(sandbox.params.min_stake) + value_delta
    refused_by_registry(sandbox, alice, register_body(stake), value, code(expected))
    assert participant_status(sandbox.chain, sandbox.pool.participant_address(alice.address)) in (
        "nonexist",
        "uninit",
    )


def test_register_after_unpause_and_at_the_new_minimum(sandbox: PoolSandbox) -> None:
    sb, pool = sandbox, sandbox.pool
    pause(sb)
    assert pool.registry_info().paused
    pool.admin_call(sb.admin, m.UnpausePool()).assert_success()
    assert not pool.registry_info().paused
    pool.register(sb.wallet("a"), sb.params.min_stake).assert_success()

    new_min = ton(20)
    pool.propose_change(sb.admin, m.ChangeMinStake(amount=new_min)).assert_success()
    sb.chain.set_now(pool.pending_change().apply_after)
    pool.admin_call(sb.admin, m.ApplyChange()).assert_success()
    assert pool.registry_info().min_stake == new_min
    bob = sb.wallet("b")
    refused_by_registry(
        sb, bob, register_body(new_min - 1), min_value(new_min), code("STAKE_BELOW_MINIMUM")
    )
    pool.register(bob, new_min).assert_success()
    assert pool.registry_info().member_count == 2


@pytest.mark.parametrize("which", ["operator", "distribution"])
def test_pool_contracts_cannot_become_members(sandbox: PoolSandbox, which: str) -> None:
    pool = sandbox.pool
    src = pool.operator if which == "operator" else pool.distribution
    value = min_value(sandbox.params.min_stake)
    body = register_body(sandbox.params.min_stake)
    injected_refusal(sandbox, src, body, value, code("MEMBER_IS_POOL_CONTRACT"))
    assert participant_status(sandbox.chain, pool.participant_address(src)) == "nonexist"


def test_masterchain_sender_cannot_become_member(sandbox: PoolSandbox) -> None:
    value = min_value(sandbox.params.min_stake)
    body = register_body(sandbox.params.min_stake)
    injected_refusal(sandbox, MASTERCHAIN_SENDER, body, value, code("MEMBER_NOT_BASECHAIN"))


# ---------------------------------------------------------------- already a member: bounce


@pytest.mark.parametrize("status", ["active", "unbonding"])
def test_second_registration_bounces_and_is_refunded(sandbox: PoolSandbox, status: str) -> None:
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    alice = sb.add_member("alice", ton(12))
    if status == "unbonding":
        pool.unregister(alice).assert_success()
    participant = pool.participant_address(alice.address)
    member_before = pool.participant_info(alice.address)
    registry_info_before = pool.registry_info()
    pool_info_before = pool.pool_info()
    wallet_before = alice.balance
    registry_before = chain.get_balance(pool.registry)
    participant_before = chain.get_balance(participant)
    value = min_value(ton(30)) + ton(1)

    trace = pool.register(alice, ton(30), value=value)

    init = trace.find(participant, m.InitParticipant.PREFIX)
    assert init.exit_code == code("ALREADY_REGISTERED") and init.bounced
    (bounce,) = init.internal_out
    assert bounce.bounced and same(bounce.dest, pool.registry)
    bounced = trace.find(pool.registry, RICH_BOUNCE_OP)
    assert bounced.success
    refunded = one_event(trace, RegistrationRefunded, pool.registry)
    assert same(refunded.member, alice.address) and refunded.amount == bounce.value
    back = trace.find(alice.address, m.ReturnExcesses.PREFIX)
    assert back.in_message is not None and same(back.in_message.src, pool.registry)
    assert [tx.success for tx in trace].count(False) == 1
    # The whole value came back; nothing stayed in the registry or the Participant.
    assert alice.balance == wallet_before - payer_cost(trace, alice.address)
    assert chain.get_balance(pool.registry) == registry_before - storage_paid(trace, pool.registry)
    assert chain.get_balance(participant) == participant_before - storage_paid(trace, participant)
    assert pool.participant_info(alice.address) == member_before
    assert pool.registry_info() == registry_info_before
    assert pool.pool_info() == pool_info_before


# ---------------------------------------------------------------- InitRegistry, standalone


def standalone_registry(chain: EmulatedChain, pool_wallet: Wallet) -> Address:
    """A registry whose `pool` is a wallet we control, not initialized yet."""
    codes = pool_codes()
    data = st.RegistryStorage(pool=pool_wallet.address, participant_code=codes.participant_code)
    address = Address((0, b"\x42" * 32))
    chain.set_account(address, codes.registry_code, data.to_cell(), 0)
    return address


def test_init_registry_once_from_the_pool_only(chain: EmulatedChain) -> None:
    pool_wallet = chain.create_wallet("fake-pool", ton(1_000))
    stranger = chain.create_wallet("stranger", ton(1_000))
    registry = standalone_registry(chain, pool_wallet)
    distribution = Address((0, b"\x43" * 32))

    trace = stranger.send(registry, min_value(ton(10)), register_body(ton(10)))
    assert trace.find(registry).exit_code == code("REGISTRY_NOT_INITIALIZED")

    init = m.InitRegistry(
        query_id=5, distribution=distribution, min_stake=ton(3), unbonding_seconds=600
    ).to_cell()
    trace = stranger.send(registry, ton(1), init)
    assert trace.find(registry).exit_code == code("REGISTRY_NOT_FROM_POOL")

    before = pool_wallet.balance
    trace = pool_wallet.send(registry, ton(1), init).assert_success()
    # The registry keeps exactly its storage floor and returns everything else to the pool.
    assert chain.get_balance(registry) == fee("REGISTRY_STORAGE_FLOOR")
    assert trace.find(pool_wallet.address, m.ReturnExcesses.PREFIX).success
    assert before - pool_wallet.balance == (
        fee("REGISTRY_STORAGE_FLOOR") + payer_cost(trace, pool_wallet.address)
    )
    info = chain.run_get_method(registry, "registryInfo")
    assert info.address_at(1) == distribution
    assert (info.int_at(4), info.int_at(5)) == (ton(3), 600)

    trace = pool_wallet.send(registry, ton(1), init)
    assert trace.find(registry).exit_code == code("REGISTRY_ALREADY_INITIALIZED")


# ---------------------------------------------------------------- op x role matrix


def privileged_pool_ops(sb: PoolSandbox) -> list[TlbStruct]:
    member = sb.members["alice"].address
    return [
        m.InitRegistry(
            query_id=1, distribution=sb.pool.distribution, min_stake=ton(1), unbonding_seconds=1
        ),
        m.SetPaused(query_id=1, paused=True),
        m.UpdateRegistryConfig(query_id=1, min_stake=ton(1), closing=True),
        m.ForwardVerification(query_id=1, member=member, verified=True, excess_to=member),
        m.UpgradeCode(query_id=1, code=begin_cell().store_uint(0, 8).end_cell()),
    ]


POOL_OPS = ["InitRegistry", "SetPaused", "UpdateRegistryConfig", "ForwardVerification", "Upgrade"]
SENDERS = ["stranger", "alice", "bob", "admin", "pauser"]


def sender_wallet(sb: PoolSandbox, name: str) -> Wallet:
    if name == "admin":
        return sb.admin
    if name == "pauser":
        return sb.pauser
    return sb.members.get(name) or sb.wallet(name)


@pytest.mark.parametrize("sender", SENDERS)
@pytest.mark.parametrize("op_index", range(len(POOL_OPS)), ids=POOL_OPS)
def test_pool_only_ops_refuse_everyone_else(
    sandbox: PoolSandbox, op_index: int, sender: str
) -> None:
    sb = sandbox
    sb.add_member("alice")
    sb.add_member("bob")
    body = privileged_pool_ops(sb)[op_index]
    member_before = sb.pool.participant_info(sb.members["alice"].address)
    refused_by_registry(
        sb, sender_wallet(sb, sender), body.to_cell(), ADMIN_OP_FEE, code("REGISTRY_NOT_FROM_POOL")
    )
    assert sb.pool.participant_info(sb.members["alice"].address) == member_before


def membership_notice(kind: str, member: Address, stake: int) -> TlbStruct:
    if kind == "JoinConfirmed":
        return m.JoinConfirmed(query_id=1, member=member, stake=stake)
    return m.LeaveConfirmed(query_id=1, member=member, stake=stake)


@pytest.mark.parametrize("sender", SENDERS)
@pytest.mark.parametrize("kind", ["JoinConfirmed", "LeaveConfirmed"])
def test_membership_notices_refuse_wallets(sandbox: PoolSandbox, kind: str, sender: str) -> None:
    sb = sandbox
    alice = sb.add_member("alice")
    sb.add_member("bob")
    body = membership_notice(kind, alice.address, ton(10)).to_cell()
    refused_by_registry(
        sb, sender_wallet(sb, sender), body, ADMIN_OP_FEE, code("NOT_FROM_PARTICIPANT")
    )


@pytest.mark.parametrize("kind", ["JoinConfirmed", "LeaveConfirmed"])
@pytest.mark.parametrize("src", ["bob-participant", "operator", "distribution"])
def test_membership_notices_refuse_other_contracts(
    sandbox: PoolSandbox, kind: str, src: str
) -> None:
    """Bob's own Participant cannot count or uncount Alice; nor can the other pool contracts."""
    sb, pool = sandbox, sandbox.pool
    alice = sb.add_member("alice")
    bob = sb.add_member("bob")
    sender = {
        "bob-participant": pool.participant_address(bob.address),
        "operator": pool.operator,
        "distribution": pool.distribution,
    }[src]
    body = membership_notice(kind, alice.address, ton(10)).to_cell()
    injected_refusal(sb, sender, body, ADMIN_OP_FEE, code("NOT_FROM_PARTICIPANT"))


@pytest.mark.parametrize("sender", ["stranger", "alice", "pauser"])
def test_verification_through_the_pool_is_admin_only(sandbox: PoolSandbox, sender: str) -> None:
    sb, pool = sandbox, sandbox.pool
    alice = sb.add_member("alice", verify=False)
    # Bound, so that only the sender's role stands between alice and verification.
    pool.bind_worker(alice, alice.address).assert_success()
    wallet = sender_wallet(sb, sender)
    before = wallet.balance
    trace = pool.verify_member(wallet, alice.address)
    tx = trace.find(pool.operator)
    assert tx.exit_code == code("NOT_ADMIN") and tx.bounced
    assert not trace.find_all(pool.registry)
    assert wallet.balance == before - payer_cost(trace, wallet.address)
    assert not pool.participant_info(alice.address).verified


def assert_verification_route(
    sb: PoolSandbox, trace: Trace, participant: Address, participant_before: int
) -> None:
    """pool -> registry -> participant, the admin's change straight back from the registry;
    the member's contract keeps what its MarkVerified carried beyond its gas."""
    refund = trace.find(sb.admin.address, m.ReturnExcesses.PREFIX)
    assert refund.in_message is not None and same(refund.in_message.src, sb.pool.registry)
    assert len(trace.find_all(sb.pool.registry)) == len(trace.find_all(sb.pool.operator)) == 1
    kept = kept_of_value(trace, participant, fee("VERIFY_APPLY_VALUE"))
    assert 0 < kept < fee("VERIFY_APPLY_VALUE")
    assert sb.chain.get_balance(participant) == (
        participant_before - storage_paid(trace, participant) + kept
    )


def test_admin_verification_reaches_the_participant(sandbox: PoolSandbox) -> None:
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    alice = sb.add_member("alice", verify=False)
    worker = sb.wallet("worker").address
    participant = pool.participant_address(alice.address)
    # New flow: the member names its worker itself; the admin only confirms it.
    bound = one_event(pool.bind_worker(alice, worker).assert_success(), WorkerBound, participant)
    assert same(bound.member, alice.address) and same(bound.worker, worker)
    assert bound.node_wallet is None
    registry_before = chain.get_balance(pool.registry)
    participant_before = chain.get_balance(participant)
    trace = pool.verify_member(sb.admin, alice.address).assert_success()
    verified = one_event(trace, MemberVerified, participant)
    assert same(verified.member, alice.address) and same(verified.worker, worker)
    assert pool.participant_info(alice.address).verified
    assert_verification_route(sb, trace, participant, participant_before)
    assert chain.get_balance(pool.registry) == registry_before - storage_paid(trace, pool.registry)


def test_admin_revocation_reaches_the_participant_and_keeps_the_stake(
    sandbox: PoolSandbox,
) -> None:
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    alice = sb.add_member("alice")
    participant = pool.participant_address(alice.address)
    member_before = pool.participant_info(alice.address)
    assert member_before.verified
    registry_before = chain.get_balance(pool.registry)
    participant_before = chain.get_balance(participant)
    trace = pool.verify_member(sb.admin, alice.address, verified=False).assert_success()
    assert same(one_event(trace, MemberRevoked, participant).member, alice.address)
    assert not trace_events(trace, MemberVerified)
    # Only the flag moves: stake, status and pending are the member's as before.
    assert pool.participant_info(alice.address) == replace(member_before, verified=False)
    assert_verification_route(sb, trace, participant, participant_before)
    assert chain.get_balance(pool.registry) == registry_before - storage_paid(trace, pool.registry)
    assert pool.registry_info().member_count == 1

    # The binding stays, so the admin can verify again without the member doing anything.
    trace = pool.verify_member(sb.admin, alice.address).assert_success()
    assert same(one_event(trace, MemberVerified, participant).worker, alice.address)
    assert pool.participant_info(alice.address) == member_before


def test_verifying_before_the_member_bound_a_worker_bounces_back_to_the_admin(
    sandbox: PoolSandbox,
) -> None:
    """Verification needs the member's own BindWorker first (NOT_BOUND). The refusal bounces
    to the registry, which returns the value to the admin who paid for it."""
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    alice = sb.add_member("alice", verify=False)
    participant = pool.participant_address(alice.address)
    member_before = pool.participant_info(alice.address)
    admin_before = sb.admin.balance
    operator_before = chain.get_balance(pool.operator)
    registry_before = chain.get_balance(pool.registry)
    participant_before = chain.get_balance(participant)
    trace = pool.verify_member(sb.admin, alice.address)
    mark = trace.find(participant, m.MarkVerified.PREFIX)
    assert mark.exit_code == code("NOT_BOUND") and mark.bounced
    assert [tx.success for tx in trace].count(False) == 1
    assert trace.find(pool.registry, RICH_BOUNCE_OP).success
    refund = trace.find(sb.admin.address, m.ReturnExcesses.PREFIX)
    assert refund.in_message is not None and same(refund.in_message.src, pool.registry)
    assert pool.participant_info(alice.address) == member_before
    assert chain.get_balance(participant) == participant_before - storage_paid(trace, participant)
    assert chain.get_balance(pool.registry) == registry_before - storage_paid(trace, pool.registry)
    assert gain(chain, trace, pool.operator, operator_before) == 0
    assert admin_before - sb.admin.balance == payer_cost(trace, sb.admin.address)


def test_verifying_a_non_member_bounces_back_to_the_admin(sandbox: PoolSandbox) -> None:
    """Before the fix MarkVerified was non-bounceable: the admin's value was left on an
    uninit address nobody controls. Now it bounces and goes back to the admin."""
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    stranger = sb.wallet("stranger").address
    participant = pool.participant_address(stranger)
    admin_before = sb.admin.balance
    operator_before = chain.get_balance(pool.operator)
    registry_before = chain.get_balance(pool.registry)
    trace = pool.verify_member(sb.admin, stranger)
    mark = trace.find(participant, m.MarkVerified.PREFIX)
    assert mark.compute_skipped == "no-state" and mark.bounced
    assert trace.find(pool.registry, RICH_BOUNCE_OP).success
    refund = trace.find(sb.admin.address, m.ReturnExcesses.PREFIX)
    assert refund.in_message is not None and same(refund.in_message.src, pool.registry)
    assert participant_status(chain, participant) == "nonexist"
    assert chain.get_balance(pool.registry) == registry_before - storage_paid(trace, pool.registry)
    assert gain(chain, trace, pool.operator, operator_before) == 0
    assert admin_before - sb.admin.balance == payer_cost(trace, sb.admin.address)


# ---------------------------------------------------------------- other messages


@pytest.mark.parametrize(
    "body",
    [
        begin_cell().store_uint(0x12345678, 32).store_uint(0, 64).end_cell(),
        begin_cell().store_uint(0, 32).store_snake_string("register me").end_cell(),
        m.StakeReturned(query_id=1, amount=ton(10)).to_cell(),
        m.CocoonPayout(query_id=1).to_cell(),
        # No contract sends the registry change any more: the verification's goes to the admin.
        m.ReturnExcesses(query_id=1).to_cell(),
    ],
    ids=["unknown-op", "text-comment", "stake-returned", "cocoon-payout", "stray-excesses"],
)
def test_unknown_messages_are_refused(sandbox: PoolSandbox, body: Cell) -> None:
    # A comment is refused too: value sent here by mistake (say, a stake with a note) would
    # otherwise be stuck in the registry, which has no way to pay it out.
    refused_by_registry(
        sandbox, sandbox.wallet("stranger"), body, ton(2), code("REGISTRY_UNKNOWN_OP")
    )


def test_plain_transfer_tops_up_the_registry(sandbox: PoolSandbox) -> None:
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    before = chain.get_balance(pool.registry)
    trace = sb.wallet("stranger").send(pool.registry, ton(1)).assert_success()
    tx = trace.find(pool.registry)
    assert chain.get_balance(pool.registry) == before + ton(1) - tx.total_fees
    assert pool.registry_info().member_count == 0


def test_bounce_of_a_plain_message_is_ignored_not_misread(sandbox: PoolSandbox) -> None:
    """A legacy (0xffffffff) bounce is not a RichBounceBody: it must not be taken for a refund."""
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    sb.add_member("alice")
    info_before = pool.registry_info()
    body = (
        begin_cell()
        .store_uint(BOUNCE_OP, 32)
        .store_uint(m.InitParticipant.PREFIX or 0, 32)
        .store_uint(0, 64)
        .end_cell()
    )
    before = chain.get_balance(pool.registry)
    trace = chain.send_internal(
        sb.members["alice"].address, pool.registry, ton(1), body, bounce=False, bounced=True
    )
    tx = trace.find(pool.registry)
    assert not tx.success
    assert not trace.find_all(sb.members["alice"].address)
    assert chain.get_balance(pool.registry) == before + ton(1) - tx.total_fees
    assert pool.registry_info() == info_before


def test_registry_outlives_years_of_storage(sandbox: PoolSandbox) -> None:
    # The registry has no income; without callers topping up its floor, storage would wear
    # it down until a membership notice no longer had the gas to be counted.
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    floor = fee("REGISTRY_STORAGE_FLOOR")
    early = sb.add_member("early")
    for year in range(1, 11):
        chain.advance(365 * 86_400)
        pool.register(sb.wallet(f"joiner-{year}"), sb.params.min_stake).assert_success()
        assert chain.get_balance(pool.registry) == floor
    pool.unregister(early).assert_success()
    assert chain.get_balance(pool.registry) == floor
    info = pool.registry_info()
    assert (info.member_count, info.total_stake) == (10, 10 * sb.params.min_stake)


# ---------------------------------------------------------------- member cap (gradual rollout)


def capped(cap: int) -> PoolSandbox:
    signer = OracleSigner.from_seed_text("cocoon-pool-oracle")
    return PoolSandbox.create(params=PoolParams(oracle_key=signer.public_key, member_cap=cap))


def register_value(sb: PoolSandbox) -> int:
    return sb.params.min_stake + fee("PARTICIPANT_STORAGE_RESERVE") + fee("REGISTER_FEE")


def test_the_member_cap_refuses_the_join_beyond_it() -> None:
    sb = capped(2)
    sb.add_member("a")
    sb.add_member("b")
    late = sb.wallet("late")
    before, registry_before = late.balance, sb.chain.get_balance(sb.pool.registry)
    trace = sb.pool.register(late, sb.params.min_stake)
    assert_refused_and_refunded(
        trace,
        sb.chain,
        late,
        sb.pool.registry,
        value=register_value(sb),
        expected=code("MEMBER_CAP_REACHED"),
        payer_before=before,
        contract_before=registry_before,
    )
    info = sb.pool.registry_info()
    assert (info.member_count, info.member_cap, info.joining) == (2, 2, 0)
    assert sb.chain.get_state(sb.pool.participant_address(late.address)).status == "nonexist"


def test_joins_in_flight_count_against_the_cap() -> None:
    """Two registrations racing for the last place: the second is refused even while the
    first is still on its way to the member's contract (its confirmation held back)."""
    sb = capped(1)
    first, second = sb.wallet("first"), sb.wallet("second")
    limit = sb.chain.max_trace_transactions
    sb.chain.max_trace_transactions = 2  # the wallet and the registry; InitParticipant is held
    with pytest.raises(ChainError):
        sb.pool.register(first, sb.params.min_stake)
    sb.chain.max_trace_transactions = limit
    (held,) = sb.chain.transactions[-1].internal_out
    assert sb.pool.registry_info().joining == 1
    trace = sb.pool.register(second, sb.params.min_stake)
    assert trace.find(sb.pool.registry).exit_code == code("MEMBER_CAP_REACHED")
    sb.chain.send_message(held.cell).assert_success()
    info = sb.pool.registry_info()
    assert (info.member_count, info.joining) == (1, 0)
    assert sb.pool.participant_info(first.address).registered


def test_the_cap_is_raised_under_the_timelock() -> None:
    sb = capped(1)
    sb.add_member("a")
    trace = sb.pool.propose_change(sb.admin, m.ChangeMemberCap(cap=3)).assert_success()
    assert sb.pool.pending_change().apply_after == sb.chain.now + sb.params.timelock_seconds
    assert trace.find(sb.pool.operator).success
    refused = sb.pool.register(sb.wallet("b"), sb.params.min_stake)
    assert refused.find(sb.pool.registry).exit_code == code("MEMBER_CAP_REACHED")
    sb.chain.advance(sb.params.timelock_seconds)
    sb.pool.admin_call(sb.admin, m.ApplyChange(query_id=7)).assert_success()
    assert (sb.pool.pool_info().member_cap, sb.pool.registry_info().member_cap) == (3, 3)
    sb.add_member("b")
    sb.add_member("c")
    assert sb.pool.registry_info().member_count == 3
