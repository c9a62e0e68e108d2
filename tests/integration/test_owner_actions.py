"""The owner's withdrawal from a member's Cocoon node wallet, on the real TVM.

The pool (RewardDistribution) owns every member's worker and its node wallet; the member names
both itself (BindWorker, once). The admin can have the node wallet send exactly `amount` of its
TON (the member's gas money) to the wallet of the member who bound it, and nowhere else:
Cocoon's `owner_wallet_send_message` carrying one fixed, non-bounceable transfer. The admin's
value pays the gas; its change returns to the operator stake; pool balances change by storage
fees only.

Gas figures: ``pytest tests/integration/test_owner_actions.py -k gas -s`` prints them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from ton_core import Address, Cell, begin_cell

from cocoon_doubles import (
    ERR_NOT_FROM_WALLET_OWNER,
    CocoonDoubles,
    NodeWalletStorage,
    deploy_node_wallet,
    node_wallet_address,
    node_wallet_owner,
    owner_wallet_send_message,
)
from cocoon_pool.chain.emulator import Wallet
from cocoon_pool.chain.types import Trace, Transaction
from cocoon_pool.contracts import messages as m
from cocoon_pool.contracts.codec import InlineOrRef, TlbStruct
from cocoon_pool.contracts.constants import fee, ton
from cocoon_pool.contracts.events import (
    MemberVerified,
    OperatorStakeChanged,
    OwnerActionReturned,
    OwnerActionSent,
    WorkerBound,
    trace_events,
)
from cocoon_pool.contracts.exit_codes import code
from cocoon_pool.sandbox import PoolSandbox
from tracing import one_event, same, storage_paid

WITHDRAW = m.OWNER_ACTION_WALLET_WITHDRAW
EXCESSES = m.CocoonExcesses.PREFIX
SEND_MESSAGE = m.CocoonOwnerWalletSendMessage.PREFIX
WITHDRAWAL = m.NodeWalletWithdrawal.PREFIX
NODE_FUNDS = ton(5)
AMOUNT = ton(2)
# Mode 1 (the wallet pays the forward fee, so the member gets exactly `amount`) + 16 (a
# wallet too poor for it bounces the owner's message instead of failing silently).
TRANSFER_MODE = 1 + 16
# PoolOperator, RewardDistribution x2, Participant: measured 26,948 (docs/cocoon.md).
WITHDRAW_GAS_BUDGET = 30_000


@dataclass
class Node:
    sb: PoolSandbox
    member: Wallet
    worker: Address
    wallet: Address


@pytest.fixture
def node(sandbox: PoolSandbox) -> Node:
    """A verified member whose worker and funded node wallet are both owned by the pool."""
    doubles = CocoonDoubles.deploy(sandbox.chain, sandbox.proxy)
    member = sandbox.add_member("gpu-owner", verify=False)
    owner = sandbox.pool.distribution
    worker = doubles.deploy_worker(owner, member)
    wallet = deploy_node_wallet(sandbox.chain, owner, member, NODE_FUNDS, seed="node-key")
    sandbox.pool.bind_worker(member, worker, wallet).assert_success()
    sandbox.pool.verify_member(sandbox.admin, member.address).assert_success()
    return Node(sandbox, member, worker, wallet)


def round_trips(cls: type[TlbStruct], body: Cell) -> TlbStruct:
    """Decode a body the contracts built and check the Python class writes the same cell."""
    decoded = cls.from_cell(body)
    assert decoded.to_cell().hash == body.hash
    return decoded


def only_storage_changed(sb: PoolSandbox, trace: Trace, address: Address, before: int) -> None:
    assert sb.chain.get_balance(address) == before - storage_paid(trace, address)


def hop(trace: Trace, address: Address, cls: type[TlbStruct]) -> TlbStruct:
    tx = trace.find(address, cls.PREFIX)
    assert tx.success and tx.in_message is not None
    return round_trips(cls, tx.in_message.body)


def pool_hops(node: Node, trace: Trace) -> list[Transaction]:
    """The transactions the admin's value pays for, up to the node wallet."""
    pool = node.sb.pool
    hops = (pool.operator, pool.distribution, pool.participant_address(node.member.address))
    return [tx for tx in trace if tx.op != EXCESSES and any(same(tx.address, a) for a in hops)]


