"""Income reaches RewardDistribution in every shape Cocoon or anyone sends it, and all of it
that stays is counted into the next epoch's pot (DESIGN.md §4, §5).

The handler must never throw on income and never bounce it: the proxy sends payouts
non-bounceable, so a throw would strand the TON outside every pot. Messages too poor to pay
for the handler (compute skipped, or out of gas) cannot run it at all; their TON still stays
and the close reconciles it from the balance. Unknown ops, by contrast, are mistakes and go
back to the sender.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from ton_core import Address, Cell, begin_cell

from cocoon_pool.chain.emulator import Wallet
from cocoon_pool.chain.types import Trace, Transaction, raw_address
from cocoon_pool.contracts import messages as m
from cocoon_pool.contracts.constants import ton
from cocoon_pool.contracts.events import EpochClosed
from cocoon_pool.contracts.exit_codes import code
from cocoon_pool.economics import BPS
from cocoon_pool.sandbox import PoolSandbox
from tracing import one_event, trace_fees

# Cocoon's TL-B opcodes (DESIGN.md §5), written out so a drift in messages.tolk shows up here.
PAYOUT_OP = 0xC59A7CD3
EXCESSES_OP = 0x2565934C
assert m.CocoonPayout.PREFIX == PAYOUT_OP
assert m.CocoonExcesses.PREFIX == EXCESSES_OP

OUT_OF_GAS = -14  # what the TVM reports when the gas bought by the value runs out
TINY = 300_000  # buys 750 gas: less than the payout handler needs
COVERS_HANDLER = ton("0.001")  # 2,500 gas: more than any income handler needs
VALUES = (0, 1, TINY, ton("2.5"), ton(10_000))


def _bits(op: int, n: int = 32) -> Cell:
    return begin_cell().store_uint(op, n).end_cell()


BODIES: dict[str, Callable[[], Cell | None]] = {
    "empty": lambda: None,
    "one-byte": lambda: _bits(0xAB, 8),
    "31-bits": lambda: _bits(0x7FFFFFFF, 31),
    "comment": lambda: begin_cell().store_uint(0, 32).store_snake_string("gpu income").end_cell(),
    "comment-op-only": lambda: _bits(0),
    "payout": lambda: m.CocoonPayout(query_id=7).to_cell(),
    "payout-no-query-id": lambda: _bits(PAYOUT_OP),
    "payout-truncated-query-id": lambda: (
        begin_cell().store_uint(PAYOUT_OP, 32).store_uint(5, 20).end_cell()
    ),
    "payout-trailing-data": lambda: (
        begin_cell()
        .store_uint(PAYOUT_OP, 32)
        .store_uint(2**64 - 1, 64)
        .store_uint(1, 300)
        .store_ref(_bits(1))
        .end_cell()
    ),
    "excesses": lambda: m.CocoonExcesses(query_id=2**64 - 1).to_cell(),
    "excesses-no-query-id": lambda: _bits(EXCESSES_OP),
    "excesses-truncated-query-id": lambda: (
        begin_cell().store_uint(EXCESSES_OP, 32).store_uint(1, 1).end_cell()
    ),
}

SENDERS: dict[str, Callable[[PoolSandbox], Wallet]] = {
    "cocoon-proxy": lambda sb: sb.proxy,
    "stranger": lambda sb: sb.wallet("stranger"),
    "member": lambda sb: sb.add_member("member"),
    "admin": lambda sb: sb.admin,
}


def distribution_tx(sb: PoolSandbox, trace: Trace) -> Transaction:
    return trace.find(sb.pool.distribution)


def assert_income_kept(sb: PoolSandbox, trace: Trace, value: int) -> int:
    """Check one income message stayed whole on the distribution; return what it added."""
    tx = distribution_tx(sb, trace)
    # Nothing goes back: no bounce, no refund, and nothing else happens downstream.
    assert len(trace) == 2, trace.describe()
    assert tx.internal_out == (), tx.describe()
    if tx.success:
        assert tx.exit_code == 0
    else:
        # Only a value that cannot buy the handler's gas may fail, and then by the TVM alone.
        assert value < COVERS_HANDLER, tx.describe()
        assert tx.compute_skipped == "no-gas" or tx.exit_code == OUT_OF_GAS, tx.describe()
    sb.assert_conserved()
    return value - tx.total_fees


def close_and_check_pot(sb: PoolSandbox, kept: int) -> EpochClosed:
    """Close the epoch; its pot is exactly what the income left minus storage since."""
    trace = sb.close_epoch()
    closed = one_event(trace, EpochClosed)
    left = kept - distribution_tx(sb, trace).storage_fees
    # Storage that outran the income dents the floor; the next income refills it first.
    expected = max(left, 0)
    assert closed.received == expected
    assert closed.commission == expected * sb.params.commission_bps // BPS
    assert closed.net == expected - closed.commission
    ledger = sb.pool.ledger()
    assert (ledger.received, ledger.commission) == (closed.received, closed.commission)
    assert (ledger.unsettled, ledger.commission_unpaid) == (closed.net, closed.commission)
    assert ledger.open_income == left - expected
    sb.assert_conserved()
    return closed


@pytest.mark.parametrize("sender_kind", sorted(SENDERS))
def test_every_income_shape_stays_and_is_counted(sandbox: PoolSandbox, sender_kind: str) -> None:
    sb = sandbox
    sender = SENDERS[sender_kind](sb)
    assert sb.pool.ledger().open_income == 0
    kept = 0
    for name, make_body in BODIES.items():
        for bounce in (False, True):
            for value in VALUES:
                before = sb.chain.get_balance(sb.pool.distribution)
                trace = sender.send(sb.pool.distribution, value, make_body(), bounce=bounce)
                added = assert_income_kept(sb, trace, value)
                assert sb.chain.get_balance(sb.pool.distribution) == before + added, (
                    name,
                    bounce,
                    value,
                )
                kept += added
    close_and_check_pot(sb, kept)


@pytest.mark.parametrize("kind", ["payout", "excesses", "empty", "comment"])
def test_handler_runs_within_a_tiny_value(sandbox: PoolSandbox, kind: str) -> None:
    """Above the handler's gas the income always runs to exit 0; below it the TVM stops it."""
    sb = sandbox
    normal = sb.pool.send_income(sb.proxy, ton(1), kind)
    ok = sb.pool.send_income(sb.proxy, COVERS_HANDLER, kind)
    tx = distribution_tx(sb, ok)
    assert tx.success and tx.exit_code == 0 and tx.internal_out == ()
    # The whole gas of an income message is pool money (the `fees` term), so it must stay
    # small: a thousandth of a TON buys it with room to spare.
    assert 40_000 + 400 * (tx.gas_used - 100) < COVERS_HANDLER
    starved = sb.pool.send_income(sb.proxy, 40_000 + 400 * (tx.gas_used - 101), kind)
    starved_tx = distribution_tx(sb, starved)
    assert starved_tx.exit_code == OUT_OF_GAS and starved_tx.internal_out == ()
    kept = assert_income_kept(sb, ok, COVERS_HANDLER) + assert_income_kept(
        sb, starved, starved_tx.in_message.value if starved_tx.in_message else 0
    )
    kept += assert_income_kept(sb, normal, ton(1))
    assert close_and_check_pot(sb, kept).received > 0


