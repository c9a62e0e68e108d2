"""`cocoon-pool oracle ...`: sample workers, run the daemon, sign epoch reports."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.logging import RichHandler
from rich.markup import escape
from rich.table import Table

from cocoon_pool.cli.output import console, error_console, one_line_errors, print_json

if TYPE_CHECKING:
    from cocoon_pool.oracle.config import OracleConfig
    from cocoon_pool.oracle.poller import PollResult
    from cocoon_pool.oracle.reports import StoredReport
    from cocoon_pool.oracle.service import PollRecord

# The oracle's modules (SQLAlchemy, Alembic, httpx) are imported inside the commands: they
# would add about 0.3 s to every other `cocoon-pool` command's start-up.
STATUS_CONFLICT = "conflict"

oracle_app = typer.Typer(
    help="The metrics oracle: poll workers, store samples, sign epoch reports.",
    no_args_is_help=True,
)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The oracle's TOML configuration file.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
ShardOption = Annotated[
    str | None,
    typer.Option(
        "--shard",
        metavar="I/N",
        help="Poll only shard I of N (0-based) of the members; N processes share one "
        "database, shard 0 signs the reports. See docs/oracle.md.",
    ),
]


def _tps(mtps: int | None) -> str:
    return "" if mtps is None else f"{mtps // 1000:,}.{mtps % 1000:03d}"


def _sample_json(r: PollResult) -> dict[str, Any]:
    s = r.stats
    return {
        "member": r.member.address,
        "name": r.member.name,
        "taken_at": r.taken_at,
        "up": r.ok,
        "reason": r.reason,
        "http_status": r.http_status,
        "latency_ms": r.latency_ms,
        "throughput_mtps": r.throughput_mtps,
        "tokens_total": s.tokens_total if s else None,
        "queries_total": s.queries_total if s else None,
        "earned_tokens": s.earned_tokens if s else None,
        "gpu_model": r.gpu_model,
        "gpu_utilization": r.health.gpu_utilization if r.health else None,
    }


def _poll_json(record: PollRecord) -> dict[str, Any]:
    v = record.verdict
    return {
        "id": record.poll_id,
        "taken_at": record.taken_at,
        "members": v.members,
        "down": v.down,
        "unreachable": v.unreachable,
        "discarded": v.discarded,
        "reason": v.reason,
        "duration_ms": record.duration_ms,
    }


def _print_samples(record: PollRecord) -> None:
    results = record.results
    table = Table(title=f"oracle samples at {record.taken_at}")
    table.add_column("member")
    table.add_column("state")
    table.add_column("reason")
    table.add_column("tokens/s", justify="right")
    table.add_column("GPU")
    for r in results:
        state = "[green]up[/green]" if r.ok else "[red]down[/red]"
        table.add_row(
            escape(r.member.label),
            state,
            escape(r.reason or ""),
            _tps(r.throughput_mtps),
            escape(r.gpu_model or ""),
        )
    console.print(table)
    down = record.verdict.down
    console.print(f"{len(results) - down} up, {down} down; samples stored")
    if record.discarded:
        console.print(
            f"[yellow]poll discarded[/yellow]: {escape(record.verdict.reason or '')}; "
            "its samples are stored but count for nobody"
        )


@oracle_app.command("sample")
def sample(config: ConfigOption, shard: ShardOption = None, as_json: JsonOption = False) -> None:
    """Poll every member (or one shard's) once now and store the samples."""
    from cocoon_pool.oracle import Oracle, load_config  # noqa: PLC0415
    from cocoon_pool.oracle.service import Shard  # noqa: PLC0415

    with one_line_errors():
        part = None if shard is None else Shard.parse(shard)
        cfg = load_config(config)
        with Oracle(cfg, shard=part) as oracle:
            record = oracle.poll()
    if as_json:
        print_json(
            {"poll": _poll_json(record), "samples": [_sample_json(r) for r in record.results]}
        )
    else:
        _print_samples(record)


@oracle_app.command("run")
def run(
    config: ConfigOption,
    once: Annotated[bool, typer.Option("--once", help="One poll (when due), then exit.")] = False,
    iterations: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many polls.")
    ] = None,
    shard: ShardOption = None,
    as_json: JsonOption = False,
) -> None:
    """Poll on schedule until Ctrl-C or SIGTERM (the current poll always finishes)."""
    from cocoon_pool.oracle import Oracle, StopFlag, load_config, stop_on_signals  # noqa: PLC0415
    from cocoon_pool.oracle.service import Shard  # noqa: PLC0415

    if not as_json:
        logging.basicConfig(
            level=logging.INFO,
            format="%(message)s",
            handlers=[RichHandler(console=error_console, show_path=False)],
        )
    stop = StopFlag()
    with one_line_errors():
        part = None if shard is None else Shard.parse(shard)
        cfg = load_config(config)
        with Oracle(cfg, shard=part) as oracle, stop_on_signals(stop):
            summary = oracle.run(stop, iterations=1 if once else iterations)
    if as_json:
        print_json(
            {
                "polls": summary.polls,
                "samples": summary.samples,
                "down": summary.down,
                "reports": summary.reports,
                "stopped": summary.stopped,
                "discarded_polls": summary.discarded,
            }
        )
    else:
        console.print(
            f"{summary.polls} polls ({summary.discarded} discarded), {summary.samples} samples "
            f"({summary.down} down), {summary.reports} new reports"
            + (" - stopped by signal" if summary.stopped else "")
        )


