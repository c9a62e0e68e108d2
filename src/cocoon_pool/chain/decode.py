"""A transaction's own bytes (block.tlb ``Transaction``) turned into :class:`Transaction`.

The embedded chain gets its summaries from the emulator (node/bridge.mjs); a network back end
only has the transaction BoC an API returns. This reads the same fields from the BoC in Python,
so both back ends hand the rest of the package the same type. The one thing a transaction does
not contain is the account's balance after it: ``balance_after`` is -1 here.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

from ton_core import Address, Cell, ExternalAddress
from ton_core import Transaction as TlbTransaction

from cocoon_pool.chain.types import InMessage, OutMessage, Transaction, cell_to_b64

UNKNOWN_BALANCE = -1

# block.tlb ComputeSkipReason, as the emulator names them.
_SKIP_REASONS = {"no_state": "no-state", "bad_state": "bad-state", "no_gas": "no-gas"}
# AccountStatus as the emulator names it.
_STATUSES = {"uninitialized": "uninit"}


def _op(body: Cell) -> int | None:
    s = body.begin_parse()
    return s.preload_uint(32) if s.remaining_bits >= 32 else None


def _address(value: Any) -> Address | None:
    return value if isinstance(value, Address) else None


def _raw(value: Any) -> str | None:
    """Raw ``0:<hex>`` for an internal address; the emulator's ``External<bits:value>`` text
    for an external one (an event's topic)."""
    if isinstance(value, Address):
        return value.to_str(is_user_friendly=False)
    if isinstance(value, ExternalAddress) and value.external_address is not None:
        return f"External<{value.len}:{value.external_address}>"
    return None


def _body(message: Any) -> Cell:
    body = message.body
    return body if isinstance(body, Cell) else body.to_cell()


def in_message(message: Any) -> InMessage:
    info = message.info
    body = _body(message)
    internal = type(info).__name__ == "InternalMsgInfo"
    return InMessage(
        kind="internal" if internal else "external-in",
        src=_address(getattr(info, "src", None)),
        value=int(info.value_coins) if internal else 0,
        bounce=bool(info.bounce) if internal else False,
        bounced=bool(info.bounced) if internal else False,
        op=_op(body),
        body_boc=cell_to_b64(body),
        created_lt=int(info.created_lt) if internal else 0,
    )


def out_message(message: Any) -> OutMessage:
    info = message.info
    body = _body(message)
    internal = type(info).__name__ == "InternalMsgInfo"
    kind: Literal["internal", "external-out"] = "internal" if internal else "external-out"
    return OutMessage(
        kind=kind,
        src=_address(info.src),
        dest_raw=_raw(info.dest),
        value=int(info.value_coins) if internal else 0,
        fwd_fee=int(info.fwd_fee) if internal else 0,
        bounce=bool(info.bounce) if internal else False,
        bounced=bool(info.bounced) if internal else False,
        has_state_init=message.init is not None,
        created_lt=int(info.created_lt),
        op=_op(body),
        boc=cell_to_b64(message.serialize()),
        body_boc=cell_to_b64(body),
    )


def transaction_from_boc(boc: str) -> Transaction:
    """Decode a base64 transaction BoC (as toncenter's ``getTransactions`` returns it)."""
    cell = Cell.one_from_boc(base64.b64decode(boc))
    # The TL-B objects are read by field name: their stubs type every variant as a union.
    tx: Any = TlbTransaction.deserialize(cell.begin_parse())
    d = tx.description
    compute = d.compute_ph
    vm = compute.type_ == "vm"
    action = d.action
    storage = d.storage_ph
    return Transaction(
        address_raw=f"0:{tx.account_addr_hex}",
        lt=tx.lt,
        now=tx.now,
        hash=cell.hash.hex(),
        in_message=in_message(tx.in_msg) if tx.in_msg is not None else None,
        compute_skipped=None if vm else _SKIP_REASONS.get(compute.reason.type_, "skipped"),
        compute_success=bool(compute.success) if vm else False,
        exit_code=compute.exit_code if vm else None,
        gas_used=compute.gas_used if vm else 0,
        vm_steps=compute.vm_steps if vm else 0,
        aborted=bool(d.aborted),
        destroyed=bool(d.destroyed),
        action_result_code=action.result_code if action is not None else None,
        total_actions=action.tot_actions if action is not None else 0,
        total_fees=tx.total_fees.grams,
        storage_fees=storage.storage_fees_collected if storage is not None else 0,
        compute_fees=compute.gas_fees if vm else 0,
        action_fees=(action.total_action_fees or 0) if action is not None else 0,
        fwd_fees=(action.total_fwd_fees or 0) if action is not None else 0,
        bounced=d.bounce is not None,
        orig_status=_STATUSES.get(tx.orig_status.type_, tx.orig_status.type_),
        end_status=_STATUSES.get(tx.end_status.type_, tx.end_status.type_),
        balance_after=UNKNOWN_BALANCE,
        out_messages=tuple(out_message(m) for m in tx.out_msgs),
        boc=boc,
    )
