"""The embedded chain's edges (``chain.emulator``) on the real TVM: its accounts view, batch
misuse, messages it cannot inject, get-methods on inactive accounts, a helper restarted
under a chain, and unknown helper ops."""

from __future__ import annotations

import pytest
from ton_core import Address, begin_cell

from cocoon_pool.chain.emulator import EmulatedChain
from cocoon_pool.chain.node import NodeBridge
from cocoon_pool.chain.types import raw_address
from cocoon_pool.contracts.constants import ton
from cocoon_pool.errors import ChainError, GetMethodError, ToolchainError

NOWHERE = Address("0:" + "ab" * 32)


def test_the_accounts_view_reads_and_deletes_like_a_mapping() -> None:
    chain = EmulatedChain()
    alice = chain.create_wallet("alice", ton(5))
    raw = raw_address(alice.address)
    assert repr(alice) == f"Wallet('alice', {raw})"
    assert chain.accounts.keys() == [raw]
    state = chain.accounts[raw]
    assert (state.address_raw, state.status, state.balance) == (raw, "active", ton(5))
    with pytest.raises(KeyError):
        chain.accounts[raw_address(NOWHERE)]
    with pytest.raises(KeyError):
        del chain.accounts[raw_address(NOWHERE)]
    del chain.accounts[raw]
    assert chain.accounts.keys() == [] and raw not in chain.accounts
    assert chain.get_state(alice.address).status == "nonexist"


def test_a_random_seed_must_be_32_bytes() -> None:
    with pytest.raises(ChainError) as info:
        EmulatedChain(random_seed=bytes(31))
    assert info.value.message == "random_seed must be 32 bytes"


def test_batches_submitted_twice_received_unsubmitted_or_left_pending() -> None:
    chain = EmulatedChain()
    alice = chain.create_wallet("alice", ton(5))
    with chain.batch(submit=False) as batch:
        alice.send(NOWHERE, ton(1), bounce=False)
    assert len(batch) == 1 and chain._batch is None
    (trace,) = batch.receive().wait()  # receive() submits a batch nobody submitted
    assert trace.find(NOWHERE).balance_after == ton(1)  # value only: no code runs
    with pytest.raises(ChainError) as info:
        batch.submit()
    assert info.value.message == "this batch was already submitted"
    assert info.value.hint == "make a new batch"
    with chain.batch(wait=False) as pending:
        alice.send(NOWHERE, ton(1), bounce=False)
        with pytest.raises(ChainError) as info:
            chain.fork()
        assert info.value.message == "cannot fork while a batch collects"
        assert info.value.hint == "submit it first"
    assert chain.get_balance(NOWHERE) == ton(1)  # submitted, not yet applied
    (second,) = pending.wait()
    assert second.find(NOWHERE).balance_after == ton(2)
    assert chain.get_balance(NOWHERE) == chain.get_state(NOWHERE).balance == ton(2)


def test_messages_that_cannot_be_injected() -> None:
    chain = EmulatedChain()
    ext_out = (
        begin_cell()
        .store_uint(0b11, 2)  # ext_out_msg_info$11
        .store_address(NOWHERE)
        .store_address(None)
        .store_uint(0, 64 + 32)
        .store_uint(0, 2)
        .end_cell()
    )
    with pytest.raises(ChainError) as info:
        chain.send_message(ext_out)
    assert info.value.message == "cannot inject an external-out message"
    no_dest = (
        begin_cell()
        .store_uint(0, 1)  # int_msg_info$0
        .store_uint(0, 3)
        .store_address(NOWHERE)
        .store_address(None)
        .end_cell()
    )
    with pytest.raises(ChainError) as info:
        chain.send_message(no_dest)
    assert info.value.message == "message has no internal destination"


def test_a_get_method_on_an_uninitialized_account_is_refused() -> None:
    chain = EmulatedChain()
    chain.send_internal(NOWHERE, NOWHERE, ton(1), bounce=False)  # value only: uninit
    raw = raw_address(NOWHERE)
    assert chain.get_state(NOWHERE).status == "uninit"
    with pytest.raises(GetMethodError) as info:
        chain.run_get_method(NOWHERE, "seqno")
    assert info.value.message == f"account {raw} is not active"
    assert info.value.hint == "deploy the contract before querying it"


def test_a_restarted_helper_has_lost_the_chain() -> None:
    bridge = NodeBridge()
    try:
        chain = EmulatedChain(bridge=bridge)
        alice = chain.create_wallet("alice", ton(5))
        with pytest.raises(ToolchainError) as tool:
            chain._request("noSuchOp")
        assert tool.value.message == "the Node helper failed on `noSuchOp`: unknown op noSuchOp"
        bridge.close()
        with pytest.raises(ChainError) as info:
            chain.get_state(alice.address)
        assert info.value.message == "the Node helper lost this chain's state (it was restarted)"
        assert info.value.hint == (
            "build the chain again; its accounts lived in the old helper process"
        )
    finally:
        bridge.close()