def admin_spent(node: Node, trace: Trace) -> int:
    """Fees of those hops, forward fees included (storage is paid from each balance)."""
    return sum(
        tx.total_fees - tx.storage_fees + sum(msg.fwd_fee for msg in tx.internal_out)
        for tx in pool_hops(node, trace)
    )


# ---------------------------------------------------------------- the withdrawal


def test_withdrawal_sends_exactly_amount_from_the_node_wallet_to_the_member(node: Node) -> None:
    sb, pool, chain = node.sb, node.sb.pool, node.sb.chain
    member = node.member.address
    participant = pool.participant_address(member)
    member_before = chain.get_balance(member)
    wallet_before = chain.get_balance(node.wallet)
    distribution_before = chain.get_balance(pool.distribution)
    participant_before = chain.get_balance(participant)
    stake_before = pool.pool_info().operator_stake
    value = fee("OWNER_ACTION_FEE")

    trace = pool.owner_wallet_withdraw(sb.admin, member, AMOUNT).assert_success()

    # Every hop, decoded and re-encoded to the same cell the contracts built.
    send = hop(trace, pool.operator, m.SendOwnerAction)
    assert isinstance(send, m.SendOwnerAction)
    q = send.query_id
    assert send == m.SendOwnerAction(query_id=q, member=member, action=WITHDRAW, amount=AMOUNT)
    admin = sb.admin.address
    assert hop(trace, pool.distribution, m.ForwardOwnerAction) == m.ForwardOwnerAction(
        query_id=q, action=WITHDRAW, amount=AMOUNT, member=member, excess_to=admin
    )
    assert hop(trace, participant, m.CheckOwnerAction) == m.CheckOwnerAction(
        query_id=q, action=WITHDRAW, amount=AMOUNT, excess_to=admin
    )
    assert hop(trace, pool.distribution, m.ConfirmOwnerAction) == m.ConfirmOwnerAction(
        query_id=q,
        action=WITHDRAW,
        amount=AMOUNT,
        member=member,
        target=node.wallet,
        excess_to=admin,
    )

    # The node wallet hears from its owner, the pool's RewardDistribution, with the gas value.
    assert same(node_wallet_owner(chain, node.wallet), pool.distribution)
    received = trace.find(node.wallet, SEND_MESSAGE)
    assert received.in_message is not None
    assert same(received.in_message.src, pool.distribution)
    assert received.in_message.bounce
    assert received.in_message.value == fee("NODE_WALLET_GAS_VALUE")
    order = round_trips(m.CocoonOwnerWalletSendMessage, received.in_message.body)
    assert order == owner_wallet_send_message(trace, node.wallet)
    assert isinstance(order, m.CocoonOwnerWalletSendMessage)
    assert order.query_id == q and order.mode == TRANSFER_MODE
    # ... and the one message it may send: exactly `amount` to the member, non-bounceable.
    transfer = round_trips(m.NodeWalletTransfer, order.body)
    assert transfer == m.NodeWalletTransfer(
        dest=member, value=AMOUNT, body=m.NodeWalletWithdrawal(query_id=q, amount=AMOUNT)
    )
    paid = trace.find(member, WITHDRAWAL)
    assert paid.in_message is not None and paid.success
    assert same(paid.in_message.src, node.wallet)
    assert paid.in_message.value == AMOUNT and not paid.in_message.bounce
    assert chain.get_balance(member) == member_before + AMOUNT - paid.total_fees

    # The amount and the transfer's forward fee come from the wallet's balance; its gas from
    # the value the pool attached, whose rest stays there with the member's gas money.
    (out,) = received.internal_out
    assert chain.get_balance(node.wallet) == (
        wallet_before + fee("NODE_WALLET_GAS_VALUE") - received.total_fees - AMOUNT - out.fwd_fee
    )

    # The admin's value paid every hop; its change rejoined the operator stake to the nanoton.
    back = trace.find(pool.operator, EXCESSES)
    assert back.in_message is not None and back.success
    assert same(back.in_message.src, pool.distribution)
    assert pool.pool_info().operator_stake == stake_before + back.in_message.value
    assert value == admin_spent(node, trace) + fee("NODE_WALLET_GAS_VALUE") + back.in_message.value
    stake = one_event(trace, OperatorStakeChanged, pool.operator)
    assert stake.operator_stake == stake_before + back.in_message.value

    confirm = trace.find(pool.distribution, m.ConfirmOwnerAction.PREFIX)
    assert confirm.in_message is not None
    sent = one_event(trace, OwnerActionSent, pool.distribution)
    assert sent == OwnerActionSent(
        action=WITHDRAW,
        member=sent.member,
        target=sent.target,
        amount=AMOUNT,
        attached=confirm.in_message.value,
    )
    assert same(sent.member, member) and same(sent.target, node.wallet)
    assert trace_events(trace, OwnerActionReturned) == []

    # Pool contracts lose only storage; the members' pot is untouched.
    only_storage_changed(sb, trace, pool.distribution, distribution_before)
    only_storage_changed(sb, trace, participant, participant_before)
    assert trace.find_all(node.worker) == []
    sb.assert_conserved()


