"""Deploy and drive the Cocoon test doubles of tests/fixtures/cocoon/ on the emulated chain.

The doubles speak Cocoon's published message layouts (TL-B); the Python classes below mirror
them the same way cocoon_pool.contracts.messages mirrors the pool's own structs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import ClassVar

from nacl.signing import SigningKey
from ton_core import Address, Cell

from cocoon_pool.chain.emulator import EmulatedChain, Wallet
from cocoon_pool.chain.messages import contract_address
from cocoon_pool.chain.types import Trace
from cocoon_pool.contracts.build import compile_contract
from cocoon_pool.contracts.codec import (
    Bits,
    EmptyDict,
    RawCell,
    Ref,
    TlbStruct,
    addr,
    coins,
    tl,
    u,
)
from cocoon_pool.contracts.constants import ton
from cocoon_pool.contracts.messages import CocoonOwnerWalletSendMessage

COCOON_FIXTURES = Path(__file__).parent / "fixtures" / "cocoon"

# Exit codes of the doubles (ours: Cocoon's TL-B publishes none).
ERR_LOW_RELAY_VALUE = 1101
ERR_NOT_FROM_OWNER = 1102
ERR_BAD_SIGNATURE = 1202
ERR_WRONG_WORKER = 1204
ERR_NOTHING_NEW = 1205
ERR_NOT_FROM_WALLET_OWNER = 1301

RELAY_VALUE = ton("0.2")
"""What a relayer attaches to a payout request (Cocoon requires more than 0.1 TON)."""


def signing_key(seed: str) -> SigningKey:
    """A deterministic ed25519 key for a test proxy (never for real money)."""
    return SigningKey(hashlib.sha256(seed.encode()).digest())


@cache
def worker_code() -> Cell:
    return compile_contract(COCOON_FIXTURES / "CocoonWorker.tolk").code


@cache
def proxy_code() -> Cell:
    return compile_contract(COCOON_FIXTURES / "CocoonProxy.tolk").code


@cache
def node_wallet_code() -> Cell:
    return compile_contract(COCOON_FIXTURES / "CocoonNodeWallet.tolk").code


@dataclass(frozen=True, kw_only=True)
class PayoutPayload(TlbStruct):
    """``payout_payload#a040ad28 query_id:uint64 new_tokens:uint64
    expected_my_address:MsgAddressInt`` (the cell the proxy signs)."""

    PREFIX: ClassVar[int | None] = 0xA040AD28
    query_id: int = u(64)
    new_tokens: int = u(64)
    expected_my_address: Address = addr()


@dataclass(frozen=True, kw_only=True)
class ExtWorkerPayoutRequestSigned(TlbStruct):
    """``ext_worker_payout_request_signed#a040ad28 query_id:uint64
    send_excesses_to:MsgAddressInt signature:bits512 payload:^PayoutPayload``."""

    PREFIX: ClassVar[int | None] = 0xA040AD28
    query_id: int = u(64)
    send_excesses_to: Address = addr()
    signature: bytes = tl(Bits(512))
    payload: PayoutPayload = tl(Ref(PayoutPayload))


@dataclass(frozen=True, kw_only=True)
class WorkerProxyRequest(TlbStruct):
    """``worker_proxy_request#4d725d2c query_id:uint64 owner_address:MsgAddressInt
    state:uint2 tokens:uint64 payload:(Maybe ^Cell)``."""

    PREFIX: ClassVar[int | None] = 0x4D725D2C
    query_id: int = u(64)
    owner_address: Address = addr()
    state: int = u(2)
    tokens: int = u(64)
    payload: Cell | None = tl(RawCell(optional=True))


@dataclass(frozen=True, kw_only=True)
class WorkerStorage(TlbStruct):
    owner_address: Address = addr()
    proxy_address: Address = addr()
    state: int = u(2, 0)
    registrations: int = u(32, 0)


@dataclass(frozen=True, kw_only=True)
class NodeWalletStorage(TlbStruct):
    """A Cocoon node wallet's initial data: ``seqno:int32 subwallet:int32 public_key:bits256
    status:uint32 owner_address:MsgAddressInt`` (seqno, subwallet and status start at 0)."""

    seqno: int = u(32, 0)
    subwallet_id: int = u(32, 0)
    public_key: int = u(256)
    status: int = u(32, 0)
    owner_address: Address = addr()


def node_wallet_address(owner: Address, public_key: int) -> Address:
    """Where a node's wallet lives: it depends on the node's key, not only on the owner."""
    data = NodeWalletStorage(public_key=public_key, owner_address=owner).to_cell()
    return contract_address(node_wallet_code(), data)


def deploy_node_wallet(
    chain: EmulatedChain, owner: Address, funder: Wallet, balance: int, *, seed: str
) -> Address:
    """Deploy a node wallet owned by ``owner`` holding ``balance`` (the node's gas money),
    its key derived from ``seed``."""
    public_key = int.from_bytes(bytes(signing_key(seed).verify_key), "big")
    data = NodeWalletStorage(public_key=public_key, owner_address=owner).to_cell()
    wallet, trace = chain.deploy(node_wallet_code(), data, balance, funder)
    trace.assert_success()
    return wallet


def node_wallet_owner(chain: EmulatedChain, wallet: Address) -> Address | None:
    return chain.run_get_method(wallet, "ownerAddress").address_at(0)


def owner_wallet_send_message(trace: Trace, wallet: Address) -> CocoonOwnerWalletSendMessage:
    """The owner_wallet_send_message the node wallet received in ``trace``."""
    tx = trace.find(wallet, CocoonOwnerWalletSendMessage.PREFIX)
    assert tx.in_message is not None
    return CocoonOwnerWalletSendMessage.from_cell(tx.in_message.body)


@dataclass(frozen=True, kw_only=True)
class ProxyStorage(TlbStruct):
    public_key: int = u(256)
    worker_fee_per_token: int = coins()
    paid_tokens: Cell | None = tl(EmptyDict(), None)


@dataclass
class CocoonDoubles:
    """One proxy double (with its signing key) and the workers deployed against it."""

    chain: EmulatedChain
    proxy: Address
    key: SigningKey
    fee_per_token: int

    @classmethod
    def deploy(
        cls,
        chain: EmulatedChain,
        funder: Wallet,
        *,
        fee_per_token: int = ton("0.001"),
        balance: int = ton(1_000),
        seed: str = "cocoon-proxy-key",
    ) -> CocoonDoubles:
        key = signing_key(seed)
        data = ProxyStorage(
            public_key=int.from_bytes(bytes(key.verify_key), "big"),
            worker_fee_per_token=fee_per_token,
        ).to_cell()
        proxy, trace = chain.deploy(proxy_code(), data, balance, funder)
        trace.assert_success()
        return cls(chain=chain, proxy=proxy, key=key, fee_per_token=fee_per_token)

    def worker_address(self, owner: Address) -> Address:
        return contract_address(worker_code(), self._worker_data(owner))

    def _worker_data(self, owner: Address) -> Cell:
        return WorkerStorage(owner_address=owner, proxy_address=self.proxy).to_cell()

    def deploy_worker(self, owner: Address, funder: Wallet) -> Address:
        """Anyone may deploy a worker: its owner is fixed in the initial data."""
        worker, trace = self.chain.deploy(
            worker_code(), self._worker_data(owner), ton("0.05"), funder
        )
        trace.assert_success()
        return worker

    def signed_request(
        self, worker: Address, new_tokens: int, send_excesses_to: Address, query_id: int = 7
    ) -> ExtWorkerPayoutRequestSigned:
        payload = PayoutPayload(
            query_id=query_id, new_tokens=new_tokens, expected_my_address=worker
        )
        signature = bytes(self.key.sign(payload.to_cell().hash).signature)
        return ExtWorkerPayoutRequestSigned(
            query_id=query_id,
            send_excesses_to=send_excesses_to,
            signature=signature,
            payload=payload,
        )

    def relay(
        self,
        relayer: Wallet,
        worker: Address,
        new_tokens: int,
        *,
        value: int = RELAY_VALUE,
        send_excesses_to: Address | None = None,
        request: ExtWorkerPayoutRequestSigned | None = None,
    ) -> Trace:
        """Relay a proxy-signed payout request to the worker, as any wallet may."""
        if request is None:
            excesses_to = relayer.address if send_excesses_to is None else send_excesses_to
            request = self.signed_request(worker, new_tokens, excesses_to)
        return relayer.send(worker, value, request.to_cell())

    def paid_tokens(self, worker: Address) -> int:
        return self.chain.run_get_method(self.proxy, "paidTokens", [worker]).int_at(0)

    def registrations(self, worker: Address) -> int:
        return self.chain.run_get_method(worker, "workerData").int_at(3)
