"""`cocoon-pool alerts run|once|test`: worker outages, tier drops, payouts, parameter changes
and keeper failures to Telegram and a webhook (docs/alerts.md)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from cocoon_pool.cli.output import console, error_console, one_line_errors, print_json
from cocoon_pool.signals import on_stop_signals

if TYPE_CHECKING:
    from cocoon_pool.alerts.service import AlertService, RoundResult

# SQLAlchemy, Alembic and python-telegram-bot load inside the commands: every other
# `cocoon-pool` command would otherwise pay for them at start-up.

alerts_app = typer.Typer(
    help="Alerts to Telegram and a webhook: outages, tier drops, payouts, changes, keeper.",
    no_args_is_help=True,
)

ConfigOption = Annotated[
    Path, typer.Option("--config", help="The pool.toml with an [alerts] table.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


@alerts_app.callback()
def _alerts() -> None:
    """Alerts to Telegram and a webhook: outages, tier drops, payouts, changes, keeper."""


def _service(config: Path) -> AlertService:
    from cocoon_pool.alerts.config import alerts_settings  # noqa: PLC0415
    from cocoon_pool.alerts.service import AlertService  # noqa: PLC0415
    from cocoon_pool.pool_config import load_pool_file  # noqa: PLC0415

    return AlertService(alerts_settings(load_pool_file(config)))


def _print_round(result: RoundResult) -> None:
    for alert in result.found:
        console.print(f"[bold]{alert.severity:>8}[/] {alert.kind}: {alert.title}", highlight=False)
    for name in result.waiting:
        error_console.print(f"note: the {name} database has no tables yet", highlight=False)
    for sink, error in result.failed.items():
        error_console.print(f"warning: {sink} failed, retried next round: {error}", markup=False)


@alerts_app.command("once")
def once(config: ConfigOption = Path("pool.toml"), as_json: JsonOption = False) -> None:
    """One round: find new alerts, store them, deliver everything pending. Exit 1 if a sink
    failed (its alerts stay pending)."""
    with one_line_errors(), _service(config) as service:
        result = service.run_once()
        described = service.settings.describe()
    if as_json:
        print_json({"config": described, **result.as_dict()})
    else:
        _print_round(result)
        console.print(
            f"found {len(result.found)}, sent {result.sent}, pending {result.pending}",
            highlight=False,
        )
    if result.failed:
        raise typer.Exit(1)


@alerts_app.command("run")
def run(
    config: ConfigOption = Path("pool.toml"),
    interval: Annotated[
        float | None,
        typer.Option(min=0.1, help="Seconds between rounds (default: [alerts] poll_interval)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Rounds on schedule until Ctrl-C or SIGTERM (the round in progress finishes)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    totals = {"rounds": 0, "found": 0, "sent": 0}
    stop = threading.Event()

    def on_round(result: RoundResult) -> None:
        totals["found"] += len(result.found)
        totals["sent"] += result.sent
        if not as_json:
            _print_round(result)

    with (
        one_line_errors(),
        _service(config) as service,
        on_stop_signals(lambda _signum: stop.set()),
    ):
        totals["rounds"] = service.run(stop, interval=interval, on_round=on_round)
    if as_json:
        print_json(totals)
    else:
        console.print(" ".join(f"{k}={v}" for k, v in totals.items()), highlight=False)


@alerts_app.command("test")
def test(config: ConfigOption = Path("pool.toml"), as_json: JsonOption = False) -> None:
    """Send one test alert to every configured sink. Exit 1 if one failed."""
    with one_line_errors(), _service(config) as service:
        outcome = service.send_test()
    if as_json:
        print_json({"sinks": {name: {"ok": e is None, "error": e} for name, e in outcome.items()}})
    else:
        table = Table("sink", "result")
        for name, error in outcome.items():
            table.add_row(name, "sent" if error is None else f"failed: {error}")
        console.print(table)
    if any(error is not None for error in outcome.values()):
        raise typer.Exit(1)