def test_owner_wallet_withdraw_gas(node: Node) -> None:
    sb = node.sb
    trace = sb.pool.owner_wallet_withdraw(sb.admin, node.member.address, AMOUNT)
    trace.assert_success()
    hops = pool_hops(node, trace)
    to_wallet = sum(tx.gas_used for tx in hops)
    wallet_gas = trace.find(node.wallet, SEND_MESSAGE).gas_used
    fees = admin_spent(node, trace)
    print(
        f"\nowner_wallet_withdraw gas up to the node wallet {to_wallet} "
        f"({' + '.join(str(tx.gas_used) for tx in hops)}), node wallet double {wallet_gas}; "
        f"fees up to the node wallet {fees} nanoton"
    )
    assert to_wallet <= WITHDRAW_GAS_BUDGET
    # The admin's minimum pays the hops and the wallet's gas value with room to spare.
    assert 2 * (fees + fee("NODE_WALLET_GAS_VALUE")) < fee("OWNER_ACTION_FEE")
    assert 5 * wallet_gas * 400 < fee("NODE_WALLET_GAS_VALUE")


def test_a_departing_or_departed_member_still_gets_their_gas_money(node: Node) -> None:
    """Cocoon fixes the owner for good, so only the pool can ever move the wallet's TON."""
    sb, pool, chain = node.sb, node.sb.pool, node.sb.chain
    member = node.member
    pool.unregister(member).assert_success()
    trace = pool.owner_wallet_withdraw(sb.admin, member.address, ton(1)).assert_success()
    assert trace.find(member.address, WITHDRAWAL).in_message is not None
    # Worker registration is for active members only.
    refused = pool.owner_worker_register(sb.admin, member.address)
    participant = pool.participant_address(member.address)
    check = refused.find(participant, m.CheckOwnerAction.PREFIX)
    assert check.exit_code == code("NOT_ACTIVE") and check.bounced

    chain.advance(sb.params.unbonding_seconds)
    pool.withdraw_stake(member).assert_success()
    before = chain.get_balance(member.address)
    trace = pool.owner_wallet_withdraw(sb.admin, member.address, ton(1)).assert_success()
    paid = trace.find(member.address, WITHDRAWAL)
    assert paid.in_message is not None and paid.in_message.value == ton(1)
    assert chain.get_balance(member.address) == before + ton(1) - paid.total_fees
    sb.assert_conserved()


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("action", "amount", "value", "error"),
    [
        (WITHDRAW, 0, fee("OWNER_ACTION_FEE"), "OWNER_ACTION_AMOUNT_OUT_OF_RANGE"),
        (
            WITHDRAW,
            fee("NODE_WALLET_WITHDRAW_MAX") + 1,
            fee("OWNER_ACTION_FEE"),
            "OWNER_ACTION_AMOUNT_OUT_OF_RANGE",
        ),
        (WITHDRAW, AMOUNT, fee("OWNER_ACTION_FEE") - 1, "OPERATOR_FEE_TOO_LOW"),
        (WITHDRAW, AMOUNT, fee("OWNER_ACTION_MAX_VALUE") + 1, "OWNER_ACTION_VALUE_TOO_HIGH"),
        # `amount` means something for the withdrawal only.
        (
            m.OWNER_ACTION_WORKER_REGISTER,
            1,
            fee("OWNER_ACTION_FEE"),
            "OWNER_ACTION_AMOUNT_OUT_OF_RANGE",
        ),
        (3, AMOUNT, fee("OWNER_ACTION_FEE"), "UNKNOWN_OWNER_ACTION"),
    ],
)
def test_pool_operator_refuses_bad_withdrawals(
    node: Node, action: int, amount: int, value: int, error: str
) -> None:
    sb, pool, chain = node.sb, node.sb.pool, node.sb.chain
    wallet_before = chain.get_balance(node.wallet)
    body = m.SendOwnerAction(query_id=1, member=node.member.address, action=action, amount=amount)
    trace = pool.admin_call(sb.admin, body, value=value)
    tx = trace.find(pool.operator, m.SendOwnerAction.PREFIX)
    assert tx.exit_code == code(error) and tx.bounced
    assert trace.find_all(pool.distribution) == []
    assert chain.get_balance(node.wallet) == wallet_before
    sb.assert_conserved()


