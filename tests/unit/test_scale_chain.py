"""The embedded chain's batch path (what the scale run uses): many messages in one request,
pipelined submits, summaries, history filters, forks and the accounts view, on the real TVM
with the test-only counter contract."""

from __future__ import annotations

import pytest
from ton_core import Address, Cell, begin_cell

from cocoon_pool.chain import EmulatedChain, ExternalMessageRejected, Trace, raw_address
from cocoon_pool.errors import ChainError

TON = 10**9
OP_INCREASE = 0x7E8764EF


def increase_body(by: int) -> Cell:
    return begin_cell().store_uint(OP_INCREASE, 32).store_uint(7, 64).store_uint(by, 32).end_cell()


def counter(chain: EmulatedChain, code: Cell, owner_name: str) -> tuple[Address, Trace]:
    owner = chain.create_wallet(owner_name, 100 * TON)
    data = begin_cell().store_address(owner.address).store_uint(0, 64).end_cell()
    address, trace = chain.deploy(code, data, TON, owner)
    return address, trace.assert_success()


def value_of(chain: EmulatedChain, address: Address) -> int:
    return chain.run_get_method(address, "counter").int_at(0)


def shape(trace: Trace) -> list[tuple[object, ...]]:
    return [
        (tx.address_raw, tx.lt, tx.exit_code, tx.gas_used, tx.total_fees, tx.balance_after)
        for tx in trace
    ]


def test_a_batch_runs_exactly_what_sends_one_by_one_run(counter_code: Cell) -> None:
    one, many = EmulatedChain(), EmulatedChain()
    sequential: list[Trace] = []
    for chain in (one, many):
        address, _ = counter(chain, counter_code, "owner")
        users = chain.create_wallets([f"user-{i}" for i in range(4)], 10 * TON)
        if chain is one:
            sequential = [u.send(address, TON, increase_body(i + 1)) for i, u in enumerate(users)]
        else:
            with chain.batch() as batch:
                batched = [u.send(address, TON, increase_body(i + 1)) for i, u in enumerate(users)]
                assert all(len(t) == 0 for t in batched) and len(batch) == 4
        assert value_of(chain, address) == 1 + 2 + 3 + 4
    assert [shape(t) for t in sequential] == [shape(t) for t in batched]
    assert one.lt == many.lt and one.transaction_count == many.transaction_count
    assert [tx.hash for tx in one.transactions] == [tx.hash for tx in many.transactions]


def test_pipelined_batches_and_summaries(counter_code: Cell) -> None:
    chain = EmulatedChain(detail="summary")
    address, _ = counter(chain, counter_code, "owner")
    user = chain.create_wallet("user", 100 * TON)
    with chain.batch(submit=False) as first:
        a = user.send(address, TON, increase_body(5))
    first.submit()
    with chain.batch(submit=False) as second:
        b = user.send(address, TON, increase_body(6))
    first.receive()  # the answer to the first is in before the second goes out
    second.submit()
    first.wait()
    second.wait()
    assert a.assert_success() and b.assert_success() and value_of(chain, address) == 11
    tx = b.find(address)
    assert tx.boc == "" and tx.hash == "" and tx.in_message is not None
    assert tx.in_message.op == OP_INCREASE and tx.in_message.body_boc == ""
    (event,) = tx.events
    assert event.body_boc != ""  # events keep their bodies: the pool's decoders need them
    assert b.find(user.address, 0x5A11AB1E).in_message is not None


def test_history_filter_and_counts(counter_code: Cell) -> None:
    chain = EmulatedChain()
    address, _ = counter(chain, counter_code, "owner")
    user = chain.create_wallet("user", 100 * TON)
    chain.keep_history = frozenset({raw_address(address)})
    kept, before = len(chain.transactions), chain.transaction_count
    trace = user.send(address, TON, increase_body(1)).assert_success()
    assert chain.transaction_count == before + len(trace) == before + 3
    assert [tx.address_raw for tx in chain.transactions[kept:]] == [raw_address(address)]
    chain.keep_history = False
    user.send(address, TON, increase_body(1)).assert_success()
    assert len(chain.transactions) == kept + 1


