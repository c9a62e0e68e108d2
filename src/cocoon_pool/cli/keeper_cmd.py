"""`cocoon-pool keeper run`: close epochs, relay the oracle's signed reports, finalize, and crank
every member's payout, on schedule and idempotently (docs/keeper.md)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cocoon_pool.cli.output import one_line_errors, print_json
from cocoon_pool.signals import on_stop_signals

if TYPE_CHECKING:
    from cocoon_pool.chain.network import NetworkChain
    from cocoon_pool.keeper.core import StepResult
    from cocoon_pool.pool_config import PoolFile

# The network back end (tonutils), SQLAlchemy and Alembic are imported inside the command:
# every other `cocoon-pool` command would otherwise pay for them at start-up.

keeper_app = typer.Typer(
    help="Close epochs, relay signed reports, finalize and pay every member, on schedule.",
    no_args_is_help=True,
)

DEFAULT_METRICS_PORT = 9108


@keeper_app.callback()
def _keeper() -> None:
    """Close epochs, relay signed reports, finalize and pay every member, on schedule."""
    # A callback keeps `run` a subcommand (Typer would otherwise fold a one-command app).


def _stop_on_signals(stop: threading.Event) -> AbstractContextManager[None]:
    """SIGINT/SIGTERM end the loop after the step in progress (its outcome is recorded)."""

    def handler(signum: int) -> None:
        import logging  # noqa: PLC0415

        from cocoon_pool.keeper.logs import LOGGER_NAME  # noqa: PLC0415

        logging.getLogger(LOGGER_NAME).info(
            "stopping after this step", extra={"event": "signal", "signal": signum}
        )
        stop.set()

    return on_stop_signals(handler)


def chain_clock(pool_file: PoolFile) -> Callable[[], int]:
    """The time the contracts will see. A local devnet's clock can run ahead of the wall clock
    (`POST /devnet/advance`), so it is read from the devnet; real networks follow the wall
    clock (their small lag is what --slack covers)."""
    if pool_file.network != "local" or pool_file.endpoint is None:
        return lambda: int(time.time())
    from cocoon_pool.devnet import devnet_now  # noqa: PLC0415

    endpoint = pool_file.endpoint

    def now() -> int:
        try:
            return devnet_now(endpoint)
        except (OSError, KeyError, TypeError, ValueError):
            return int(time.time())  # a local node that is not our devnet

    return now


def synced_clock(chain: NetworkChain, clock: Callable[[], int]) -> Callable[[], int]:
    """The keeper's clock, also telling the chain how far the network runs ahead of this
    machine, so the wallet's signed transfers expire by the network's time, not ours."""

    def now() -> int:
        value = clock()
        chain.clock_offset = max(value - int(time.time()), 0)
        return value

    return now


@keeper_app.command("run")
def run(
    *,
    config: Annotated[Path, typer.Option(help="The pool.toml of the pool to keep.")],
    oracle_db: Annotated[
        list[str],
        typer.Option(
            "--oracle-db",
            envvar="COCOON_ORACLE_DB",
            help="The oracle's database URL, where its signed reports are (read only); for a "
            "k-of-n oracle set, repeat it for each oracle: their signatures are combined.",
        ),
    ],
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            help="The keeper's own database URL (default: [database] url of pool.toml).",
        ),
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="One step, then exit.")] = False,
    interval: Annotated[
        float | None,
        typer.Option(min=0.1, help="Seconds between steps (default: [keeper] poll_interval)."),
    ] = None,
    metrics_port: Annotated[
        int,
        typer.Option(
            min=0, max=65535, help="Serve /metrics and /healthz on 127.0.0.1:<port> (0: any)."
        ),
    ] = DEFAULT_METRICS_PORT,
    no_metrics: Annotated[bool, typer.Option("--no-metrics", help="Serve no metrics.")] = False,
    settle_seconds: Annotated[
        float,
        typer.Option(
            min=0,
            help="How long a message that may have been sent can still land; a send whose "
            "outcome is unknown is not repeated before this.",
        ),
    ] = 180.0,
    backoff: Annotated[
        float, typer.Option(min=0, help="Seconds before retrying a failed action (doubles).")
    ] = 5.0,
    backoff_max: Annotated[float, typer.Option(min=0, help="Longest retry wait.")] = 900.0,
    slack: Annotated[
        int,
        typer.Option(min=0, help="Seconds added to every epoch and deadline time condition."),
    ] = 5,
    report_batch_size: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Most members' reports relayed in one SubmitReport message (at most the "
            "contract's MAX_REPORTS_PER_BATCH, 50). Default: 10 // the oracle quorum, the most "
            "whose signature checks stay cheap.",
        ),
    ] = None,
    log_json: Annotated[
        bool, typer.Option("--log-json", help="Logs as one JSON object per line (stderr).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Keep a pool: close due epochs, relay the oracle's reports, finalize, crank payouts."""
    from cocoon_pool.contracts.addresses import derive_pool_addresses  # noqa: PLC0415
    from cocoon_pool.contracts.pool import Pool  # noqa: PLC0415
    from cocoon_pool.keeper import logs  # noqa: PLC0415
    from cocoon_pool.keeper.core import Keeper, KeeperSettings, run_loop  # noqa: PLC0415
    from cocoon_pool.keeper.db import open_database  # noqa: PLC0415
    from cocoon_pool.keeper.errors import KeeperUsageError  # noqa: PLC0415
    from cocoon_pool.keeper.metrics import Metrics, serve_metrics  # noqa: PLC0415
    from cocoon_pool.keeper.reports import OracleReports, QuorumReports  # noqa: PLC0415
    from cocoon_pool.pool_config import load_pool_file  # noqa: PLC0415

    logs.configure(json_lines=log_json)
    import logging  # noqa: PLC0415

    log = logging.getLogger(logs.LOGGER_NAME)
    totals: dict[str, int] = {}
    last: StepResult | None = None
    with one_line_errors(), ExitStack() as stack:
        # First, so that a bad setting is refused before any connection is made.
        settings = KeeperSettings(
            settle_seconds=settle_seconds,
            backoff_base=backoff,
            backoff_max=backoff_max,
            slack_seconds=slack,
            report_batch_size=report_batch_size,
        )
        pool_file = load_pool_file(config)
        if pool_file.endpoint is None:
            raise KeeperUsageError(
                f"{config.name} names no API endpoint for the {pool_file.network} network",
                "set [api] endpoint (for local: start `cocoon-pool devnet` and use its URL)",
            )
        operator = (
            pool_file.addresses.operator
            or derive_pool_addresses(pool_file.admin, pool_file.params(), pool_file.pauser).operator
        )
        words = pool_file.mnemonic().get_secret_value().split()
        chain = stack.enter_context(pool_file.network_chain(poll_interval=0.5))
        pool = Pool(chain, operator)
        known = pool_file.addresses.distribution
        if known is not None and known != pool.distribution:
            raise KeeperUsageError(
                f"addresses.distribution in {config.name} is not the operator's distribution",
                "fix [addresses] (or delete it: the addresses are derived from the roles)",
            )
        wallet = chain.wallet(words, "keeper", version=pool_file.wallet_version)
        sources = [OracleReports(url, pool.distribution) for url in oracle_db]
        quorum = pool.pool_info().oracle_quorum
        reports: OracleReports | QuorumReports = (
            sources[0] if len(sources) == 1 and quorum <= 1 else QuorumReports(sources, quorum)
        )
        stack.callback(reports.close)
        engine, sessions = open_database(database or pool_file.database_url)
        stack.callback(engine.dispose)
        metrics = Metrics()
        poll = interval if interval is not None else float(pool_file.keeper_poll_interval)
        if not no_metrics:
            # Healthy while steps keep finishing: a few missed intervals mean a stuck loop.
            url = stack.enter_context(
                serve_metrics(metrics, metrics_port, max_age=max(3 * poll, 60.0))
            )
            log.info("serving metrics", extra={"event": "metrics", "url": f"{url}/metrics"})
        keeper = Keeper(
            chain=chain,
            wallet=wallet,
            pool=pool,
            sessions=sessions,
            reports=reports,
            clock=synced_clock(chain, chain_clock(pool_file)),
            settings=settings,
            metrics=metrics,
        )
        log.info(
            "keeper started",
            extra={
                "event": "start",
                "network": pool_file.network,
                "distribution": pool.distribution.to_str(is_user_friendly=False),
                "wallet": wallet.address.to_str(is_user_friendly=False),
            },
        )

        def on_step(result: StepResult) -> None:
            for name, value in result.as_dict().items():
                totals[name] = totals.get(name, 0) + value
            log.info("step", extra={"event": "step", **result.as_dict()})

        stop = threading.Event()
        with _stop_on_signals(stop):
            last = run_loop(keeper, interval=poll, stop=stop, once=once, on_step=on_step)
    if as_json:
        print_json({"totals": totals, "last_step": last.as_dict() if last else None})
    else:
        print(" ".join(f"{k}={v}" for k, v in totals.items()))
    if once and last is not None and last.failures:
        raise typer.Exit(1)
