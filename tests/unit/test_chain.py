"""The emulated chain against the real TVM, with the test-only counter contract."""

from __future__ import annotations

import hashlib

import pytest
from ton_core import Address, Cell, Slice, begin_cell

from cocoon_pool.chain import (
    DEFAULT_NOW,
    LT_ALIGN,
    EmulatedChain,
    ExternalMessageRejected,
    Trace,
    Transaction,
    Wallet,
    internal_message,
    raw_address,
)
from cocoon_pool.contracts.constants import ton
from cocoon_pool.errors import ChainError, GetMethodError, TransactionFailed

TON = 10**9
OP_INCREASE = 0x7E8764EF
OP_RESET = 0x3A752F06
OP_INCREASED = 0x5A11AB1E
OP_EVENT = 0x1DEA0001
OP_BOUNCED = 0xFFFFFFFF
ERR_NOT_OWNER = 401
NOWHERE = Address("0:" + "ab" * 32)


def counter_data(owner: Address, counter: int = 0) -> Cell:
    return begin_cell().store_address(owner).store_uint(counter, 64).end_cell()


def increase_body(by: int, query_id: int = 7) -> Cell:
    return (
        begin_cell()
        .store_uint(OP_INCREASE, 32)
        .store_uint(query_id, 64)
        .store_uint(by, 32)
        .end_cell()
    )


def reset_body(query_id: int = 1) -> Cell:
    return begin_cell().store_uint(OP_RESET, 32).store_uint(query_id, 64).end_cell()


def deploy_counter(chain: EmulatedChain, code: Cell, owner: Wallet) -> tuple[Address, Trace]:
    address, trace = chain.deploy(code, counter_data(owner.address), TON, owner)
    trace.assert_success()
    return address, trace


def outflow(tx: Transaction) -> int:
    """What a transaction took from its account besides fees: sent value + forward fees."""
    return sum(m.value + m.fwd_fee for m in tx.out_messages if m.kind == "internal")


def assert_balances_add_up(chain: EmulatedChain, trace: Trace, before: dict[str, int]) -> None:
    """Every transaction: balance_after == before + inbound value - fees - outflow."""
    balances = dict(before)
    for tx in trace:
        inbound = tx.in_message.value if tx.in_message is not None else 0
        expected = balances.get(tx.address_raw, 0) + inbound - tx.total_fees - outflow(tx)
        assert tx.balance_after == expected, tx.describe()
        balances[tx.address_raw] = tx.balance_after
    for raw, balance in balances.items():
        assert chain.get_balance(raw) == balance
        assert chain.get_state(raw).balance == balance


def test_deploy_via_wallet(chain: EmulatedChain, counter_code: Cell) -> None:
    alice = chain.create_wallet("alice", 100 * TON)
    address, trace = deploy_counter(chain, counter_code, alice)
    assert len(trace) == 2
    assert trace[0].address_raw == raw_address(alice.address)
    deploy_tx = trace.find(address)
    assert deploy_tx.orig_status == "uninit"
    assert deploy_tx.end_status == "active"
    assert deploy_tx.in_message is not None
    assert deploy_tx.in_message.src == alice.address
    state = chain.get_state(address)
    assert state.status == "active"
    assert state.code is not None and state.code.hash == counter_code.hash
    assert state.data is not None and state.data.hash == counter_data(alice.address).hash
    assert chain.run_get_method(address, "counter").int_at(0) == 0


def test_wallet_address_is_deterministic() -> None:
    a = EmulatedChain().create_wallet("alice", TON).address
    b = EmulatedChain().create_wallet("alice", TON).address
    c = EmulatedChain().create_wallet("bob", TON).address
    assert a == b
    assert a != c
    chain = EmulatedChain()
    w = chain.create_wallet("alice", TON)
    assert w.balance == TON
    expected = int.from_bytes(hashlib.sha256(b"alice").digest(), "big")
    assert chain.run_get_method(w.address, "wallet_id").int_at(0) == expected
    with pytest.raises(ChainError):
        chain.create_wallet("alice", TON)