def _report_json(cfg: OracleConfig, r: StoredReport) -> dict[str, Any]:
    row = r.row
    return {
        "member": row.member,
        "name": next((m.name for m in cfg.members if m.address == row.member), None),
        "status": r.status,
        "running_seconds": row.running_seconds,
        "gpu_score": row.gpu_score,
        "uptime_bps": row.uptime_bps,
        "outages": row.outages,
        "expected_samples": row.expected_samples,
        "up_samples": row.up_samples,
        "discarded_slots": row.discarded_slots,
        "body_boc": row.body_boc,
        "body_hash": row.body_hash,
        "computed_now": {
            "running_seconds": r.result.metrics.running_seconds,
            "gpu_score": r.result.metrics.gpu_score,
            "uptime_bps": r.result.metrics.uptime_bps,
            "outages": r.result.metrics.outages,
        },
    }


@oracle_app.command("report")
def report(
    config: ConfigOption,
    epoch: Annotated[int, typer.Option(min=0, help="The on-chain epoch number.")],
    start: Annotated[
        int | None, typer.Option(min=0, help="Epoch start (unix time); default from [epoch].")
    ] = None,
    length: Annotated[
        int | None, typer.Option(min=1, help="Epoch length in seconds; default from [epoch].")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Compute, sign and store every member's report for an ended epoch (once per member)."""
    from cocoon_pool.oracle import Oracle, load_config  # noqa: PLC0415

    with one_line_errors():
        cfg = load_config(config)
        with Oracle(cfg) as oracle:
            window = oracle.window(epoch, start, length)
            stored = oracle.report(epoch, start, length)
            public_key = f"{oracle.signer.public_key:064x}"
    conflicts = [r for r in stored if r.status == STATUS_CONFLICT]
    if as_json:
        print_json(
            {
                "epoch": epoch,
                "start": window.start,
                "length": window.length,
                "interval": window.interval,
                "distribution": cfg.distribution,
                "oracle_public_key": public_key,
                "reports": [_report_json(cfg, r) for r in stored],
            }
        )
    else:
        table = Table(title=f"epoch {epoch} reports ({window.start}..{window.end})")
        for name in ("member", "t (s)", "g", "u (bps)", "o", "up/expected", "discarded", "status"):
            table.add_column(name, justify="left" if name in ("member", "status") else "right")
        for r in stored:
            row = r.row
            label = next((m.label for m in cfg.members if m.address == row.member), row.member)
            table.add_row(
                escape(label),
                f"{row.running_seconds:,}",
                f"{row.gpu_score:,}",
                f"{row.uptime_bps:,}",
                str(row.outages),
                f"{row.up_samples}/{row.expected_samples}",
                str(row.discarded_slots),
                "[yellow]conflict[/yellow]" if r.status == STATUS_CONFLICT else r.status,
            )
        console.print(table)
        console.print(f"oracle public key {public_key}; bodies stored for relaying")
    for r in conflicts:
        error_console.print(
            f"warning: the stored report for {r.row.member} differs from the samples now; "
            "the stored (already signed) report is kept",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
