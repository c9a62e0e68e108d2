"""The chain back end for real networks (testnet, mainnet, the local devnet), via tonutils.

It offers the same calls the pool facade uses on the embedded chain — get-methods, account
states, wallets that send and return the whole trace they caused — so ``Pool`` works on either.
tonutils' client is asynchronous; one background event loop runs it, and each call here waits
for its result, because the rest of the package (CLI, keeper, tests) is synchronous.

A trace is followed the way an explorer follows it: the wallet's new external-in transaction,
then, for every internal message a transaction sent, the destination's transaction whose inbound
message has that sender and creation lt, until no message is left in flight.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

from ton_core import (
    Address,
    Cell,
    NetworkGlobalID,
    Slice,
    StateInit,
    WalletV4Params,
    WalletV5Params,
    begin_cell,
)
from tonutils.clients import ToncenterClient
from tonutils.contracts import WalletV4R2, WalletV5R1

from cocoon_pool.chain.decode import transaction_from_boc
from cocoon_pool.chain.protocol import SendingWallet, deploy_from
from cocoon_pool.chain.types import (
    AccountState,
    AddressLike,
    GetResult,
    StackValue,
    Trace,
    Transaction,
    cell_to_b64,
    raw_address,
)
from cocoon_pool.errors import ChainError, GetMethodError

T = TypeVar("T")

# How long a signed transfer stays valid (the wallet refuses it later): tonutils' own default.
TRANSFER_VALID_FOR = 60
# tonutils pages the history 100 at a time until it reaches the lower bound or this many.
ALL = 10**9


class NetworkChain:
    """A TON network reached over a toncenter v2 API at ``endpoint``."""

    def __init__(
        self,
        endpoint: str,
        *,
        api_key: str | None = None,
        poll_interval: float = 1.0,
        trace_timeout: float = 120.0,
        clock_offset: int = 0,
        testnet: bool = False,
    ) -> None:
        self.endpoint = endpoint
        # Seconds the network's clock runs ahead of this machine's: 0 on real networks; a
        # devnet moved forward (/devnet/advance) rejects transfers that expire by wall time.
        self.clock_offset = clock_offset
        self.poll_interval = poll_interval
        self.trace_timeout = trace_timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        # The network id picks the wallet v5 subwallet id (it names the network) and the
        # signature domain (empty on both L1 networks). A devnet runs mainnet's config.
        network = NetworkGlobalID.TESTNET if testnet else NetworkGlobalID.MAINNET
        self._client = ToncenterClient(network, api_key=api_key, base_url=endpoint, rps_limit=1000)
        self._run(self._client.connect())
        self._global_id: int | None = None

    def close(self) -> None:
        self._run(self._client.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def __enter__(self) -> NetworkChain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, work: Awaitable[T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(_as_coroutine(work), self._loop)
        try:
            return future.result(timeout=self.trace_timeout)
        except ChainError:
            raise
        except Exception as exc:
            raise ChainError(
                f"the network API at {self.endpoint} failed: {exc}",
                hint="check the endpoint, the API key and the network connection",
            ) from exc

    # -- reads ------------------------------------------------------------------------------

    @property
    def global_id(self) -> int:
        """The network's global id (config param 19), read once."""
        if self._global_id is None:
            config: dict[int, Any] = self._run(self._client.get_config())
            param = config.get(19)
            value = (
                param.load_int(32)
                if isinstance(param, Slice)
                else getattr(param, "global_id", param)
            )
            if not isinstance(value, int):
                raise ChainError(
                    "the network's config has no global id (param 19)",
                    hint="is the endpoint a TON HTTP API (toncenter v2)?",
                )
            self._global_id = value
        return self._global_id

    def get_state(self, address: AddressLike) -> AccountState:
        raw = raw_address(address)
        info = self._run(self._client.get_info(raw))
        code = Cell.one_from_boc(info.code_raw) if info.code_raw else None
        data = Cell.one_from_boc(info.data_raw) if info.data_raw else None
        return AccountState(raw, info.state.value, int(info.balance), code, data, 0)

    def get_balance(self, address: AddressLike) -> int:
        return self.get_state(address).balance

    def run_get_method(
        self,
        address: AddressLike,
        method: str | int,
        stack: Sequence[StackValue | bool] = (),
        *,
        check: bool = True,
    ) -> GetResult:
        args = [_stack_arg(v) for v in stack]
        try:
            result = self._run(self._client.run_get_method(raw_address(address), str(method), args))
        except ChainError as exc:
            raise GetMethodError(
                f"get-method {method!r} on {raw_address(address)} failed: {exc.message}",
                hint="is the contract deployed, and is this its get-method?",
            ) from exc
        return GetResult(method=method, exit_code=0, gas_used=0, stack=_stack_values(result))

    def transactions(
        self, address: AddressLike, after_lt: int = 0, limit: int | None = None
    ) -> list[Transaction]:
        """The account's transactions after ``after_lt``, oldest first (at most ``limit``).

        The API pages from the newest down, so every transaction after ``after_lt`` is read
        and the oldest ``limit`` are kept: a caller that walks forward from a cursor never
        skips one."""
        raw = raw_address(address)
        found = self._run(self._client.get_transactions(raw, limit=ALL, to_lt=after_lt or None))
        decoded = sorted(
            (transaction_from_boc(cell_to_b64(tx.cell)) for tx in found), key=lambda tx: tx.lt
        )
        return decoded if limit is None else decoded[:limit]

    def last_lt(self, address: AddressLike) -> int:
        info = self._run(self._client.get_info(raw_address(address)))
        return int(info.last_transaction_lt or 0)

    # -- writes -----------------------------------------------------------------------------

    def wallet(
        self, mnemonic: Sequence[str], name: str = "wallet", version: str = "v4r2"
    ) -> NetworkWallet:
        """The ``version`` (v4r2 or v5r1) wallet of ``mnemonic``; deployed by its first
        transfer if it is not yet."""
        return NetworkWallet(self, list(mnemonic), name, version)

    def deploy(
        self,
        code: Cell,
        data: Cell,
        value: int,
        from_wallet: SendingWallet,
        *,
        body: Cell | None = None,
        bounce: bool = False,
    ) -> tuple[Address, Trace]:
        return deploy_from(from_wallet, code, data, value, body=body, bounce=bounce)

    def follow(self, first: Transaction) -> Trace:
        """Every transaction the messages of ``first`` caused, breadth first."""
        txs = [first]
        pending = deque((out.dest_raw, out.src, out.created_lt) for out in first.internal_out)
        deadline = time.monotonic() + self.trace_timeout
        while pending:
            dest, src, created_lt = pending.popleft()
            assert dest is not None
            tx = self.await_transaction(
                dest,
                created_lt,
                _delivery_of(raw_address(src) if src else None, created_lt),
                deadline=deadline,
                what=f"a message to {dest} (lt {created_lt}) was not delivered",
                hint="the network may be slow: look the account up in an explorer",
            )
            txs.append(tx)
            pending.extend((o.dest_raw, o.src, o.created_lt) for o in tx.internal_out)
        return Trace(tuple(txs))

    def await_transaction(
        self,
        address: AddressLike,
        after_lt: int,
        matches: Callable[[Transaction], bool],
        *,
        deadline: float,
        what: str,
        hint: str,
    ) -> Transaction:
        """The first transaction of ``address`` after ``after_lt`` that ``matches``, polled
        until ``deadline``; ChainError saying ``what`` did not happen after that."""
        while True:
            for tx in self.transactions(address, after_lt=after_lt):
                if matches(tx):
                    return tx
            if time.monotonic() > deadline:
                raise ChainError(f"{what} in {self.trace_timeout:.0f} s", hint=hint)
            time.sleep(self.poll_interval)


