"""`cocoon-pool info`: a pool's addresses and settings, derived without touching a chain."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from rich.table import Table
from ton_core import Address

from cocoon_pool.cli.output import console, print_json, tons
from cocoon_pool.contracts.addresses import (
    check_params,
    derive_pool_addresses,
    friendly,
    parse_address,
    raw,
)
from cocoon_pool.contracts.constants import ton
from cocoon_pool.contracts.pool import DAY, PoolParams
from cocoon_pool.errors import UsageError

# Option defaults are PoolParams' own, so the printed addresses match a default deploy.
_DEFAULTS = PoolParams(oracle_key=0)
HOUR = 3600


def _ton_text(nanotons: int) -> str:
    return format(Decimal(nanotons) / 10**9, "f")


def parse_ton(text: str, what: str) -> int:
    try:
        amount = Decimal(text)
        if amount < 0:
            raise InvalidOperation
        return ton(amount)
    except (InvalidOperation, ValueError) as exc:
        raise UsageError(
            f"{what} {text!r} is not a TON amount",
            hint="write it in TON with at most 9 decimals, e.g. 10 or 0.5",
        ) from exc


def parse_public_key(text: str) -> int:
    cleaned = text.strip().removeprefix("0x")
    if len(cleaned) != 64:
        raise UsageError(
            f"oracle key has {len(cleaned)} hex digits, not 64",
            hint="pass the oracle's ed25519 public key as 64 hex digits",
        )
    try:
        return int(cleaned, 16)
    except ValueError as exc:
        raise UsageError(
            "oracle key is not hexadecimal", hint="pass 64 hex digits (0-9, a-f)"
        ) from exc


def info(  # noqa: PLR0917 (a Typer command takes one parameter per option)
    admin: Annotated[str, typer.Option(help="Admin wallet that deploys the pool.")],
    oracle_key: Annotated[
        str, typer.Option(help="Oracle ed25519 public key (key 0 of the set), 64 hex digits.")
    ],
    extra_oracle_key: Annotated[
        list[str] | None,
        typer.Option(help="Further oracle keys (1, 2, ...), repeat the option for each."),
    ] = None,
    oracle_quorum: Annotated[
        int, typer.Option(help="How many distinct oracle keys must sign a report.")
    ] = 1,
    pauser: Annotated[str | None, typer.Option(help="Pauser wallet (default: admin).")] = None,
    pool_id: Annotated[int, typer.Option(help="Pool id, to run several pools.")] = 0,
    commission_bps: Annotated[
        int, typer.Option(help="Operator commission in basis points (500..1500).")
    ] = _DEFAULTS.commission_bps,
    min_stake: Annotated[str, typer.Option(help="Minimum member stake in TON.")] = _ton_text(
        _DEFAULTS.min_stake
    ),
    epoch_days: Annotated[int, typer.Option(help="Epoch length in days.")] = (
        _DEFAULTS.epoch_length // DAY
    ),
    report_grace_hours: Annotated[int, typer.Option(help="Report window after an epoch.")] = (
        _DEFAULTS.report_grace // HOUR
    ),
    timelock_hours: Annotated[int, typer.Option(help="Delay before changes apply.")] = (
        _DEFAULTS.timelock_seconds // HOUR
    ),
    unbonding_days: Annotated[int, typer.Option(help="Wait before stake is withdrawn.")] = (
        _DEFAULTS.unbonding_seconds // DAY
    ),
    min_payout: Annotated[str, typer.Option(help="Smallest automatic payout in TON.")] = (
        _ton_text(_DEFAULTS.min_payout)
    ),
    network: Annotated[str, typer.Option(help="mainnet or testnet (address format).")] = (
        "mainnet"
    ),
    member: Annotated[
        str | None, typer.Option(help="Also show this member's Participant contract.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """The pool's addresses (operator, registry, distribution) and the worker owner address.

    Addresses follow from the admin and the parameters alone, so they can be published
    before the pool is deployed; run it again with the same options to check them.
    """
    admin_address = parse_address(admin, "admin")
    params = PoolParams(
        oracle_key=parse_public_key(oracle_key),
        extra_oracle_keys=tuple(parse_public_key(k) for k in extra_oracle_key or ()),
        oracle_quorum=oracle_quorum,
        pool_id=pool_id,
        commission_bps=commission_bps,
        min_stake=parse_ton(min_stake, "minimum stake"),
        epoch_length=epoch_days * DAY,
        report_grace=report_grace_hours * HOUR,
        timelock_seconds=timelock_hours * HOUR,
        unbonding_seconds=unbonding_days * DAY,
        min_payout=parse_ton(min_payout, "minimum payout"),
    )
    check_params(params)
    pauser_address = parse_address(pauser, "pauser") if pauser else None
    addresses = derive_pool_addresses(admin_address, params, pauser_address)
    member_address = parse_address(member, "member") if member else None

    def both(address: Address) -> dict[str, str]:
        return {"raw": raw(address), "friendly": friendly(address, network)}

    contracts = {
        "operator": both(addresses.operator),
        "registry": both(addresses.registry),
        "distribution": both(addresses.distribution),
    }
    if member_address is not None:
        contracts["participant"] = both(addresses.participant(member_address))
    settings = {
        "commission_bps": params.commission_bps,
        "min_stake_nanoton": params.min_stake,
        "epoch_length_seconds": params.epoch_length,
        "report_grace_seconds": params.report_grace,
        "timelock_seconds": params.timelock_seconds,
        "unbonding_seconds": params.unbonding_seconds,
        "min_payout_nanoton": params.min_payout,
        "oracle_quorum": params.oracle_quorum,
        "oracle_keys": [format(key, "064x") for key in params.oracle_keys],
    }
    owner = friendly(addresses.worker_owner, network)
    if as_json:
        print_json(
            {
                "network": network,
                "worker_owner_address": owner,
                "contracts": contracts,
                "settings": settings,
            }
        )
        return
    table = Table(title=f"pool {pool_id} on {network}")
    table.add_column("contract")
    table.add_column("address (user-friendly)")
    table.add_column("raw")
    for name, forms in contracts.items():
        table.add_row(name, forms["friendly"], forms["raw"])
    console.print(table)
    console.print(
        f"worker owner_address: [bold]{owner}[/bold]\n"
        "  put this in every member's Cocoon worker config: Cocoon pays the owner, and "
        "the distribution contract turns that income into epoch rewards."
    )
    console.print(
        f"commission {params.commission_bps / 100:g}%, minimum stake "
        f"{tons(params.min_stake)} TON, epochs of {epoch_days} days, reports within "
        f"{report_grace_hours} h, payouts from {tons(params.min_payout)} TON, "
        f"unbonding {unbonding_days} days, changes delayed {timelock_hours} h, reports "
        f"signed by {params.oracle_quorum} of {len(params.oracle_keys)} oracle key(s)"
    )