def test_income_across_epochs_lands_in_the_epoch_it_arrived_in(sandbox: PoolSandbox) -> None:
    sb = sandbox
    first = assert_income_kept(sb, sb.pool.send_income(sb.proxy, ton(100)), ton(100))
    first += assert_income_kept(sb, sb.pool.send_income(sb.keeper, ton(3), "comment"), ton(3))
    closed1 = close_and_check_pot(sb, first)
    # Income during epoch 1's report window belongs to epoch 2.
    second = assert_income_kept(sb, sb.pool.send_income(sb.proxy, ton(7), "excesses"), ton(7))
    second += assert_income_kept(sb, sb.pool.send_income(sb.proxy, 1, "payout"), 1)
    ledger = sb.pool.ledger()
    assert ledger.open_income == second
    trace = sb.close_epoch()
    closed2 = one_event(trace, EpochClosed)
    assert closed2.epoch == closed1.epoch + 1
    assert closed2.received == second - distribution_tx(sb, trace).storage_fees
    assert sb.pool.ledger().received == closed1.received + closed2.received
    sb.assert_conserved()


def test_huge_payout_is_counted_without_overflow(sandbox: PoolSandbox) -> None:
    sb = sandbox
    # About all TON in existence (the emulator's get-methods take balances below 2**63).
    huge = ton(5_000_000_000)
    source = Address((0, bytes(range(32))))
    trace = sb.chain.send_internal(
        source, sb.pool.distribution, huge, m.CocoonPayout(query_id=1).to_cell(), bounce=False
    )
    kept = assert_income_kept_single(sb, trace, huge)
    closed = close_and_check_pot(sb, kept)
    assert closed.commission == closed.received // 10


