"""Reading traces in tests: decoded events and who paid what."""

from __future__ import annotations

from ton_core import Address

from cocoon_pool.chain.emulator import EmulatedChain, Wallet
from cocoon_pool.chain.types import Trace, raw_address
from cocoon_pool.contracts.events import E, trace_events


def one_event(trace: Trace, kind: type[E], address: Address | None = None) -> E:
    found = trace_events(trace, kind, address)
    assert len(found) == 1, f"{kind.__name__}: {found}\n{trace.describe()}"
    return found[0]


def kept_of_value(trace: Trace, address: Address, value: int) -> int:
    """What a contract keeps of a message that carried a fixed ``value`` for its gas and that
    it does not answer (MarkVerified, ApplyReport): the value less its transaction's fees
    (its own storage fee excluded: that came out of the balance it had)."""
    (tx,) = trace.find_all(address)
    assert not tx.internal_out, tx.describe()
    return value - (tx.total_fees - tx.storage_fees)


def trace_fees(trace: Trace) -> int:
    """Every nanoton the trace burned: transaction fees plus forward fees in transit."""
    return sum(tx.total_fees for tx in trace) + sum(
        msg.fwd_fee for tx in trace for msg in tx.internal_out
    )


def storage_paid(trace: Trace, address: Address) -> int:
    raw = raw_address(address)
    return sum(tx.storage_fees for tx in trace if tx.address_raw == raw)


def payer_cost(trace: Trace, payer: Address) -> int:
    """Everything the trace burned that the payer's value paid for.

    Other accounts' storage fees come out of their own balances (the handlers reserve
    their balance from before the message), so only the payer's storage counts.
    """
    payer_raw = raw_address(payer)
    cost = 0
    for tx in trace:
        cost += tx.total_fees - (0 if tx.address_raw == payer_raw else tx.storage_fees)
        cost += sum(msg.fwd_fee for msg in tx.internal_out)
    return cost


def gain(chain: EmulatedChain, trace: Trace, address: Address, before: int) -> int:
    """What ``address`` kept of the trace's value (its own storage fee added back)."""
    return chain.get_balance(address) - before + storage_paid(trace, address)


def same(a: Address | None, b: Address) -> bool:
    return a is not None and raw_address(a) == raw_address(b)


def assert_refused_and_refunded(
    trace: Trace,
    chain: EmulatedChain,
    payer: Wallet,
    contract: Address,
    *,
    value: int,
    expected: int,
    payer_before: int,
    contract_before: int,
) -> None:
    """``contract`` refused ``payer``'s message with ``expected`` and bounced it straight back.

    The payer loses exactly the fees the trace burned, the contract only its storage fee, and
    nothing else ran.
    """
    tx = trace.find(contract)
    assert tx.exit_code == expected, trace.describe()
    assert tx.bounced and not tx.success
    (bounce,) = tx.internal_out
    assert bounce.bounced and same(bounce.dest, payer.address)
    assert bounce.value == value - (tx.total_fees - tx.storage_fees) - bounce.fwd_fee
    assert len(trace) == 3, trace.describe()  # payer -> contract -> bounce back
    assert payer.balance == payer_before - payer_cost(trace, payer.address)
    assert chain.get_balance(contract) == contract_before - tx.storage_fees