def test_exact_balances(chain: EmulatedChain, counter_code: Cell) -> None:
    alice = chain.create_wallet("alice", 100 * TON)
    before = alice.balance
    address, trace = deploy_counter(chain, counter_code, alice)
    wallet_tx, deploy_tx = trace[0], trace[1]
    [out] = wallet_tx.out_messages
    assert out.value == TON
    assert out.has_state_init
    # the wallet pays the value, its transaction fees and the message's forward fee
    assert before - alice.balance == TON + wallet_tx.total_fees + out.fwd_fee
    assert wallet_tx.fwd_fees == wallet_tx.action_fees + out.fwd_fee
    # the new contract keeps the value minus its own fees
    assert chain.get_balance(address) == TON - deploy_tx.total_fees
    assert deploy_tx.total_fees == deploy_tx.compute_fees + deploy_tx.storage_fees
    assert_balances_add_up(chain, trace, {raw_address(alice.address): before})


def test_reply_and_event(chain: EmulatedChain, counter_code: Cell) -> None:
    alice = chain.create_wallet("alice", 100 * TON)
    address, _ = deploy_counter(chain, counter_code, alice)
    before = {raw_address(a): chain.get_balance(a) for a in (alice.address, address)}
    trace = alice.send(address, TON // 2, increase_body(5)).assert_success()
    expected_path = [raw_address(a) for a in (alice.address, address, alice.address)]
    assert [tx.address_raw for tx in trace] == expected_path
    counter_tx = trace.find(address, op=OP_INCREASE)
    [reply] = counter_tx.internal_out
    assert reply.op == OP_INCREASED
    assert reply.dest == alice.address
    assert not reply.bounce
    # mode 64: the reply carries the inbound value minus compute fees and its own forward fees
    # (the log message's forward fee is paid from the contract's balance)
    assert reply.value < TON // 2 - counter_tx.compute_fees - reply.fwd_fee
    reply_body = reply.body.begin_parse()
    assert reply_body.load_uint(32) == OP_INCREASED
    assert reply_body.load_uint(64) == 7
    assert reply_body.load_uint(64) == 5
    # the log event
    [event] = trace.external_events()
    assert event.kind == "external-out"
    assert event.op == OP_EVENT
    assert event.dest_raw == "External<256:1>"
    body = event.body.begin_parse()
    assert body.load_uint(32) == OP_EVENT
    assert body.load_address() == alice.address
    assert body.load_uint(64) == 5
    assert counter_tx.events == (event,)
    assert_balances_add_up(chain, trace, before)
    assert chain.run_get_method(address, "counter").int_at() == 5


def test_error_exit_code_and_bounce(chain: EmulatedChain, counter_code: Cell) -> None:
    alice = chain.create_wallet("alice", 100 * TON)
    bob = chain.create_wallet("bob", 100 * TON)
    address, _ = deploy_counter(chain, counter_code, alice)
    alice.send(address, TON // 10, increase_body(3)).assert_success()
    before = {raw_address(a): chain.get_balance(a) for a in (bob.address, address)}
    trace = bob.send(address, TON // 2, reset_body())
    assert len(trace) == 3
    failed = trace.find(address, op=OP_RESET)
    assert failed.exit_code == ERR_NOT_OWNER
    assert not failed.success
    assert failed.aborted
    assert failed.bounced
    assert trace.failed() == [failed]
    with pytest.raises(TransactionFailed, match="exit 401"):
        trace.assert_success()
    [bounce] = failed.out_messages
    assert bounce.bounced
    assert bounce.dest == bob.address
    # the bounced value is what came in minus the failed transaction's fees and the bounce fwd fee
    assert bounce.value == TON // 2 - failed.total_fees - bounce.fwd_fee
    back = trace.find(bob.address, op=OP_BOUNCED)
    assert back.in_message is not None and back.in_message.bounced
    assert back.in_message.value == bounce.value
    assert back.success
    # the counter keeps its balance exactly and its state
    assert chain.get_balance(address) == before[raw_address(address)]
    assert chain.run_get_method(address, "counter").int_at() == 3
    assert_balances_add_up(chain, trace, before)
    # the owner (impersonated directly) may reset
    chain.send_internal(alice.address, address, TON // 10, reset_body()).assert_success()
    assert chain.run_get_method(address, "counter").int_at() == 0


def test_message_to_nonexistent_account_bounces(chain: EmulatedChain) -> None:
    alice = chain.create_wallet("alice", 100 * TON)
    before = {raw_address(alice.address): alice.balance}
    trace = alice.send(NOWHERE, TON, bounce=True)
    assert len(trace) == 3
    dead = trace.find(NOWHERE)
    assert dead.compute_skipped == "no-state"
    assert dead.bounced
    assert dead.end_status == "nonexist"
    [bounce] = dead.out_messages
    assert bounce.bounced and bounce.dest == alice.address
    assert bounce.value == TON - dead.total_fees - bounce.fwd_fee
    assert chain.get_state(NOWHERE).status == "nonexist"
    assert chain.get_balance(NOWHERE) == 0
    assert_balances_add_up(chain, trace, before)


def test_non_bounceable_message_creates_uninit_account(chain: EmulatedChain) -> None:
    alice = chain.create_wallet("alice", 100 * TON)
    trace = alice.send(NOWHERE, TON, bounce=False)
    assert len(trace) == 2
    tx = trace.find(NOWHERE)
    assert tx.compute_skipped == "no-state"
    assert tx.end_status == "uninit"
    assert chain.get_state(NOWHERE).status == "uninit"
    assert chain.get_balance(NOWHERE) == TON - tx.total_fees


def test_get_methods_typed_results_and_gas(chain: EmulatedChain, counter_code: Cell) -> None:
    alice = chain.create_wallet("alice", 100 * TON)
    address, _ = deploy_counter(chain, counter_code, alice)
    alice.send(address, TON // 10, increase_body(9)).assert_success()
    data = chain.run_get_method(address, "counter_data")
    assert data.exit_code == 0
    assert data.gas_used > 0
    assert len(data.stack) == 2
    assert isinstance(data.stack[0], Slice)
    assert data.address_at(0) == alice.address
    assert data.int_at(1) == 9
    doubled = chain.run_get_method(address, "checked_double", [21])
    assert doubled.stack == [42]
    # same call, same gas
    assert chain.run_get_method(address, "checked_double", [21]).gas_used == doubled.gas_used
    with pytest.raises(GetMethodError, match="exit code 77"):
        chain.run_get_method(address, "checked_double", [-1])
    failed = chain.run_get_method(address, "checked_double", [-1], check=False)
    assert failed.exit_code == 77
    assert failed.stack == []
    with pytest.raises(GetMethodError, match="exit code 11"):
        chain.run_get_method(address, "no_such_method")
    with pytest.raises(GetMethodError, match="does not exist"):
        chain.run_get_method(NOWHERE, "counter")
    now, balance = chain.run_get_method(address, "now_and_balance").stack
    assert now == chain.now
    assert balance == chain.get_balance(address)


def test_time_travel(chain: EmulatedChain, counter_code: Cell) -> None:
    assert chain.now == DEFAULT_NOW
    alice = chain.create_wallet("alice", 100 * TON)
    address, trace = deploy_counter(chain, counter_code, alice)
    assert {tx.now for tx in trace} == {DEFAULT_NOW}
    assert chain.advance(3600) == DEFAULT_NOW + 3600
    assert chain.run_get_method(address, "now_and_balance").int_at(0) == DEFAULT_NOW + 3600
    trace = alice.send(address, TON // 10, increase_body(1)).assert_success()
    assert {tx.now for tx in trace} == {DEFAULT_NOW + 3600}
    chain.set_now(DEFAULT_NOW + 7200)
    assert chain.now == DEFAULT_NOW + 7200
    with pytest.raises(ChainError):
        chain.set_now(DEFAULT_NOW)
    with pytest.raises(ChainError):
        chain.advance(-1)
    # a year later the contract pays storage fees
    chain.advance(365 * 24 * 3600)
    tx = alice.send(address, TON // 10, increase_body(1)).assert_success().find(address)
    assert tx.storage_fees > 0


def test_external_message_rejected(chain: EmulatedChain, counter_code: Cell) -> None:
    alice = chain.create_wallet("alice", 100 * TON)
    address, _ = deploy_counter(chain, counter_code, alice)
    lt, history = chain.lt, len(chain.transactions)
    balance = chain.get_balance(address)
    with pytest.raises(ExternalMessageRejected) as info:
        chain.send_external(address, begin_cell().store_uint(1, 32).end_cell())
    assert info.value.exit_code is not None
    assert chain.lt == lt
    assert len(chain.transactions) == history
    assert chain.get_balance(address) == balance
    with pytest.raises(ExternalMessageRejected):
        chain.send_external(NOWHERE)


def test_transaction_history(chain: EmulatedChain, counter_code: Cell) -> None:
    alice = chain.create_wallet("alice", 100 * TON)
    address, t1 = deploy_counter(chain, counter_code, alice)
    t2 = alice.send(address, TON // 10, increase_body(2)).assert_success()
    assert chain.transactions == [*t1, *t2]
    lts = [tx.lt for tx in chain.transactions]
    assert lts == [LT_ALIGN * (i + 1) for i in range(len(lts))]
    assert chain.lt == lts[-1]
    for tx in chain.transactions:
        for m in tx.out_messages:
            assert m.created_lt > tx.lt
    assert len({tx.hash for tx in chain.transactions}) == len(chain.transactions)


def test_deterministic_gas(counter_code: Cell) -> None:
    def run() -> list[Transaction]:
        chain = EmulatedChain()
        alice = chain.create_wallet("alice", 100 * TON)
        address, _ = deploy_counter(chain, counter_code, alice)
        first = alice.send(address, TON // 10, increase_body(1)).find(address)
        second = alice.send(address, TON // 10, increase_body(1)).find(address)
        return [first, second]

    a = run()
    assert a[0].gas_used == a[1].gas_used
    assert a[0].total_fees == a[1].total_fees
    b = run()
    assert [tx.hash for tx in a] == [tx.hash for tx in b]


def test_gas_total_excludes_addresses(chain: EmulatedChain, counter_code: Cell) -> None:
    alice = chain.create_wallet("alice", 100 * TON)
    address, _ = deploy_counter(chain, counter_code, alice)
    trace = alice.send(address, TON // 10, increase_body(1))
    counter_gas = trace.find(address).gas_used
    assert trace.gas_total(exclude={alice.address}) == counter_gas
    assert trace.gas_total() == sum(tx.gas_used for tx in trace)
    assert trace.gas_total(exclude={raw_address(alice.address), address}) == 0


def test_trace_cap(counter_code: Cell) -> None:
    chain = EmulatedChain(max_trace_transactions=2)
    alice = chain.create_wallet("alice", 100 * TON)
    address, _ = deploy_counter(chain, counter_code, alice)
    with pytest.raises(ChainError, match="exceeded 2 transactions"):
        alice.send(address, TON // 10, increase_body(1))


def test_wallet_send_many(chain: EmulatedChain) -> None:
    alice = chain.create_wallet("alice", 100 * TON)
    bob = chain.create_wallet("bob", 0)
    msgs = [(internal_message(dest=bob.address, value=TON * (i + 1)), 3) for i in range(3)]
    trace = alice.send_raw(msgs).assert_success()
    assert len(trace) == 4
    assert bob.balance == 6 * TON - sum(tx.total_fees for tx in trace.find_all(bob.address))


def test_vm_log_and_debug_output(counter_code: Cell) -> None:
    chain = EmulatedChain(verbosity="full_location_gas", debug=True)
    alice = chain.create_wallet("alice", 100 * TON)
    address, trace = deploy_counter(chain, counter_code, alice)
    tx = trace.find(address)
    assert tx.vm_log is not None and "execute" in tx.vm_log
    got = chain.run_get_method(address, "counter")
    assert got.vm_log is not None and got.vm_log
    quiet = EmulatedChain()
    w = quiet.create_wallet("w", TON)
    assert w.send(NOWHERE, 1, bounce=False)[0].vm_log is None


@pytest.mark.parametrize("start", [ton(100), 2**48 + ton(1)])
def test_wallet_can_spend_below_a_byte_boundary(chain: EmulatedChain, start: int) -> None:
    # A balance that needs one byte less after a transfer used to abort the emulator: the
    # account's storage statistics started at zero instead of the account's real size.
    sender = chain.create_wallet("sender", start)
    receiver = chain.create_wallet("receiver", ton(1))
    amount = start - ton(3)
    trace = sender.send(receiver.address, amount, None).assert_success()
    received = trace.find(receiver.address)
    assert receiver.balance == ton(1) + amount - received.total_fees
    assert sender.balance < ton(3)


def test_a_skipped_compute_phase_describes_itself_and_fees_add_up(chain: EmulatedChain) -> None:
    alice = chain.create_wallet("alice", 100 * TON)
    trace = alice.send(NOWHERE, TON, bounce=True)
    dead = trace.find(NOWHERE)
    assert f"op=-: compute skipped ({dead.compute_skipped}), aborted, bounced" in dead.describe()
    assert trace.fees_total() == sum(tx.total_fees for tx in trace)
    assert trace.fees_total(exclude=[alice.address]) == dead.total_fees
    [bounce] = dead.out_messages
    assert bounce.dest == alice.address
    with pytest.raises(LookupError, match=rf"op=0x{OP_RESET:x} in trace:\ntx "):
        trace.find(NOWHERE, OP_RESET)


def test_typed_get_results_refuse_the_wrong_stack_type(
    chain: EmulatedChain, counter_code: Cell
) -> None:
    alice = chain.create_wallet("alice", 100 * TON)
    address, _ = deploy_counter(chain, counter_code, alice)
    data = chain.run_get_method(address, "counter_data")
    assert data.slice_at(0).load_address() == alice.address
    with pytest.raises(GetMethodError, match=r"stack\[0\] of counter_data is .*not an int"):
        data.int_at(0)
    with pytest.raises(GetMethodError, match=r"stack\[0\] of counter_data is .*not a cell"):
        data.cell_at(0)
    with pytest.raises(GetMethodError, match=r"stack\[1\] of counter_data is 0, not a slice"):
        data.slice_at(1)
    owner_cell = begin_cell().store_address(alice.address).end_cell()
    as_cell = type(data)(method="x", exit_code=0, gas_used=0, stack=[owner_cell])
    assert as_cell.cell_at(0) is owner_cell
    assert as_cell.address_at(0) == alice.address
    none = type(data)(
        method="x", exit_code=0, gas_used=0, stack=[begin_cell().store_uint(0, 2).end_cell()]
    )
    assert none.address_at(0) is None
    external = begin_cell().store_uint(1, 2).store_uint(8, 9).store_uint(0xAB, 8).end_cell()
    with pytest.raises(GetMethodError, match="is an external address"):
        type(data)(method="x", exit_code=0, gas_used=0, stack=[external]).address_at(0)


def test_a_member_refusal_on_a_missing_contract_says_register_first(
    chain: EmulatedChain,
) -> None:
    from cocoon_pool.member_links import refusal, refusal_reason  # noqa: PLC0415

    alice = chain.create_wallet("alice", 100 * TON)
    trace = alice.send(NOWHERE, TON, bounce=True)
    refused = refusal(trace, alice.address)
    assert refused is not None and refused.address_raw == raw_address(NOWHERE)
    reason = refusal_reason(refused, "testnet")
    assert reason.startswith("no contract at ") and "register first" in reason