def assert_income_kept_single(sb: PoolSandbox, trace: Trace, value: int) -> int:
    """Like assert_income_kept, for an injected message (a one-transaction trace)."""
    assert len(trace) == 1
    tx = trace[0]
    assert tx.success and tx.exit_code == 0 and tx.internal_out == ()
    sb.assert_conserved()
    return value - tx.total_fees


UNKNOWN_BODIES: dict[str, Callable[[], Cell]] = {
    "random-op": lambda: begin_cell().store_uint(0x12345678, 32).store_uint(9, 64).end_cell(),
    "op-only": lambda: _bits(0xDEADBEEF),
    "all-ones": lambda: _bits(0xFFFFFFFF),
    "participant-claim": lambda: m.ClaimRewards(query_id=1, epoch=1).to_cell(),
    "return-excesses": lambda: m.ReturnExcesses(query_id=1).to_cell(),
    "credit-pending": lambda: m.CreditPending(
        query_id=1, epoch=1, amount=ton(1), excess_to=Address((0, bytes(32)))
    ).to_cell(),
    "register": lambda: m.RegisterParticipant(query_id=1, stake=ton(10)).to_cell(),
}


@pytest.mark.parametrize("sender_kind", sorted(SENDERS))
@pytest.mark.parametrize("body_kind", sorted(UNKNOWN_BODIES))
def test_unknown_op_bounces_and_leaves_pot_unchanged(
    sandbox: PoolSandbox, body_kind: str, sender_kind: str
) -> None:
    sb = sandbox
    sender = SENDERS[sender_kind](sb)
    income = assert_income_kept(sb, sb.pool.send_income(sb.proxy, ton(20)), ton(20))
    sb.chain.advance(3_600)  # storage is due, so the check below is not vacuous
    before_sender = sender.balance
    before_distribution = sb.chain.get_balance(sb.pool.distribution)
    value = ton(2)
    trace = sender.send(sb.pool.distribution, value, UNKNOWN_BODIES[body_kind](), bounce=True)
    tx = distribution_tx(sb, trace)
    assert tx.exit_code == code("DISTRIBUTION_UNKNOWN_OP")
    assert tx.aborted and tx.bounced
    (bounce,) = tx.internal_out
    assert bounce.bounced and bounce.dest == sender.address
    assert trace[-1].address_raw == raw_address(sender.address) and trace[-1].success
    # The distribution keeps nothing but its storage fee; the sender loses only fees.
    assert tx.storage_fees > 0
    assert sb.chain.get_balance(sb.pool.distribution) == before_distribution - tx.storage_fees
    assert before_sender - sender.balance == trace_fees(trace) - tx.storage_fees
    assert bounce.value == value - (tx.total_fees - tx.storage_fees) - bounce.fwd_fee
    sb.assert_conserved()
    close_and_check_pot(sb, income - tx.storage_fees)


def test_unknown_op_non_bounceable_stays_as_income(sandbox: PoolSandbox) -> None:
    """A mistake that cannot bounce leaves its value behind: it is counted, not stranded."""
    sb = sandbox
    value = ton(4)
    trace = sb.keeper.send(sb.pool.distribution, value, _bits(0x0BADF00D), bounce=False)
    tx = distribution_tx(sb, trace)
    assert tx.exit_code == code("DISTRIBUTION_UNKNOWN_OP") and tx.internal_out == ()
    sb.assert_conserved()
    close_and_check_pot(sb, value - tx.total_fees)


def test_refused_message_too_poor_to_bounce_keeps_books(sandbox: PoolSandbox) -> None:
    sb = sandbox
    # Enough gas to reach the throw, too little left over to pay the bounce's forward fee.
    trace = sb.keeper.send(sb.pool.distribution, 1_100_000, _bits(0x0BADF00D), bounce=True)
    tx = distribution_tx(sb, trace)
    assert tx.exit_code == code("DISTRIBUTION_UNKNOWN_OP") and tx.internal_out == ()
    sb.assert_conserved()
