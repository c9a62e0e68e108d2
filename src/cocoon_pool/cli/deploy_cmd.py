"""`cocoon-pool deploy`: dry run, confirm, deploy, verify on chain, record."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.table import Table

from cocoon_pool.chain.types import raw_address
from cocoon_pool.cli.output import console, error_console, print_json
from cocoon_pool.contracts.addresses import friendly
from cocoon_pool.deploy import DeployReport, deploy, dry_run, write_record
from cocoon_pool.errors import ToolchainError, UsageError

NEXT_STEPS = (
    "next: put the worker owner_address above in every member's Cocoon worker config, "
    "members register and bind their worker, you verify them; run the keeper and the "
    "indexer (docs/operations.md: the testnet -> mainnet checklist and the gradual rollout)"
)


def _table(title: str, report: DeployReport, network: str) -> Table:
    table = Table(title=title)
    table.add_column("contract")
    table.add_column("address")
    table.add_column("balance (TON)", justify="right")
    table.add_column("code hash")
    for c in report.contracts:
        table.add_row(
            c.name, friendly(c.address, network), f"{c.balance / 1e9:,.9f}", c.code_hash[:16]
        )
    return table


def deploy_command(
    config: Annotated[Path, typer.Option(help="The pool.toml to deploy.")],
    network: Annotated[
        Literal["local", "testnet", "mainnet"] | None,
        typer.Option(help="Must match the file's network (a guard against the wrong file)."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Deploy to mainnet without asking.")] = False,
    only_dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Stop after the dry run on the embedded chain.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Deploy the pool of a pool.toml: dry run on the embedded chain, then the real deploy from
    the admin wallet (found already deployed: only verified), then every code hash and
    get-method checked and deployments/<network>.json written."""
    from cocoon_pool.pool_config import load_pool_file  # noqa: PLC0415

    pool_file = load_pool_file(config)
    if network is not None and network != pool_file.network:
        raise UsageError(
            f"--network {network} but {config.name} is for {pool_file.network}",
            hint="pass the config file of the network you mean",
        )
    shown = pool_file.address_network
    params = pool_file.params()
    rehearsal: DeployReport | None = None
    skipped: str | None = None
    try:
        rehearsal = dry_run(pool_file.admin, pool_file.pauser, params)
    except ToolchainError as exc:
        # The embedded chain needs Node and a checkout; an installed package deploys without
        # the rehearsal (the on-chain verification still runs) unless one was asked for.
        if only_dry_run:
            raise
        skipped = exc.message
        error_console.print(f"dry run skipped: {exc.message}", highlight=False)
    if rehearsal is not None and not as_json:
        console.print(_table("dry run on the embedded chain", rehearsal, shown))
        console.print(
            f"{len(rehearsal.trace or ())} transactions, fees {rehearsal.fees / 1e9:.6f} TON"
        )
    if only_dry_run:
        if as_json and rehearsal is not None:
            print_json({"dry_run": rehearsal.to_json(shown)})
        return
    if pool_file.endpoint is None:
        raise UsageError(
            f"{config.name} names no API endpoint for the {pool_file.network} network",
            hint="set [api] endpoint (for local: start `cocoon-pool devnet` and use its URL)",
        )
    if pool_file.network == "mainnet" and not yes:
        typer.confirm("Deploy this pool to MAINNET with real TON?", abort=True)
    with pool_file.network_chain() as chain:
        wallet = pool_file.signing_wallet(chain, "admin")
        if raw_address(wallet.address) != raw_address(pool_file.admin):
            raise UsageError(
                f"the mnemonic's wallet {friendly(wallet.address, shown)} is not the admin "
                f"{friendly(pool_file.admin, shown)} named in {config.name}",
                hint="use the admin wallet's mnemonic, or fix roles.admin",
            )
        report = deploy(chain, wallet, pool_file.network, pool_file.pauser, params)
    record = write_record(config, pool_file.network, report, params)
    if as_json:
        print_json(
            {
                "dry_run": None if rehearsal is None else rehearsal.to_json(shown),
                "dry_run_skipped": skipped,
                "deploy": report.to_json(shown),
                "record": str(record),
            }
        )
        return
    title = "already deployed: verified" if report.already_deployed else "deployed and verified"
    console.print(_table(f"{title} on {pool_file.network}", report, shown))
    if report.trace is not None:
        console.print(f"{len(report.trace)} transactions, fees {report.fees / 1e9:.6f} TON")
    console.print(f"{len(report.checks)} checks passed; recorded in {record}")
    owner = friendly(report.contracts[2].address, shown)
    console.print(f"worker owner_address: [bold]{owner}[/bold]")
    error_console.print(NEXT_STEPS)
