"""What the pool facade needs from a chain, met by the embedded chain and by real networks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ton_core import Address, Cell

from cocoon_pool.chain.messages import contract_address
from cocoon_pool.chain.types import AccountState, AddressLike, GetResult, StackValue, Trace


class SendingWallet(Protocol):
    """A wallet that sends one internal message and returns the whole trace it caused."""

    @property
    def address(self) -> Address: ...

    def send(
        self,
        to: AddressLike,
        value: int,
        body: Cell | None = None,
        *,
        bounce: bool = True,
        state_init: tuple[Cell, Cell] | None = None,
    ) -> Trace: ...


class Chain(Protocol):
    @property
    def global_id(self) -> int: ...

    def run_get_method(
        self,
        address: AddressLike,
        method: str | int,
        stack: Sequence[StackValue | bool] = (),
        *,
        check: bool = True,
    ) -> GetResult: ...

    def get_balance(self, address: AddressLike) -> int: ...

    def get_state(self, address: AddressLike) -> AccountState: ...

    def deploy(
        self,
        code: Cell,
        data: Cell,
        value: int,
        from_wallet: SendingWallet,
        *,
        body: Cell | None = None,
        bounce: bool = False,
    ) -> tuple[Address, Trace]: ...


def deploy_from(
    wallet: SendingWallet,
    code: Cell,
    data: Cell,
    value: int,
    *,
    body: Cell | None = None,
    bounce: bool = False,
) -> tuple[Address, Trace]:
    """Deploy code + data (workchain 0) with a message from ``wallet``: how both back ends
    deploy, since the address follows from the state init alone."""
    address = contract_address(code, data)
    return address, wallet.send(address, value, body=body, bounce=bounce, state_init=(code, data))
