"""Building message cells (TL-B ``Message Any``) with ``ton_core``."""

from __future__ import annotations

from ton_core import (
    Address,
    Cell,
    CurrencyCollection,
    ExternalMsgInfo,
    InternalMsgInfo,
    MessageAny,
    StateInit,
    begin_cell,
)

EMPTY_CELL = begin_cell().end_cell()


def state_init_cell(code: Cell, data: Cell) -> Cell:
    return StateInit(code=code, data=data).serialize()


def contract_address(code: Cell, data: Cell, workchain: int = 0) -> Address:
    """The address of a contract deployed with this code and data (no split depth)."""
    return Address((workchain, state_init_cell(code, data).hash))


def internal_message(
    *,
    dest: Address,
    value: int,
    src: Address | None = None,
    body: Cell | None = None,
    bounce: bool = True,
    bounced: bool = False,
    state_init: tuple[Cell, Cell] | None = None,
    created_lt: int = 0,
    created_at: int = 0,
) -> Cell:
    """An internal message cell; ``src=None`` stores addr_none (what a wallet's TVM fills in).

    The body is stored inline when it fits, otherwise in a ref (as ``MessageAny`` decides).
    """
    if value < 0:
        raise ValueError("message value must be >= 0")
    info = InternalMsgInfo(
        ihr_disabled=True,
        bounce=bounce,
        bounced=bounced,
        src=src,
        dest=dest,
        value=CurrencyCollection(grams=value),
        ihr_fee=0,
        fwd_fee=0,
        created_lt=created_lt,
        created_at=created_at,
    )
    init = StateInit(code=state_init[0], data=state_init[1]) if state_init is not None else None
    return MessageAny(
        info=info, init=init, body=body if body is not None else EMPTY_CELL
    ).serialize()


def external_in_message(
    *, dest: Address, body: Cell | None = None, state_init: tuple[Cell, Cell] | None = None
) -> Cell:
    info = ExternalMsgInfo(src=None, dest=dest, import_fee=0)
    init = StateInit(code=state_init[0], data=state_init[1]) if state_init is not None else None
    return MessageAny(
        info=info, init=init, body=body if body is not None else EMPTY_CELL
    ).serialize()


def wallet_body(messages: list[tuple[Cell, int]]) -> Cell:
    """The body of an external message to the emulator's test wallet: (message, mode) pairs."""
    if not 1 <= len(messages) <= 4:
        raise ValueError("the test wallet sends 1..4 messages per external message")
    b = begin_cell()
    for msg, mode in messages:
        b.store_uint(mode, 8).store_ref(msg)
    return b.end_cell()
