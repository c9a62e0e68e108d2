"""Where the indexer reads transactions from: a small protocol and the embedded chain.

The indexer only ever asks one question — "this contract's transactions after logical time
``after_lt``, oldest first" — so a network back end (a liteserver or an HTTP API client)
plugs in by implementing :class:`TransactionSource` and returning the same
:class:`~cocoon_pool.chain.types.Transaction` objects the emulator produces.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from cocoon_pool.chain.emulator import EmulatedChain
from cocoon_pool.chain.types import AddressLike, Transaction, raw_address
from cocoon_pool.errors import ChainError
from cocoon_pool.indexer.errors import IndexerSourceError, IndexerUsageError

if TYPE_CHECKING:
    from cocoon_pool.chain.network import NetworkChain

NETWORKS = ("mainnet", "testnet", "local", "embedded")
"""``local``: a local devnet; ``embedded``: the emulated chain in this process. Transactions
of these two exist on no public explorer."""
PUBLIC_NETWORKS = ("mainnet", "testnet")


@runtime_checkable
class TransactionSource(Protocol):
    """Read access to one network's transaction history."""

    @property
    def network(self) -> str:
        """One of :data:`NETWORKS`; decides the explorer links ``history`` prints."""
        ...

    def transactions(
        self, address: AddressLike, after_lt: int, limit: int | None = None
    ) -> Sequence[Transaction]:
        """The transactions of the account ``address`` with ``lt > after_lt``, in ascending
        lt, at most ``limit`` of them (None: all). Only that account's transactions."""
        ...


class EmulatedChainSource:
    """The history an :class:`EmulatedChain` keeps in ``chain.transactions``."""

    def __init__(self, chain: EmulatedChain) -> None:
        self.chain = chain

    @property
    def network(self) -> str:
        return "embedded"

    def transactions(
        self, address: AddressLike, after_lt: int, limit: int | None = None
    ) -> list[Transaction]:
        raw = raw_address(address)
        found = [tx for tx in self.chain.transactions if tx.address_raw == raw and tx.lt > after_lt]
        # The emulator appends in execution order, which is already ascending lt; sorting
        # keeps the contract of the protocol explicit rather than relying on that.
        found.sort(key=lambda tx: tx.lt)
        return found if limit is None else found[:limit]


class NetworkSource:
    """A network's history through the network back end (toncenter v2 via tonutils)."""

    def __init__(self, network: str, chain: NetworkChain) -> None:
        self._network = network
        self.chain = chain

    @property
    def network(self) -> str:
        return self._network

    def transactions(
        self, address: AddressLike, after_lt: int, limit: int | None = None
    ) -> list[Transaction]:
        return self.chain.transactions(address, after_lt, limit)


def network_source(network: str, endpoint: str | None, api_key: str | None = None) -> NetworkSource:
    """The source for mainnet, testnet or a local devnet, read over its TON HTTP API."""
    if network not in NETWORKS or network == "embedded":
        raise IndexerUsageError(
            f"cannot index network {network!r}", "use mainnet, testnet or local (a devnet)"
        )
    if endpoint is None:
        raise IndexerUsageError(
            f"no API endpoint for {network}",
            "pass --endpoint <toncenter v2 URL> (local: the URL `cocoon-pool devnet` prints)",
        )
    from cocoon_pool.chain.network import NetworkChain  # noqa: PLC0415 (tonutils: slow import)

    try:
        chain = NetworkChain(endpoint, api_key=api_key, testnet=network == "testnet")
        return NetworkSource(network, chain)
    except ChainError as exc:
        raise IndexerSourceError(exc.message, exc.hint) from exc
