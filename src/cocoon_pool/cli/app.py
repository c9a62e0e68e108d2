"""The `cocoon-pool` command."""

from __future__ import annotations

import sys
from importlib import metadata
from typing import Annotated

import typer

from cocoon_pool.cli.alerts_cmd import alerts_app
from cocoon_pool.cli.bench_cmd import bench_app
from cocoon_pool.cli.dashboard_cmd import dashboard
from cocoon_pool.cli.deploy_cmd import deploy_command
from cocoon_pool.cli.devnet_cmd import devnet
from cocoon_pool.cli.index_cmd import history, index
from cocoon_pool.cli.info_cmd import info
from cocoon_pool.cli.keeper_cmd import keeper_app
from cocoon_pool.cli.member_cmd import member_app
from cocoon_pool.cli.oracle_cmd import oracle_app
from cocoon_pool.cli.output import error_console, report_error
from cocoon_pool.cli.simulate_cmd import simulate
from cocoon_pool.cli.status_cmd import status
from cocoon_pool.cli.whatif_cmd import whatif
from cocoon_pool.contracts.build import shipped_tolk_version
from cocoon_pool.errors import CocoonPoolError

app = typer.Typer(
    name="cocoon-pool",
    help="Run a GPU pool on Cocoon: contracts, emulated chain, economics and tools.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def version_text() -> str:
    """``cocoon-pool <version> (contracts compiled with Tolk <version>)``."""
    try:
        version = metadata.version("cocoon-pool")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        from cocoon_pool import __version__  # noqa: PLC0415

        version = __version__
    return f"cocoon-pool {version} (contracts compiled with Tolk {shipped_tolk_version()})"


def _print_version(value: bool) -> None:
    if value:
        print(version_text())
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,  # runs before the subcommand is required, like --help
            help="Print the version (and the shipped contracts' Tolk version) and exit.",
        ),
    ] = False,
) -> None:
    """Run a GPU pool on Cocoon: contracts, emulated chain, economics and tools."""


app.command("simulate")(simulate)
app.command("info")(info)
app.command("devnet")(devnet)
app.command("deploy")(deploy_command)
app.command("status")(status)
app.add_typer(bench_app, name="bench")
app.add_typer(oracle_app, name="oracle")
app.add_typer(member_app, name="member")
app.add_typer(keeper_app, name="keeper")
app.add_typer(alerts_app, name="alerts")
app.command("index")(index)
app.command("history")(history)
app.command("dashboard")(dashboard)
app.command("whatif")(whatif)


def main(argv: list[str] | None = None) -> int:
    """Entry point: usage errors are one line with exit 2, our errors one line plus a hint."""
    try:
        result = app(args=argv, standalone_mode=False)
        if isinstance(result, int):
            return result
    except typer.Exit as done:
        return done.exit_code
    except typer.Abort:
        error_console.print("aborted")
        return 130
    except typer.TyperException as exc:
        # Typer's command-line errors (its vendored click's usage errors) are public only as
        # TyperException; the help shown for a bare sub-command is one of them, and not an error.
        text = exc.format_message()
        if type(exc).__name__ == "NoArgsIsHelpError":
            error_console.print(text, highlight=False, markup=False, soft_wrap=True)
            return 0
        error_console.print(f"error: {text}", highlight=False, markup=False, soft_wrap=True)
        return int(getattr(exc, "exit_code", 2))
    except CocoonPoolError as exc:
        return report_error(exc)
    return 0


def run() -> None:
    sys.exit(main())
