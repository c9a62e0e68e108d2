"""The pool as Cocoon sees it, on the real TVM, against Cocoon-format test doubles.

A worker contract whose owner is RewardDistribution earns tokens; anyone relays the proxy's
signed payout request; the proxy pays the owner exactly the new tokens times the worker fee,
and that value is in the next epoch's pot. The pool, as owner, sends `owner_worker_register`
to a verified member's worker through a fixed, named path, paid by the admin; the worker's
excesses go back to the operator stake, never into the members' pot.

Gas figures: ``pytest tests/integration/test_cocoon.py -k gas -s`` prints them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from ton_core import Address, Cell

from cocoon_doubles import (
    ERR_BAD_SIGNATURE,
    ERR_LOW_RELAY_VALUE,
    ERR_NOT_FROM_OWNER,
    ERR_NOTHING_NEW,
    ERR_WRONG_WORKER,
    CocoonDoubles,
    ExtWorkerPayoutRequestSigned,
    PayoutPayload,
    WorkerProxyRequest,
    signing_key,
)
from cocoon_pool.chain.emulator import Wallet
from cocoon_pool.chain.types import Trace, raw_address
from cocoon_pool.contracts import messages as m
from cocoon_pool.contracts.codec import TlbStruct, addresses_equal
from cocoon_pool.contracts.constants import fee, ton
from cocoon_pool.contracts.events import (
    EpochClosed,
    OperatorStakeChanged,
    OwnerActionReturned,
    OwnerActionSent,
    trace_events,
)
from cocoon_pool.contracts.exit_codes import code
from cocoon_pool.sandbox import PoolSandbox

PAYOUT = m.CocoonPayout.PREFIX
EXCESSES = m.CocoonExcesses.PREFIX
REGISTER = m.CocoonOwnerWorkerRegister.PREFIX
RETURN_EXCESSES = m.ReturnExcesses.PREFIX
FEE_PER_TOKEN = ton("0.001")

# Measured on the emulator (deterministic). A payout's handler on RewardDistribution is the
# only part paid with pool money (the `fees` term of the conservation equation).
# Budgets, not pinned figures: `cocoon-pool bench gas` keeps the exact table and its
# snapshot shows every change in review.
PAYOUT_GAS_GOAL = 3_000  # the pool's share of a Cocoon payout (issue goal)
OWNER_ACTION_GAS_BUDGET = 30_000  # PoolOperator, RewardDistribution x2, Participant


@dataclass
class Cocoon:
    sb: PoolSandbox
    doubles: CocoonDoubles
    member: Wallet
    worker: Address
    relayer: Wallet


@pytest.fixture
def cocoon(sandbox: PoolSandbox) -> Cocoon:
    """A pool, the proxy double, and one verified member whose worker the pool owns."""
    doubles = CocoonDoubles.deploy(sandbox.chain, sandbox.proxy, fee_per_token=FEE_PER_TOKEN)
    member = sandbox.add_member("gpu-owner", verify=False)
    # Anyone can deploy the worker: the owner (the pool) is fixed in its initial data.
    worker = doubles.deploy_worker(sandbox.pool.distribution, member)
    # The member names its worker itself; the admin only confirms it.
    sandbox.pool.bind_worker(member, worker).assert_success()
    sandbox.pool.verify_member(sandbox.admin, member.address).assert_success()
    return Cocoon(sandbox, doubles, member, worker, sandbox.wallet("relayer"))


def round_trips(cls: type[TlbStruct], body: Cell) -> TlbStruct:
    """Decode a body the contracts built and check the Python class writes the same cell."""
    decoded = cls.from_cell(body)
    assert decoded.to_cell().hash == body.hash
    return decoded


def only_storage_changed(sb: PoolSandbox, trace: Trace, address: Address, before: int) -> None:
    raw = raw_address(address)
    storage = sum(tx.storage_fees for tx in trace if tx.address_raw == raw)
    assert sb.chain.get_balance(address) == before - storage


# ---------------------------------------------------------------- payout -> epoch pot


def test_payout_reaches_the_pool_and_the_next_pot(cocoon: Cocoon) -> None:
    sb, pool, d = cocoon.sb, cocoon.sb.pool, cocoon.doubles
    # Close right after the payout, at the same unix time: no storage fee falls in between,
    # so the pot can be predicted to the nanoton.
    ledger = pool.ledger()
    sb.chain.set_now(ledger.epoch_start + ledger.epoch_length)
    before = pool.ledger().open_income

    trace = d.relay(cocoon.relayer, cocoon.worker, 1_000).assert_success()

    request = trace.find(cocoon.worker)
    assert request.in_message is not None
    assert addresses_equal(request.in_message.src, cocoon.relayer.address)
    forwarded = trace.find(d.proxy, WorkerProxyRequest.PREFIX)
    assert forwarded.in_message is not None
    proxy_request = round_trips(WorkerProxyRequest, forwarded.in_message.body)
    assert isinstance(proxy_request, WorkerProxyRequest)
    assert addresses_equal(proxy_request.owner_address, pool.distribution)
    assert proxy_request.tokens == 1_000

    income = trace.find(pool.distribution, PAYOUT)
    assert income.in_message is not None
    assert addresses_equal(income.in_message.src, d.proxy)
    assert income.in_message.value == 1_000 * FEE_PER_TOKEN
    assert not income.in_message.bounce
    assert income.success and income.exit_code == 0 and not income.bounced
    assert round_trips(m.CocoonPayout, income.in_message.body) == m.CocoonPayout(query_id=7)
    assert trace.find(cocoon.relayer.address, EXCESSES).success
    assert d.paid_tokens(cocoon.worker) == 1_000

    # The handler's gas is the only pool money the payout costs; the rest is in the pot.
    after = pool.ledger().open_income
    assert after == before + 1_000 * FEE_PER_TOKEN - income.total_fees
    sb.assert_conserved()

    close = sb.close_epoch()
    closed = trace_events(close, EpochClosed)
    assert len(closed) == 1
    assert close.find(pool.distribution).storage_fees == 0
    assert closed[0].epoch == 1
    assert closed[0].received == after
    assert closed[0].commission == after * sb.params.commission_bps // 10_000
    sb.assert_conserved()

    # A second request pays only the tokens earned since; a replay of the first pays nothing.
    first = d.signed_request(cocoon.worker, 1_000, cocoon.relayer.address)
    second = d.relay(cocoon.relayer, cocoon.worker, 1_500).assert_success()
    paid = second.find(pool.distribution, PAYOUT)
    assert paid.in_message is not None
    assert paid.in_message.value == 500 * FEE_PER_TOKEN
    assert d.paid_tokens(cocoon.worker) == 1_500
    replay = d.relay(cocoon.relayer, cocoon.worker, 0, request=first)
    assert replay.find(d.proxy, WorkerProxyRequest.PREFIX).exit_code == ERR_NOTHING_NEW
    assert replay.find_all(pool.distribution) == []
    sb.assert_conserved()


def test_cocoon_payout_gas(cocoon: Cocoon) -> None:
    sb, d = cocoon.sb, cocoon.doubles
    trace = d.relay(cocoon.relayer, cocoon.worker, 1_000).assert_success()
    doubles = [cocoon.worker, d.proxy]
    whole = trace.gas_total()
    with_doubles = sb.gas(trace)
    distribution = trace.gas_total(exclude=[*sb.wallet_addresses, *doubles])
    print(
        f"\ncocoon payout gas: whole trace {whole}, pool + doubles {with_doubles}, "
        f"pool only (RewardDistribution) {distribution}; "
        f"pool-money fee {trace.find(sb.pool.distribution, PAYOUT).total_fees} nanoton"
    )
    assert distribution <= PAYOUT_GAS_GOAL
    assert distribution < with_doubles < whole


def test_doubles_refuse_what_cocoon_refuses(cocoon: Cocoon) -> None:
    sb, d = cocoon.sb, cocoon.doubles
    low = d.relay(cocoon.relayer, cocoon.worker, 10, value=ton("0.1"))
    assert low.find(cocoon.worker).exit_code == ERR_LOW_RELAY_VALUE
    # Signed for another worker: the signature names the worker contract.
    other = d.deploy_worker(sb.admin.address, cocoon.relayer)
    foreign = d.signed_request(other, 10, cocoon.relayer.address)
    trace = d.relay(cocoon.relayer, cocoon.worker, 0, request=foreign)
    assert trace.find(d.proxy, WorkerProxyRequest.PREFIX).exit_code == ERR_WRONG_WORKER
    forger = CocoonDoubles(sb.chain, d.proxy, signing_key("not-the-proxy"), FEE_PER_TOKEN)
    forged = forger.signed_request(cocoon.worker, 10, cocoon.relayer.address)
    trace = d.relay(cocoon.relayer, cocoon.worker, 0, request=forged)
    assert trace.find(d.proxy, WorkerProxyRequest.PREFIX).exit_code == ERR_BAD_SIGNATURE
    assert trace.find_all(sb.pool.distribution) == []
    assert d.paid_tokens(cocoon.worker) == 0
    sb.assert_conserved()


def test_tiny_zero_and_excess_income_all_land_in_the_pot(cocoon: Cocoon) -> None:
    sb, pool, chain = cocoon.sb, cocoon.sb.pool, cocoon.sb.chain
    zero = CocoonDoubles.deploy(chain, sb.proxy, fee_per_token=0, seed="zero-fee")
    tiny = CocoonDoubles.deploy(chain, sb.proxy, fee_per_token=1, seed="one-nanoton")
    zero_worker = zero.deploy_worker(pool.distribution, cocoon.relayer)
    tiny_worker = tiny.deploy_worker(pool.distribution, cocoon.relayer)
    ledger = pool.ledger()
    chain.set_now(ledger.epoch_start + ledger.epoch_length)

    values: list[int] = []
    for doubles, worker, tokens in ((zero, zero_worker, 5), (tiny, tiny_worker, 3)):
        trace = doubles.relay(cocoon.relayer, worker, tokens)
        tx = trace.find(pool.distribution, PAYOUT)
        assert trace.failed() == [tx]
        assert tx.in_message is not None
        values.append(tx.in_message.value)
        # Too poor to run the handler: compute is skipped, nothing bounces, the TON stays.
        assert tx.compute_skipped == "no-gas" and not tx.bounced
    assert values == [0, 3]

    # A relayer may name the pool as send_excesses_to: the proxy's excesses are income too.
    trace = cocoon.doubles.relay(
        cocoon.relayer, cocoon.worker, 100, send_excesses_to=pool.distribution
    ).assert_success()
    excess = trace.find(pool.distribution, EXCESSES)
    assert excess.in_message is not None and excess.success and not excess.bounced
    assert excess.in_message.value > 0
    sb.assert_conserved()

    open_income = pool.ledger().open_income
    closed = trace_events(sb.close_epoch(), EpochClosed)
    assert closed[0].received == open_income
    conservation = sb.assert_conserved()
    assert conservation.received == (3 + 100 * FEE_PER_TOKEN + excess.in_message.value)


# ---------------------------------------------------------------- owner actions


def test_owner_worker_register_reaches_the_worker_from_the_pool(cocoon: Cocoon) -> None:
    sb, pool, chain = cocoon.sb, cocoon.sb.pool, cocoon.sb.chain
    stake_before = pool.pool_info().operator_stake
    distribution_before = chain.get_balance(pool.distribution)
    participant = pool.participant_address(cocoon.member.address)
    participant_before = chain.get_balance(participant)
    value = fee("OWNER_ACTION_FEE")

    trace = pool.owner_worker_register(sb.admin, cocoon.member.address).assert_success()

    hops: list[tuple[Address, int, type[TlbStruct]]] = [
        (pool.operator, m.SendOwnerAction.PREFIX or 0, m.SendOwnerAction),
        (pool.distribution, m.ForwardOwnerAction.PREFIX or 0, m.ForwardOwnerAction),
        (participant, m.CheckOwnerAction.PREFIX or 0, m.CheckOwnerAction),
        (pool.distribution, m.ConfirmOwnerAction.PREFIX or 0, m.ConfirmOwnerAction),
        (cocoon.worker, REGISTER or 0, m.CocoonOwnerWorkerRegister),
    ]
    decoded = []
    for address, op, cls in hops:
        tx = trace.find(address, op)
        assert tx.in_message is not None
        decoded.append(round_trips(cls, tx.in_message.body))
    assert isinstance(decoded[0], m.SendOwnerAction)
    query_id = decoded[0].query_id
    assert decoded[1] == m.ForwardOwnerAction(
        query_id=query_id,
        action=m.OWNER_ACTION_WORKER_REGISTER,
        member=cocoon.member.address,
        excess_to=sb.admin.address,
    )
    assert decoded[3] == m.ConfirmOwnerAction(
        query_id=query_id,
        action=m.OWNER_ACTION_WORKER_REGISTER,
        member=cocoon.member.address,
        target=cocoon.worker,
        excess_to=sb.admin.address,
    )
    # From the owner's address, with the operator contract as send_excesses_to.
    register = trace.find(cocoon.worker, REGISTER)
    assert register.in_message is not None
    assert addresses_equal(register.in_message.src, pool.distribution)
    assert register.in_message.bounce
    assert decoded[4] == m.CocoonOwnerWorkerRegister(
        query_id=query_id, send_excesses_to=pool.operator
    )
    assert cocoon.doubles.registrations(cocoon.worker) == 1

    # What the worker did not spend rejoins the operator stake, to the nanoton.
    back = trace.find(pool.operator, EXCESSES)
    assert back.in_message is not None and back.success
    assert pool.pool_info().operator_stake == stake_before + back.in_message.value
    assert value - back.in_message.value < value // 2
    sent = trace_events(trace, OwnerActionSent)
    assert len(sent) == 1
    assert addresses_equal(sent[0].member, cocoon.member.address)
    assert addresses_equal(sent[0].target, cocoon.worker)
    assert trace_events(trace, OperatorStakeChanged)

    # Paid entirely by the admin: pool contracts lose nothing but storage.
    only_storage_changed(sb, trace, pool.distribution, distribution_before)
    only_storage_changed(sb, trace, participant, participant_before)
    assert trace.find_all(pool.distribution, PAYOUT) == []
    sb.assert_conserved()


def test_owner_action_gas(cocoon: Cocoon) -> None:
    sb = cocoon.sb
    trace = sb.pool.owner_worker_register(sb.admin, cocoon.member.address).assert_success()
    to_worker = trace.gas_total(exclude=[*sb.wallet_addresses, cocoon.worker, sb.pool.operator])
    to_worker += trace.find(sb.pool.operator, m.SendOwnerAction.PREFIX).gas_used
    fees = sum(
        tx.total_fees + sum(msg.fwd_fee for msg in tx.internal_out)
        for tx in trace
        if tx.op not in (REGISTER, EXCESSES, None)
    )
    print(f"\nowner_worker_register gas up to the worker {to_worker}, fees {fees} nanoton")
    assert to_worker <= OWNER_ACTION_GAS_BUDGET
    assert 3 * fees < fee("OWNER_ACTION_FEE")


@pytest.mark.parametrize(
    ("value", "action", "error"),
    [
        (fee("OWNER_ACTION_FEE") - 1, m.OWNER_ACTION_WORKER_REGISTER, "OPERATOR_FEE_TOO_LOW"),
        (
            fee("OWNER_ACTION_MAX_VALUE") + 1,
            m.OWNER_ACTION_WORKER_REGISTER,
            "OWNER_ACTION_VALUE_TOO_HIGH",
        ),
        (fee("OWNER_ACTION_FEE"), 3, "UNKNOWN_OWNER_ACTION"),
    ],
)
def test_pool_operator_refuses_bad_owner_actions(
    cocoon: Cocoon, value: int, action: int, error: str
) -> None:
    sb, pool = cocoon.sb, cocoon.sb.pool
    body = m.SendOwnerAction(query_id=1, member=cocoon.member.address, action=action)
    trace = pool.admin_call(sb.admin, body, value=value)
    tx = trace.find(pool.operator, m.SendOwnerAction.PREFIX)
    assert tx.exit_code == code(error) and tx.bounced
    assert trace.find_all(pool.distribution) == []
    sb.assert_conserved()


def test_only_the_admin_sends_owner_actions(cocoon: Cocoon) -> None:
    sb, pool = cocoon.sb, cocoon.sb.pool
    trace = pool.owner_worker_register(cocoon.member, cocoon.member.address)
    tx = trace.find(pool.operator, m.SendOwnerAction.PREFIX)
    assert tx.exit_code == code("NOT_ADMIN") and tx.bounced
    assert trace.find_all(pool.distribution) == []

    # Nor can anyone skip PoolOperator or the member's contract.
    outsider = sb.wallet("outsider")
    forward = m.ForwardOwnerAction(
        query_id=1, action=1, member=cocoon.member.address, excess_to=outsider.address
    )
    trace = outsider.send(pool.distribution, ton("0.1"), forward.to_cell())
    tx = trace.find(pool.distribution, m.ForwardOwnerAction.PREFIX)
    assert tx.exit_code == code("DISTRIBUTION_NOT_FROM_POOL") and tx.bounced
    confirm = m.ConfirmOwnerAction(
        query_id=1,
        action=1,
        member=cocoon.member.address,
        target=cocoon.worker,
        excess_to=outsider.address,
    )
    trace = outsider.send(pool.distribution, ton("0.1"), confirm.to_cell())
    tx = trace.find(pool.distribution, m.ConfirmOwnerAction.PREFIX)
    assert tx.exit_code == code("DISTRIBUTION_NOT_FROM_PARTICIPANT") and tx.bounced
    check = m.CheckOwnerAction(query_id=1, action=1, excess_to=outsider.address)
    participant = pool.participant_address(cocoon.member.address)
    trace = outsider.send(participant, ton("0.1"), check.to_cell())
    tx = trace.find(participant, m.CheckOwnerAction.PREFIX)
    assert tx.exit_code == code("PARTICIPANT_NOT_FROM_DISTRIBUTION") and tx.bounced
    assert cocoon.doubles.registrations(cocoon.worker) == 0
    sb.assert_conserved()


def _assert_refunded_to_admin(cocoon: Cocoon, trace: Trace) -> None:
    sb, pool = cocoon.sb, cocoon.sb.pool
    bounced = [
        tx for tx in trace.find_all(pool.distribution) if tx.in_message and tx.in_message.bounced
    ]
    assert len(bounced) == 1 and bounced[0].success
    refund = trace.find(sb.admin.address, RETURN_EXCESSES)
    assert refund.in_message is not None and refund.in_message.value > 0
    returned = trace_events(trace, OwnerActionReturned)
    assert len(returned) == 1 and addresses_equal(returned[0].recipient, sb.admin.address)
    assert trace.find_all(cocoon.worker) == []


def test_unverified_unknown_and_departed_members_are_refused(cocoon: Cocoon) -> None:
    sb, pool, chain = cocoon.sb, cocoon.sb.pool, cocoon.sb.chain
    stake = pool.pool_info().operator_stake

    # Bound but not (yet) confirmed by the admin: the pool does not act on its binding.
    bound = sb.add_member("bound-unverified", verify=False)
    bound_worker = cocoon.doubles.deploy_worker(pool.distribution, bound)
    pool.bind_worker(bound, bound_worker).assert_success()
    cases: list[tuple[Wallet, int | None]] = [
        (sb.add_member("unverified", verify=False), code("NOT_VERIFIED")),
        (bound, code("NOT_VERIFIED")),
        (sb.wallet("never-joined"), None),  # no Participant contract: the message bounces
    ]
    for wallet, expected in cases:
        before = chain.get_balance(pool.distribution)
        trace = pool.owner_worker_register(sb.admin, wallet.address)
        checked = trace.find(pool.participant_address(wallet.address), m.CheckOwnerAction.PREFIX)
        assert checked.bounced
        if expected is None:
            assert checked.compute_skipped == "no-state"
        else:
            assert checked.exit_code == expected
        _assert_refunded_to_admin(cocoon, trace)
        only_storage_changed(sb, trace, pool.distribution, before)
    assert cocoon.doubles.registrations(bound_worker) == 0

    pool.unregister(cocoon.member).assert_success()
    trace = pool.owner_worker_register(sb.admin, cocoon.member.address)
    participant = pool.participant_address(cocoon.member.address)
    assert trace.find(participant, m.CheckOwnerAction.PREFIX).exit_code == code("NOT_ACTIVE")
    _assert_refunded_to_admin(cocoon, trace)
    assert pool.pool_info().operator_stake == stake
    sb.assert_conserved()


def test_a_worker_that_refuses_or_is_missing_returns_the_value_to_the_operator(
    cocoon: Cocoon,
) -> None:
    sb, pool, chain, d = cocoon.sb, cocoon.sb.pool, cocoon.sb.chain, cocoon.doubles
    # A worker owned by someone else refuses the pool; an address with no worker bounces.
    foreign = d.deploy_worker(sb.admin.address, cocoon.relayer)
    missing = d.worker_address(cocoon.relayer.address)
    for name, worker, expected in (
        ("foreign", foreign, ERR_NOT_FROM_OWNER),
        ("ghost", missing, None),
    ):
        member = sb.add_member(f"{name}-member", verify=False)
        pool.bind_worker(member, worker).assert_success()
        pool.verify_member(sb.admin, member.address).assert_success()
        stake = pool.pool_info().operator_stake
        before = chain.get_balance(pool.distribution)
        trace = pool.owner_worker_register(sb.admin, member.address)
        register = trace.find(worker, REGISTER)
        assert register.bounced
        if expected is None:
            assert register.compute_skipped == "no-state"
        else:
            assert register.exit_code == expected
        back = trace.find(pool.operator, EXCESSES)
        assert back.in_message is not None and back.success
        assert pool.pool_info().operator_stake == stake + back.in_message.value
        returned = trace_events(trace, OwnerActionReturned)
        assert len(returned) == 1 and addresses_equal(returned[0].recipient, pool.operator)
        only_storage_changed(sb, trace, pool.distribution, before)
    assert chain.get_state(missing).status == "nonexist"
    sb.assert_conserved()


# ---------------------------------------------------------------- layouts


@pytest.mark.parametrize(
    "message",
    [
        m.CocoonOwnerWorkerRegister(query_id=2**64 - 1, send_excesses_to=Address("0:" + "ab" * 32)),
        m.SendOwnerAction(query_id=5, member=Address("0:" + "01" * 32), action=1),
        m.ForwardOwnerAction(
            query_id=6,
            action=1,
            member=Address("0:" + "02" * 32),
            excess_to=Address("0:" + "03" * 32),
        ),
        m.CheckOwnerAction(query_id=7, action=255, excess_to=Address("-1:" + "04" * 32)),
        m.ConfirmOwnerAction(
            query_id=8,
            action=1,
            member=Address("0:" + "05" * 32),
            target=Address("0:" + "06" * 32),
            excess_to=Address("0:" + "07" * 32),
        ),
        PayoutPayload(
            query_id=9, new_tokens=2**64 - 1, expected_my_address=Address("0:" + "08" * 32)
        ),
        ExtWorkerPayoutRequestSigned(
            query_id=10,
            send_excesses_to=Address("0:" + "09" * 32),
            signature=bytes(range(64)),
            payload=PayoutPayload(
                query_id=10, new_tokens=1, expected_my_address=Address("0:" + "0a" * 32)
            ),
        ),
    ],
)
def test_message_classes_round_trip(message: TlbStruct) -> None:
    cell = message.to_cell()
    assert type(message).from_cell(cell) == message
    assert cell.begin_parse().preload_uint(32) == type(message).PREFIX


def test_cocoon_opcodes_match_the_published_tlb() -> None:
    assert m.CocoonOwnerWorkerRegister.PREFIX == 0x26ED7F65
    assert m.CocoonPayout.PREFIX == 0xC59A7CD3
    assert m.CocoonExcesses.PREFIX == 0x2565934C
    assert WorkerProxyRequest.PREFIX == 0x4D725D2C
    assert ExtWorkerPayoutRequestSigned.PREFIX == 0xA040AD28
    # owner_worker_register is 32 + 64 + 267 bits: query_id then a std address.
    cell = m.CocoonOwnerWorkerRegister(
        query_id=1, send_excesses_to=Address("0:" + "00" * 32)
    ).to_cell()
    assert cell.begin_parse().remaining_bits == 32 + 64 + 267
