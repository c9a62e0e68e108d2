"""A member's pool operations as plain transfers any TON wallet can send.

Each operation is one internal message: a destination (the registry, or the member's own
Participant contract), a value (the contracts' fee figures from contracts/fees.tolk, so it is
always what the facade :class:`cocoon_pool.contracts.pool.Pool` attaches) and a body cell.
Wallet apps accept such a message as a ``ton://transfer`` deep link whose ``bin`` parameter is
the body as a URL-safe base64 BOC, so a member needs no custom app to join or leave.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from ton_core import Address, Cell

from cocoon_pool.contracts import messages as m
from cocoon_pool.contracts import storage as st
from cocoon_pool.contracts.addresses import derive_pool_addresses, friendly, raw
from cocoon_pool.contracts.codec import TlbStruct
from cocoon_pool.contracts.constants import fee
from cocoon_pool.contracts.exit_codes import describe
from cocoon_pool.contracts.pool import pool_codes
from cocoon_pool.errors import UsageError

if TYPE_CHECKING:
    from cocoon_pool.chain.types import Trace, Transaction
    from cocoon_pool.pool_config import PoolFile

TON_LINK = "ton://transfer/"
TONKEEPER_LINK = "https://app.tonkeeper.com/transfer/"
REFUSED = "A refused message comes back to you minus the network fees."


def ton_text(nanotons: int) -> str:
    """Exact TON amount without trailing zeros, e.g. ``10.15``."""
    text = format(Decimal(nanotons) / 10**9, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass(frozen=True)
class PoolTargets:
    """Where member messages go: the registry, and each member's Participant contract.

    Derived like the Pool facade derives them (from the operator), so a link built here goes
    exactly where ``Pool.register``/``Pool.bind_worker``... would send.
    """

    operator: Address
    registry: Address
    unbonding_seconds: int
    min_stake: int

    @classmethod
    def of(cls, pool_file: PoolFile) -> PoolTargets:
        params = pool_file.params()
        # [addresses] operator is the deployed pool: after a timelocked parameter change the
        # admin and [pool] no longer derive it, but its registry is still where members go.
        operator = pool_file.addresses.operator or (
            derive_pool_addresses(pool_file.admin, params, pool_file.pauser).operator
        )
        return cls(
            operator=operator,
            registry=st.registry_address(operator, pool_codes()),
            unbonding_seconds=params.unbonding_seconds,
            min_stake=params.min_stake,
        )

    def participant(self, member: Address) -> Address:
        return st.participant_address(pool_codes().participant_code, self.registry, member)


@dataclass(frozen=True)
class MemberMessage:
    """One member operation as a transfer: where, how much, and with which body."""

    action: str
    destination: Address
    amount: int
    body: Cell
    returns: str
    """What comes back to the member's wallet, in words."""

    def body_boc(self) -> bytes:
        return bytes(self.body.to_boc())

    def link(self, network: str, base: str = TON_LINK) -> str:
        return transfer_link(friendly(self.destination, network), self.amount, self.body, base)

    def to_json(self, network: str) -> dict[str, Any]:
        return {
            "action": self.action,
            "destination": friendly(self.destination, network),
            "destination_raw": raw(self.destination),
            "amount_nanoton": self.amount,
            "body_boc_base64": base64.b64encode(self.body_boc()).decode("ascii"),
            "link": self.link(network),
            "tonkeeper_link": self.link(network, TONKEEPER_LINK),
            "returns": self.returns,
        }


def transfer_link(destination: str, amount: int, body: Cell, base: str = TON_LINK) -> str:
    """``ton://transfer/<addr>?amount=<nanoton>&bin=<base64url BOC>`` (or the https form).

    The destination should be the bounceable form: wallets then send a bounceable message,
    so a refusal returns the value instead of leaving it on the contract.
    """
    payload = base64.urlsafe_b64encode(body.to_boc()).decode("ascii")
    # urlencode percent-escapes the base64 padding ('='), as the link format asks.
    return f"{base}{destination}?{urlencode({'amount': amount, 'bin': payload})}"