WALLET_VERSIONS = ("v4r2", "v5r1")


class NetworkWallet:
    """A wallet v4r2 or v5r1 on a network, sending like the embedded chain's wallets do."""

    def __init__(
        self, chain: NetworkChain, mnemonic: list[str], name: str, version: str = "v4r2"
    ) -> None:
        if version not in WALLET_VERSIONS:
            raise ChainError(
                f"unknown wallet version {version!r}", hint="use v4r2 or v5r1 (tonutils' names)"
            )
        self.chain = chain
        self.name = name
        self.version = version
        wallet: WalletV4R2 | WalletV5R1
        if version == "v5r1":
            wallet, _, _, _ = WalletV5R1.from_mnemonic(chain._client, mnemonic)
        else:
            wallet, _, _, _ = WalletV4R2.from_mnemonic(chain._client, mnemonic)
        self._wallet = wallet
        self.address: Address = wallet.address

    @property
    def balance(self) -> int:
        return self.chain.get_balance(self.address)

    def send(
        self,
        to: AddressLike,
        value: int,
        body: Cell | None = None,
        *,
        bounce: bool = True,
        state_init: tuple[Cell, Cell] | None = None,
    ) -> Trace:
        """Sign and send one transfer, then wait for the whole trace it causes."""
        before = self.chain.last_lt(self.address)
        init = StateInit(code=state_init[0], data=state_init[1]) if state_init else None
        dest = to if isinstance(to, Address) else Address(to)

        valid_until = int(time.time()) + self.chain.clock_offset + TRANSFER_VALID_FOR
        params = (
            WalletV5Params(valid_until=valid_until)
            if self.version == "v5r1"
            else WalletV4Params(valid_until=valid_until)
        )

        async def transfer() -> None:
            await self._wallet.refresh()
            await self._wallet.transfer(
                dest,
                value,
                body=body,
                state_init=init,
                bounce=bounce,
                params=params,  # type: ignore[arg-type]
            )

        self.chain._run(transfer())
        taken = self.chain.await_transaction(
            self.address,
            before,
            lambda tx: tx.in_message is not None and tx.in_message.kind == "external-in",
            deadline=time.monotonic() + self.chain.trace_timeout,
            what=f"the wallet {self.address.to_str()} did not take the transfer",
            hint="check the wallet's balance and seqno in an explorer",
        )
        return self.chain.follow(taken)


def _delivery_of(sender: str | None, created_lt: int) -> Callable[[Transaction], bool]:
    """A message is named by its sender and the lt at which the sender created it."""

    def delivered(tx: Transaction) -> bool:
        msg = tx.in_message
        return (
            msg is not None
            and msg.kind == "internal"
            and msg.src is not None
            and raw_address(msg.src) == sender
            and msg.created_lt == created_lt
        )

    return delivered


async def _as_coroutine(work: Awaitable[T]) -> T:
    return await work


def _stack_arg(value: StackValue | bool) -> Any:
    if isinstance(value, bool):
        return -1 if value else 0
    if isinstance(value, list):
        return [_stack_arg(v) for v in value]
    return value


def _stack_values(items: list[Any]) -> list[StackValue]:
    out: list[StackValue] = []
    for item in items:
        if isinstance(item, list):
            out.append(_stack_values(item))
        elif isinstance(item, Address):
            # tonutils turns address-shaped cells into Address; the views read slices.
            out.append(begin_cell().store_address(item).end_cell().begin_parse())
        elif isinstance(item, int | Cell | Slice) or item is None:
            out.append(item)
        else:
            raise GetMethodError(f"unexpected stack item {item!r}", hint="report this as a bug")
    return out