def test_forks_accounts_and_a_rejection_inside_a_batch(counter_code: Cell) -> None:
    chain = EmulatedChain()
    address, _ = counter(chain, counter_code, "owner")
    user = chain.create_wallet("user", 100 * TON)
    fork = chain.fork()
    fork.wallets["user"].send(address, TON, increase_body(9)).assert_success()
    assert (value_of(chain, address), value_of(fork, address)) == (0, 9)
    assert raw_address(address) in chain.accounts and len(chain.accounts) == 3
    del fork.accounts[raw_address(address)]
    assert fork.get_state(address).status == "nonexist"
    assert chain.get_state(address).status == "active"
    with pytest.raises(ExternalMessageRejected), chain.batch():
        done = user.send(address, TON, increase_body(1))
        chain.send_external(address, begin_cell().store_uint(1, 32).end_cell())
        never = user.send(address, TON, increase_body(1))
    assert done.assert_success() and len(never) == 0
    assert value_of(chain, address) == 1
    with pytest.raises(ChainError, match="do not nest"), chain.batch(), chain.batch():
        pass


def test_plain_wallets_send_and_receive_without_wallet_transactions(counter_code: Cell) -> None:
    """Scale runs only: a plain wallet sends straight from its address and is credited what it
    receives; the contract's transaction is the same as from a full wallet."""
    full, plain = EmulatedChain(), EmulatedChain()
    traces: dict[str, Trace] = {}
    for name, chain in (("full", full), ("plain", plain)):
        address, _ = counter(chain, counter_code, "owner")
        user = chain.create_wallet("user", 100 * TON)
        if chain is plain:
            chain.use_plain_wallets([user])
        traces[name] = user.send(address, TON, increase_body(3)).assert_success()
        assert value_of(chain, address) == 3
    user_raw = raw_address(plain.wallets["user"].address)
    counter_full = next(tx for tx in traces["full"] if tx.address_raw != user_raw)
    (counter_plain,) = traces["plain"]  # no wallet transaction on either side of it
    assert counter_plain.gas_used == counter_full.gas_used
    assert counter_plain.exit_code == counter_full.exit_code == 0
    (reply,) = (m for m in counter_plain.out_messages if m.dest_raw == user_raw)
    # debited the value sent (no fees: no transaction), credited the reply
    balance = 100 * TON - TON + reply.value
    assert plain.get_balance(user_raw) == balance
    assert plain.get_state(user_raw).balance == balance  # written into the account state
    fork = plain.fork()
    assert fork.plain_wallets == plain.plain_wallets and fork.get_balance(user_raw) == balance
    user = plain.wallets["user"]
    plain.use_plain_wallets([user], plain=False)
    again = user.send(counter_plain.address_raw, TON, increase_body(1)).assert_success()
    assert [tx.address_raw for tx in again].count(user_raw) == 2  # send and receive
    assert again[0].balance_after < balance - TON  # the wallet pays fees again
    with pytest.raises(ChainError, match="not a plain wallet"):
        plain.send_plain(user.address, user.address, TON)


def test_summaries_keep_message_bodies_of_chosen_accounts(counter_code: Cell) -> None:
    """Events derived from message bodies (the distribution's) survive detail="summary"."""
    chain = EmulatedChain(detail="summary")
    address, _ = counter(chain, counter_code, "owner")
    user = chain.create_wallet("user", 100 * TON)
    lean = user.send(address, TON, increase_body(2)).find(address)
    assert lean.in_message is not None and lean.in_message.body_boc == ""
    chain.bodies_of = frozenset({raw_address(address)})
    tx = user.send(address, TON, increase_body(2)).find(address)
    assert tx.in_message is not None and tx.in_message.body == increase_body(2)
    assert all(m.body_boc != "" for m in tx.out_messages)
    assert tx.gas_used == lean.gas_used