def test_the_cap_itself_is_accepted(node: Node) -> None:
    sb, pool = node.sb, node.sb.pool
    cap = fee("NODE_WALLET_WITHDRAW_MAX")
    # A binding is set once: the rich node belongs to a member of its own.
    member = sb.add_member("rich-owner", verify=False)
    rich = deploy_node_wallet(sb.chain, pool.distribution, sb.proxy, cap + ton(1), seed="rich")
    pool.bind_worker(member, member.address, rich).assert_success()
    pool.verify_member(sb.admin, member.address).assert_success()
    trace = pool.owner_wallet_withdraw(sb.admin, member.address, cap).assert_success()
    paid = trace.find(member.address, WITHDRAWAL)
    assert paid.in_message is not None and paid.in_message.value == cap


def test_only_the_admin_withdraws(node: Node) -> None:
    sb, pool, chain = node.sb, node.sb.pool, node.sb.chain
    wallet_before = chain.get_balance(node.wallet)
    # Not even the member: the action spends operator money and goes through the admin.
    for caller in (node.member, sb.wallet("outsider")):
        trace = pool.owner_wallet_withdraw(caller, node.member.address, AMOUNT)
        tx = trace.find(pool.operator, m.SendOwnerAction.PREFIX)
        assert tx.exit_code == code("NOT_ADMIN") and tx.bounced
        assert trace.find_all(pool.distribution) == []
    # Nor can anyone tell the node wallet what to send: only its owner.
    outsider = sb.wallet("outsider")
    order = m.CocoonOwnerWalletSendMessage(
        query_id=1,
        mode=TRANSFER_MODE,
        body=m.NodeWalletTransfer(
            dest=outsider.address,
            value=AMOUNT,
            body=m.NodeWalletWithdrawal(query_id=1, amount=AMOUNT),
        ).to_cell(),
    )
    trace = outsider.send(node.wallet, ton("0.1"), order.to_cell())
    tx = trace.find(node.wallet, SEND_MESSAGE)
    assert tx.exit_code == ERR_NOT_FROM_WALLET_OWNER and tx.bounced
    assert chain.get_balance(node.wallet) == wallet_before - storage_paid(trace, node.wallet)


