"""The network back end (tonutils over HTTP) on the local network: a pool deployed and joined
through signed wallet transfers, each trace followed from the API's transaction history, with
the same transactions and the same gas as on the embedded chain."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ton_core import Address
from tonutils.contracts import WalletV4R2

from cocoon_pool.chain.decode import transaction_from_boc
from cocoon_pool.chain.network import NetworkChain, NetworkWallet
from cocoon_pool.chain.types import raw_address
from cocoon_pool.contracts.constants import fee, ton
from cocoon_pool.contracts.pool import Pool, PoolParams
from cocoon_pool.contracts.reports import OracleSigner
from cocoon_pool.devnet import Devnet, clock_offset, serve
from cocoon_pool.sandbox import PoolSandbox

SIGNER = OracleSigner.from_seed_text("network-oracle")
PARAMS = PoolParams(oracle_key=SIGNER.public_key)


def words() -> list[str]:
    return list(WalletV4R2.create(None)[3])  # type: ignore[arg-type]


FAUCET = words()


@pytest.fixture(scope="module")
def network() -> Iterator[tuple[Devnet, NetworkChain]]:
    net = Devnet.create(FAUCET)
    with serve(net) as url, NetworkChain(url, poll_interval=0.02, trace_timeout=30) as chain:
        yield net, chain


def funded(chain: NetworkChain, name: str, amount: int) -> NetworkWallet:
    wallet = chain.wallet(words(), name)
    faucet = chain.wallet(FAUCET, "faucet")
    trace = faucet.send(wallet.address, amount, bounce=False)
    assert [tx.address_raw for tx in trace] == [
        raw_address(faucet.address),
        raw_address(wallet.address),
    ]
    return wallet


def test_the_network_reports_its_global_id(network: tuple[Devnet, NetworkChain]) -> None:
    net, chain = network
    assert chain.global_id == net.chain.global_id == -239


def test_a_pool_deploys_and_a_member_joins_over_the_network(
    network: tuple[Devnet, NetworkChain],
) -> None:
    _, chain = network
    admin = funded(chain, "admin", ton(100))
    pool, trace = Pool.deploy(chain, admin, PARAMS, ton(10))
    # The admin's wallet deploys itself with this first transfer; every pool transaction after
    # it succeeds and costs exactly what it costs on the embedded chain.
    assert trace[0].address_raw == raw_address(admin.address)
    trace.assert_success()
    reference = PoolSandbox.create(
        params=PARAMS, operator_stake=ton(10), oracle_seed="network-oracle"
    )
    ours = [(tx.op, tx.gas_used) for tx in trace][1:]
    theirs = [(tx.op, tx.gas_used) for tx in reference.deploy_trace][1:]
    assert ours == theirs
    info = pool.pool_info()
    expected = reference.pool.pool_info()
    assert (info.status, info.commission_bps, info.operator_stake, info.oracle_quorum) == (
        expected.status,
        expected.commission_bps,
        expected.operator_stake,
        expected.oracle_quorum,
    )

    member = funded(chain, "member", ton(50))
    stake = PARAMS.min_stake
    joined = pool.register(member, stake).assert_success()
    assert joined.find(pool.participant_address(member.address)).success
    assert pool.participant_info(member.address).stake == stake
    assert pool.registry_info().member_count == 1
    before = member.balance
    pool.bind_worker(member, member.address).assert_success()
    assert before - member.balance < fee("MEMBER_OP_FEE")  # the change came back


def test_transactions_decode_to_what_the_emulator_reported(
    network: tuple[Devnet, NetworkChain],
) -> None:
    net, chain = network
    with net.lock:
        emulated = {tx.hash: tx for tx in net.chain.transactions}
    for address in {tx.address_raw for tx in emulated.values()}:
        for tx in chain.transactions(address):
            original = emulated[tx.hash]
            assert tx.lt == original.lt and tx.out_messages == original.out_messages
            assert transaction_from_boc(original.boc).exit_code == original.exit_code


def test_transfers_follow_the_network_clock_after_the_devnet_moved_on(
    network: tuple[Devnet, NetworkChain],
) -> None:
    """A wallet signs its transfer valid for 60 s of the network's time: once the devnet's
    clock is a week ahead, the chain must be told (clock_offset) or the wallet refuses."""
    net, chain = network
    with net.lock:
        net.advance(7 * 86_400)
    chain.clock_offset = clock_offset(chain.endpoint)
    assert chain.clock_offset >= 7 * 86_400
    wallet = funded(chain, "after-a-week", ton(2))
    trace = wallet.send(Address("0:" + "55" * 32), ton(1), bounce=False)
    assert trace[0].success and trace[0].in_message is not None
    assert trace[0].in_message.kind == "external-in"


def test_a_wallet_v5r1_deploys_itself_and_sends(network: tuple[Devnet, NetworkChain]) -> None:
    _, chain = network
    faucet = chain.wallet(FAUCET, "faucet")
    wallet = chain.wallet(words(), "v5", version="v5r1")
    faucet.send(wallet.address, ton(3), bounce=False)  # lands on an uninit account
    recipient = Address("0:" + "56" * 32)
    trace = wallet.send(recipient, ton(1), bounce=False)
    first = trace[0]
    assert first.address_raw == raw_address(wallet.address)
    assert first.orig_status == "uninit" and first.end_status == "active"
    assert chain.get_balance(recipient) == ton(1)
