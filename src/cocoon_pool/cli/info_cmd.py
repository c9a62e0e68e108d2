"""`cocoon-pool info`: a pool's addresses and settings, derived without touching a chain."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from ton_core import Address

from cocoon_pool.cli.output import console, error_console, print_json, report_error, tons
from cocoon_pool.contracts.addresses import (
    PoolAddresses,
    check_params,
    derive_pool_addresses,
    friendly,
    parse_address,
    raw,
)
from cocoon_pool.contracts.constants import ton
from cocoon_pool.contracts.pool import DAY, PoolParams
from cocoon_pool.errors import CocoonPoolError, UsageError

if TYPE_CHECKING:
    from cocoon_pool.pool_config import KnownAddresses

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


# Options that describe the pool: with --config the file describes it, so these are refused
# rather than silently overriding (or being overridden by) the file.
_POOL_OPTIONS = (
    "admin",
    "oracle_key",
    "extra_oracle_key",
    "oracle_quorum",
    "pauser",
    "pool_id",
    "commission_bps",
    "min_stake",
    "epoch_days",
    "report_grace_hours",
    "timelock_hours",
    "unbonding_days",
    "min_payout",
    "network",
)


@dataclass(frozen=True)
class _Plan:
    admin: Address
    pauser: Address | None
    params: PoolParams
    network: str
    """As the user named it (``local`` too); addresses are printed in ``address_network``."""
    address_network: str
    known: KnownAddresses | None = None


def _given_pool_options(ctx: typer.Context) -> list[str]:
    given = []
    for param in ctx.command.params:
        if param.name in _POOL_OPTIONS:
            source = ctx.get_parameter_source(param.name)
            if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP"):
                given.append(param.opts[0])
    return given


def _plan_from_file(path: Path, ctx: typer.Context) -> _Plan:
    mixed = _given_pool_options(ctx)
    if mixed:
        raise UsageError(
            f"--config cannot be combined with {', '.join(mixed)}",
            hint=f"the pool is described by {path.name}: change it there, or drop --config",
        )
    # Imported here: pydantic would add to every other command's start-up.
    from cocoon_pool.pool_config import load_pool_file  # noqa: PLC0415

    pool_file = load_pool_file(path)
    return _Plan(
        admin=pool_file.admin,
        pauser=pool_file.pauser,
        params=pool_file.params(),
        network=pool_file.network,
        address_network=pool_file.address_network,
        known=pool_file.addresses,
    )


def _warn_if_deployed_elsewhere(plan: _Plan, addresses: PoolAddresses) -> None:
    """The file's [addresses] are the deployed pool; a timelocked change of parameters
    moves the derived ones, and then the derived worker owner is not the pool's."""
    if plan.known is None:
        return
    for name in ("operator", "registry", "distribution"):
        known: Address | None = getattr(plan.known, name)
        derived: Address = getattr(addresses, name)
        if known is not None and known != derived:
            _say(
                f"warning: [addresses] {name} is {friendly(known, plan.address_network)}, but "
                f"the admin and [pool] give {friendly(derived, plan.address_network)}: the "
                "parameters changed after deploy, or the file is wrong"
            )


def info(  # noqa: PLR0917 (a Typer command takes one parameter per option)
    ctx: typer.Context,
    admin: Annotated[str | None, typer.Option(help="Admin wallet that deploys the pool.")] = None,
    oracle_key: Annotated[
        str | None,
        typer.Option(help="Oracle ed25519 public key (key 0 of the set), 64 hex digits."),
    ] = None,
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
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Read the pool from this pool.toml instead of the options above "
            "(which may then not be given).",
        ),
    ] = None,
    member: Annotated[
        str | None, typer.Option(help="Also show this member's Participant contract.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """The pool's addresses (operator, registry, distribution) and the worker owner address.

    Addresses follow from the admin and the parameters alone, so they can be published
    before the pool is deployed; run it again with the same options (or the same
    --config pool.toml) to check them.
    """
    try:
        if config is not None:
            plan = _plan_from_file(config, ctx)
        else:
            if admin is None or oracle_key is None:
                missing = "--admin" if admin is None else "--oracle-key"
                raise UsageError(
                    f"missing option {missing}",
                    hint="give --admin and --oracle-key, or --config pool.toml",
                )
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
            plan = _Plan(
                admin=parse_address(admin, "admin"),
                pauser=parse_address(pauser, "pauser") if pauser else None,
                params=params,
                network=network,
                address_network=network,
            )
        _show(plan, member, as_json)
    except CocoonPoolError as exc:
        # Here and not only in `main`: the command is also run directly (CliRunner), and a
        # bad option or config must never end in a traceback there either.
        raise typer.Exit(report_error(exc)) from None


def _show(plan: _Plan, member: str | None, as_json: bool) -> None:
    params, network = plan.params, plan.address_network
    addresses = derive_pool_addresses(plan.admin, params, plan.pauser)
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
    _warn_if_deployed_elsewhere(plan, addresses)
    if as_json:
        print_json(
            {
                "network": plan.network,
                "worker_owner_address": owner,
                "contracts": contracts,
                "settings": settings,
            }
        )
        return
    table = Table(title=f"pool {params.pool_id} on {plan.network}")
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
        f"{tons(params.min_stake)} TON, epochs of {params.epoch_length / DAY:g} days, "
        f"reports within {params.report_grace / HOUR:g} h, payouts from "
        f"{tons(params.min_payout)} TON, unbonding {params.unbonding_seconds / DAY:g} days, "
        f"changes delayed {params.timelock_seconds / HOUR:g} h, reports signed by "
        f"{params.oracle_quorum} of {len(params.oracle_keys)} oracle key(s)"
    )


def _say(line: str) -> None:
    error_console.print(line, highlight=False, markup=False, soft_wrap=True)