def parse_transfer_link(link: str) -> tuple[Address, int, Cell]:
    """Destination, amount and body of a transfer link (either form); the inverse of
    :func:`transfer_link`, for checking a link before trusting it."""
    parts = urlsplit(link)
    destination = parts.path.rstrip("/").rsplit("/", 1)[-1]
    query = parse_qs(parts.query)
    try:
        payload = query["bin"][-1]
        body = Cell.one_from_boc(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return Address(destination), int(query["amount"][-1]), body
    except Exception as exc:  # malformed links fail in several libraries' own exception types
        raise UsageError(
            f"not a transfer link with amount and bin: {link[:60]}",
            hint="use ton://transfer/<address>?amount=<nanoton>&bin=<base64url BOC>",
        ) from exc


# -- the six member operations, with the values the Pool facade attaches ------------------


def register(
    targets: PoolTargets,
    stake: int,
    query_id: int = 0,
    worker: Address | None = None,
    node_wallet: Address | None = None,
) -> MemberMessage:
    """Join with ``stake``; with ``worker`` (and ``node_wallet``) bound in the same message."""
    reserve, register_fee = fee("PARTICIPANT_STORAGE_RESERVE"), fee("REGISTER_FEE")
    binding = m.WorkerBinding.joining(worker, node_wallet)
    bound = "" if worker is None else "the worker (and node wallet) are bound to you for good; "
    return MemberMessage(
        action="register",
        destination=targets.registry,
        amount=stake + reserve + register_fee,
        body=m.RegisterParticipant(query_id=query_id, stake=stake, binding=binding).to_cell(),
        returns=(
            f"your Participant contract keeps the stake plus {ton_text(reserve)} TON for its "
            f"storage; {bound}what the {ton_text(register_fee)} TON fee does not spend comes "
            f"back as change. {REFUSED}"
        ),
    )


def _member_op(action: str, destination: Address, body: TlbStruct, back: str) -> MemberMessage:
    value = fee("MEMBER_OP_FEE")
    return MemberMessage(
        action=action,
        destination=destination,
        amount=value,
        body=body.to_cell(),
        returns=f"{back}what the {ton_text(value)} TON does not spend comes back. {REFUSED}",
    )


def bind(
    targets: PoolTargets,
    member: Address,
    worker: Address,
    node_wallet: Address | None = None,
    query_id: int = 0,
) -> MemberMessage:
    body = m.BindWorker(query_id=query_id, worker=worker, node_wallet=node_wallet)
    back = "the worker (and node wallet) are bound to you for good; "
    return _member_op("bind", targets.participant(member), body, back)


def claim(targets: PoolTargets, member: Address, epoch: int, query_id: int = 0) -> MemberMessage:
    body = m.ClaimRewards(query_id=query_id, epoch=epoch)
    back = f"your reward of epoch {epoch} (and any pending amount), and "
    return _member_op("claim", targets.participant(member), body, back)


def claim_pending(targets: PoolTargets, member: Address, query_id: int = 0) -> MemberMessage:
    body = m.ClaimPending(query_id=query_id)
    back = "your whole pending amount, and "
    return _member_op("claim-pending", targets.participant(member), body, back)


def unregister(targets: PoolTargets, member: Address, query_id: int = 0) -> MemberMessage:
    days = Decimal(targets.unbonding_seconds) / 86_400
    back = f"you stop earning from the next epoch and the {days:g}-day unbonding starts; "
    return _member_op(
        "unregister", targets.participant(member), m.RequestUnregister(query_id=query_id), back
    )


def withdraw(targets: PoolTargets, member: Address, query_id: int = 0) -> MemberMessage:
    back = "after the unbonding period, your whole stake and any pending amount, and "
    return _member_op(
        "withdraw", targets.participant(member), m.WithdrawStake(query_id=query_id), back
    )


# -- reading the outcome of a sent message ------------------------------------------------


def refusal(trace: Trace, wallet: Address) -> Transaction | None:
    """The first transaction of the trace that failed, other than on the sending wallet."""
    own = raw(wallet)
    return next((tx for tx in trace if tx.address_raw != own and not tx.success), None)


def refusal_reason(tx: Transaction, network: str) -> str:
    """The refusal by name, e.g. ``NOTHING_TO_CLAIM (310)``."""
    if tx.compute_skipped is not None:
        where = friendly(tx.address, network)
        if tx.compute_skipped == "no-state":
            # A member's Participant contract exists only once the registry deployed it.
            return f"no contract at {where} (not registered yet? register first)"
        return f"no code ran on {where} ({tx.compute_skipped})"
    if tx.exit_code not in (None, 0, 1):
        assert tx.exit_code is not None
        return describe(tx.exit_code)
    return f"action phase failed ({describe(tx.action_result_code or 0)})"