def _assert_refunded_to_admin(node: Node, trace: Trace, wallet_before: int) -> None:
    sb, pool, chain = node.sb, node.sb.pool, node.sb.chain
    bounced = [
        tx for tx in trace.find_all(pool.distribution) if tx.in_message and tx.in_message.bounced
    ]
    assert len(bounced) == 1 and bounced[0].success
    refund = trace.find(sb.admin.address, m.ReturnExcesses.PREFIX)
    assert refund.in_message is not None
    returned = one_event(trace, OwnerActionReturned, pool.distribution)
    assert returned.action == WITHDRAW and same(returned.recipient, sb.admin.address)
    assert bounced[0].in_message is not None
    assert returned.returned == bounced[0].in_message.value
    assert trace.find_all(node.wallet) == []
    assert chain.get_balance(node.wallet) == wallet_before
    assert trace_events(trace, OwnerActionSent) == []


def test_members_without_a_recorded_node_wallet_are_refused(node: Node) -> None:
    sb, pool, chain = node.sb, node.sb.pool, node.sb.chain
    stake = pool.pool_info().operator_stake
    wallet_before = chain.get_balance(node.wallet)
    # A member neither bound nor verified is refused as unverified; a verified one that bound
    # no node wallet, for the missing wallet.
    unbound = sb.add_member("unbound", verify=False)
    # Verified with a worker only: the pool does not know where the node's wallet is.
    worker_only = sb.add_member("worker-only")
    cases: list[tuple[Address, str | None]] = [
        (unbound.address, "NOT_VERIFIED"),
        (worker_only.address, "NO_NODE_WALLET"),
        (sb.wallet("never-joined").address, None),  # no Participant: the message bounces
    ]
    for member, expected in cases:
        before = chain.get_balance(pool.distribution)
        trace = pool.owner_wallet_withdraw(sb.admin, member, AMOUNT)
        checked = trace.find(pool.participant_address(member), m.CheckOwnerAction.PREFIX)
        assert checked.bounced
        if expected is None:
            assert checked.compute_skipped == "no-state"
        else:
            assert checked.exit_code == code(expected)
        _assert_refunded_to_admin(node, trace, wallet_before)
        only_storage_changed(sb, trace, pool.distribution, before)

    # Verifying again carries no address, so it can no longer erase or re-point the binding
    # (it used to replace the record): the node wallet stays and the withdrawal still works.
    member = node.member.address
    pool.verify_member(sb.admin, member).assert_success()
    info = pool.participant_info(member)
    assert same(info.worker, node.worker) and same(info.node_wallet, node.wallet)
    assert pool.pool_info().operator_stake == stake
    trace = pool.owner_wallet_withdraw(sb.admin, member, AMOUNT).assert_success()
    paid = trace.find(member, WITHDRAWAL)
    assert paid.in_message is not None and paid.in_message.value == AMOUNT
    sb.assert_conserved()


