"""Pool events as database values: the typed columns and the JSON of every field."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ton_core import Address, Cell

from cocoon_pool.chain.types import cell_to_b64, raw_address
from cocoon_pool.contracts import events as ev

AMOUNT_FIELDS: dict[type[ev.Event], str] = {
    ev.MemberJoined: "stake",
    ev.MemberLeft: "stake",
    ev.RegistrationRefunded: "amount",
    ev.StakeWithdrawn: "amount",
    ev.PendingCredited: "pending",
    ev.PendingPaid: "amount",
    ev.RewardSettled: "payout",
    ev.CommissionCollected: "amount",
    ev.EpochClosed: "received",
    ev.EpochFinalized: "claimable",
    ev.EpochRetired: "dust",
    ev.OperatorStakeChanged: "operator_stake",
    ev.OwnerActionSent: "amount",
    ev.OwnerActionReturned: "returned",
}
"""Which field is an event's ``amount`` column; the others stay in ``fields``."""


def json_value(value: Any) -> Any:
    """A decoded field as JSON: raw address, base64 BOC for cells, ints and bools as is."""
    if isinstance(value, Address):
        return raw_address(value)
    if isinstance(value, Cell):
        return cell_to_b64(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    raise TypeError(f"cannot store an event field of type {type(value).__name__}")


@dataclass(frozen=True)
class EventRow:
    kind: str
    epoch: int | None
    member: str | None
    amount: int | None
    fields: dict[str, Any]


def event_row(event: ev.Event) -> EventRow:
    fields = {f.name: json_value(getattr(event, f.name)) for f in dataclasses.fields(event)}
    epoch = fields.get("epoch")
    member = fields.get("member")
    amount_field = AMOUNT_FIELDS.get(type(event))
    return EventRow(
        kind=event.event_name(),
        epoch=epoch if isinstance(epoch, int) else None,
        member=member if isinstance(member, str) else None,
        amount=fields[amount_field] if amount_field is not None else None,
        fields=fields,
    )
