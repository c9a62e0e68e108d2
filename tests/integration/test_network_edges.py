"""The network back end's edges against the local devnet: typed get-method arguments and
results, a get-method that fails, a transaction that never comes, an API that is down, and a
wallet version it does not know. Each ends in a ChainError/GetMethodError with a hint."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from ton_core import Address, Cell, Slice, begin_cell
from tonutils.contracts import WalletV4R2

from cocoon_pool.chain.emulator import EmulatedChain
from cocoon_pool.chain.network import NetworkChain
from cocoon_pool.devnet import Devnet, serve
from cocoon_pool.errors import ChainError, GetMethodError
from local_http import closed_port_url

TON = 10**9
FAUCET = list(WalletV4R2.create(None)[3])  # type: ignore[arg-type]
NOWHERE = Address("0:" + "cd" * 32)


@pytest.fixture(scope="module")
def network(counter_code: Cell) -> Iterator[tuple[Devnet, NetworkChain, Address, Address]]:
    net = Devnet.create(FAUCET)
    with net.lock:
        emulated: EmulatedChain = net.chain
        owner = emulated.create_wallet("counter-owner", 10 * TON)
        data = begin_cell().store_address(owner.address).store_uint(5, 64).end_cell()
        counter, trace = emulated.deploy(counter_code, data, TON, owner)
        trace.assert_success()
    with serve(net) as url, NetworkChain(url, poll_interval=0.02, trace_timeout=10) as chain:
        yield net, chain, counter, owner.address


def test_get_methods_take_and_return_typed_values_over_http(
    network: tuple[Devnet, NetworkChain, Address, Address],
) -> None:
    _, chain, counter, owner = network
    data = chain.run_get_method(counter, "counter_data")
    assert isinstance(data.stack[0], Slice | Cell)
    assert data.address_at(0) == owner and data.int_at(1) == 5
    assert chain.run_get_method(counter, "checked_double", [21]).int_at() == 42


def test_a_failing_get_method_names_the_method_and_the_contract(
    network: tuple[Devnet, NetworkChain, Address, Address],
) -> None:
    _, chain, counter, _ = network
    with pytest.raises(GetMethodError, match=r"get-method 'checked_double' on 0:.* failed") as e:
        chain.run_get_method(counter, "checked_double", [True])  # a bool goes over as -1
    assert "exit code 77" in e.value.message
    assert "is the contract deployed" in e.value.hint
    with pytest.raises(GetMethodError, match="get-method 'counter' on 0:cdcd"):
        chain.run_get_method(NOWHERE, "counter")


def test_a_transaction_that_never_comes_times_out_with_the_reason(
    network: tuple[Devnet, NetworkChain, Address, Address],
) -> None:
    _, chain, counter, _ = network
    started = time.monotonic()
    with pytest.raises(ChainError, match="nothing arrived in 10 s") as caught:
        chain.await_transaction(
            counter,
            0,
            lambda tx: False,
            deadline=time.monotonic() + 0.1,
            what="nothing arrived",
            hint="look it up",
        )
    assert caught.value.hint == "look it up"
    assert time.monotonic() - started < 5


def test_an_unknown_wallet_version_is_refused(
    network: tuple[Devnet, NetworkChain, Address, Address],
) -> None:
    _, chain, _, _ = network
    with pytest.raises(ChainError, match="unknown wallet version 'v3r2'") as caught:
        chain.wallet(FAUCET, "old", version="v3r2")
    assert "v4r2 or v5r1" in caught.value.hint


def test_an_api_that_is_down_is_a_chain_error_with_a_hint() -> None:
    url = closed_port_url().rsplit("/", 1)[0]
    with (
        pytest.raises(ChainError, match=f"the network API at {url} failed") as caught,
        NetworkChain(url, poll_interval=0.01, trace_timeout=5) as chain,
    ):
        chain.get_state(NOWHERE)
    assert "check the endpoint" in caught.value.hint