@pytest.mark.parametrize("case", ["foreign", "missing", "too-poor"])
def test_a_node_wallet_that_refuses_returns_the_value_to_the_operator(
    node: Node, case: str
) -> None:
    sb, pool, chain = node.sb, node.sb.pool, node.sb.chain
    member = node.member.address
    amount = AMOUNT
    if case == "foreign":
        # Owned by someone else: it refuses the pool.
        target = deploy_node_wallet(chain, sb.admin.address, node.member, NODE_FUNDS, seed="x")
    elif case == "missing":
        target = node_wallet_address(pool.distribution, 42)
    else:
        target = node.wallet
        amount = NODE_FUNDS + ton(1)  # more than the wallet holds
    if target != node.wallet:
        # A binding is set once, so the odd wallet is another member's own binding.
        other = sb.add_member(f"{case}-owner", verify=False)
        pool.bind_worker(other, other.address, target).assert_success()
        pool.verify_member(sb.admin, other.address).assert_success()
        member = other.address
    stake = pool.pool_info().operator_stake
    distribution_before = chain.get_balance(pool.distribution)
    target_before = chain.get_balance(target)
    member_before = chain.get_balance(member)

    trace = pool.owner_wallet_withdraw(sb.admin, member, amount)

    refused = trace.find(target, SEND_MESSAGE)
    assert refused.bounced
    if case == "foreign":
        assert refused.exit_code == ERR_NOT_FROM_WALLET_OWNER
    elif case == "missing":
        assert refused.compute_skipped == "no-state"
    else:
        assert refused.exit_code == 0 and refused.action_result_code == 37  # not enough TON
    # Nothing reached the member; the wallet kept nothing of the pool's value.
    assert trace.find_all(member) == []
    assert chain.get_balance(member) == member_before
    assert chain.get_balance(target) == target_before - storage_paid(trace, target)
    # The change and the bounced gas value both rejoin the operator stake.
    backs = trace.find_all(pool.operator, EXCESSES)
    assert len(backs) == 2 and all(tx.success for tx in backs)
    assert pool.pool_info().operator_stake == stake + sum(
        tx.in_message.value for tx in backs if tx.in_message is not None
    )
    bounce = [
        tx for tx in trace.find_all(pool.distribution) if tx.in_message and tx.in_message.bounced
    ]
    assert len(bounce) == 1 and bounce[0].success and bounce[0].in_message is not None
    returned = one_event(trace, OwnerActionReturned, pool.distribution)
    assert returned == OwnerActionReturned(
        action=WITHDRAW, recipient=returned.recipient, returned=bounce[0].in_message.value
    )
    assert same(returned.recipient, pool.operator)
    only_storage_changed(sb, trace, pool.distribution, distribution_before)
    sb.assert_conserved()


# ---------------------------------------------------------------- layouts


def test_the_member_binds_and_the_verification_carries_only_the_flag(sandbox: PoolSandbox) -> None:
    """The node wallet reaches the member's contract only in the member's own BindWorker;
    the admin's verification, through every hop, carries the member and a flag, no address."""
    sb, pool = sandbox, sandbox.pool
    member = sb.add_member("gpu-owner", verify=False)
    participant = pool.participant_address(member.address)
    worker = CocoonDoubles.deploy(sb.chain, sb.proxy).deploy_worker(pool.distribution, member)
    wallet = node_wallet_address(pool.distribution, 7)
    trace = pool.bind_worker(member, worker, wallet).assert_success()
    bind = hop(trace, participant, m.BindWorker)
    assert isinstance(bind, m.BindWorker)
    assert bind == m.BindWorker(query_id=bind.query_id, worker=worker, node_wallet=wallet)
    bound = one_event(trace, WorkerBound, participant)
    assert same(bound.member, member.address) and same(bound.worker, worker)
    assert same(bound.node_wallet, wallet)
    info = pool.participant_info(member.address)
    assert same(info.worker, worker) and same(info.node_wallet, wallet) and not info.verified

    trace = pool.verify_member(sb.admin, member.address).assert_success()
    verify = hop(trace, pool.operator, m.VerifyMember)
    assert isinstance(verify, m.VerifyMember)
    q = verify.query_id
    assert verify == m.VerifyMember(query_id=q, member=member.address, verified=True)
    admin = sb.admin.address
    assert hop(trace, pool.registry, m.ForwardVerification) == m.ForwardVerification(
        query_id=q, member=member.address, verified=True, excess_to=admin
    )
    assert hop(trace, participant, m.MarkVerified) == m.MarkVerified(
        query_id=q, verified=True, excess_to=admin
    )
    verified = one_event(trace, MemberVerified, participant)
    assert same(verified.member, member.address) and same(verified.worker, worker)
    info = pool.participant_info(member.address)
    assert info.verified and same(info.worker, worker) and same(info.node_wallet, wallet)


@pytest.mark.parametrize(
    "message",
    [
        m.VerifyMember(query_id=1, member=Address("0:" + "01" * 32), verified=True),
        m.VerifyMember(query_id=2, member=Address("0:" + "01" * 32), verified=False),
        m.ForwardVerification(
            query_id=3,
            member=Address("-1:" + "04" * 32),
            verified=True,
            excess_to=Address("0:" + "07" * 32),
        ),
        m.MarkVerified(query_id=4, verified=True, excess_to=Address("-1:" + "08" * 32)),
        m.MarkVerified(query_id=5, verified=False, excess_to=Address("0:" + "07" * 32)),
        m.BindWorker(query_id=11, worker=Address("0:" + "05" * 32)),
        m.BindWorker(
            query_id=12, worker=Address("0:" + "05" * 32), node_wallet=Address("-1:" + "06" * 32)
        ),
        m.SendOwnerAction(
            query_id=6, member=Address("0:" + "09" * 32), action=WITHDRAW, amount=ton(1_000)
        ),
        m.ForwardOwnerAction(
            query_id=7,
            action=WITHDRAW,
            amount=2**120 - 1,
            member=Address("0:" + "0a" * 32),
            excess_to=Address("0:" + "0b" * 32),
        ),
        m.CheckOwnerAction(
            query_id=8, action=WITHDRAW, amount=1, excess_to=Address("0:" + "0c" * 32)
        ),
        m.ConfirmOwnerAction(
            query_id=9,
            action=WITHDRAW,
            amount=ton(1_000),
            member=Address("0:" + "0d" * 32),
            target=Address("0:" + "0e" * 32),
            excess_to=Address("0:" + "0f" * 32),
        ),
        m.NodeWalletWithdrawal(query_id=2**64 - 1, amount=ton(1_000)),
        m.CocoonOwnerWalletSendMessage(
            query_id=10,
            mode=TRANSFER_MODE,
            body=m.NodeWalletTransfer(
                dest=Address("0:" + "10" * 32),
                value=ton(1),
                body=m.NodeWalletWithdrawal(query_id=10, amount=ton(1)),
            ).to_cell(),
        ),
    ],
)
def test_message_classes_round_trip(message: TlbStruct) -> None:
    cell = message.to_cell()
    assert type(message).from_cell(cell) == message
    assert cell.begin_parse().preload_uint(32) == type(message).PREFIX


def test_node_wallet_layouts() -> None:
    # owner_wallet_send_message is 32 + 64 + 8 bits and the message in a ref.
    assert m.CocoonOwnerWalletSendMessage.PREFIX == 0x9C69F376
    order = m.CocoonOwnerWalletSendMessage(query_id=1, mode=1, body=Cell.empty())
    s = order.to_cell().begin_parse()
    assert (s.remaining_bits, s.remaining_refs) == (32 + 64 + 8, 1)
    # The transfer: int_msg_info$0, ihr_disabled, no bounce, not bounced, src addr_none.
    transfer = m.NodeWalletTransfer(
        dest=Address("0:" + "11" * 32), value=3, body=m.NodeWalletWithdrawal(query_id=1, amount=3)
    ).to_cell()
    assert transfer.begin_parse().preload_uint(6) == 0b010000
    # Tolk writes this small body in place; the mirror reads either form.
    body = m.NodeWalletWithdrawal(query_id=1, amount=3)
    in_ref = InlineOrRef(m.NodeWalletWithdrawal, in_ref=True)
    b = begin_cell()
    in_ref.store(b, body)
    cell = b.end_cell()
    assert cell.begin_parse().remaining_refs == 1
    assert in_ref.load(cell.begin_parse()) == body
    storage = NodeWalletStorage(public_key=5, owner_address=Address("0:" + "12" * 32))
    assert storage.to_cell().begin_parse().remaining_bits == 32 + 32 + 256 + 32 + 267
    assert NodeWalletStorage.from_cell(storage.to_cell()) == storage
