"""`cocoon-pool bench oracle`: one full oracle poll of many local fake workers.

The fake workers are a few server processes on 127.0.0.1, each answering ``/jsonstats``
for many worker paths (``/w/<i>/jsonstats``) from a template, so serving costs a few
microseconds a request and the poller is what is measured. Their CPU still competes with
the poller's on a small machine; the figures show both.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import resource
import socket
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from cocoon_pool.cli.output import console, emit_report, error_console, one_line_errors

POOL = "0:" + "ab" * 32
"""The distribution every fake worker names as its owner."""
INTERVAL = 60
SNAPSHOT = Path("benchmarks/snapshots/oracle.json")

_STATS_TEMPLATE = (
    '{"status": {"wallet_balance": 2500000000, "actual_image_hash": true, '
    '"actual_model": true, "ton_last_synced_at": 1767225000, "enabled": true}, '
    '"stats": {"queries": [%(q)d, 0.21, 2.05, 11.87, 118.4, 705.2, 1490.3], '
    '"success": [%(s)d, 0.21, 2.05, 11.87, 117.9, 700.8, 1481.0], '
    '"failed": [10, 0, 0, 0, 0.5, 4.4, 9.3], '
    '"bytes_received": [3042100, 410.5, 4100.2, 23800.9, 236950.1, 1410333.0, 2980010.7], '
    '"bytes_sent": [9120400, 1231.5, 12300.6, 71402.7, 710850.3, 4230999.1, 8940032.1], '
    '"time": [812.4, 0.11, 1.09, 6.3, 63.2, 376.1, 795.8], '
    '"total_adjusted_tokens_used": [%(t)d, 680.25, 6802.5, 40815.0, %(t10)d.5, 2450000.0, '
    "4700100.5], "
    '"prompt_adjusted_tokens_used": [1801000, 255.1, 2550.9, 15305.6, 462963.0, 918750.0, '
    "1762537.7], "
    '"cached_adjusted_tokens_used": [120000, 17.0, 170.1, 1020.4, 30864.2, 61250.0, 117502.5], '
    '"completion_adjusted_tokens_used": [2882000, 408.15, 4081.5, 24489.0, 740740.5, '
    "1470000.0, 2820060.3], "
    '"reasoning_adjusted_tokens_used": [0, 0, 0, 0, 0, 0, 0]}, '
    '"wallet": {"address": "0:1111111111111111111111111111111111111111111111111111111111111111", '
    '"balance": 2500000000, "seqno": 42, "pending_transactions_cnt": 0, '
    '"active_transactions_cnt": 0}, '
    '"localconfig": {"root_address": '
    '"0:2222222222222222222222222222222222222222222222222222222222222222", '
    '"owner_address": "%(owner)s", "model": "Qwen/Qwen3-32B", "coefficient": 1000, '
    '"check_proxy_hash": true}, '
    '"proxies": [{"proxy_sc_address": '
    '"0:3333333333333333333333333333333333333333333333333333333333333333", '
    '"sc_address": "0:4444444444444444444444444444444444444444444444444444444444444444", '
    '"earned_tokens_committed_to_blockchain": %(e)d}]}'
)


def stats_body(index: int, *, faults: bool = False) -> tuple[int, bytes]:
    """The status and body fake worker ``index`` answers with.

    With ``faults``, a few workers in every 50 misbehave in the ways a real pool sees: a
    wrong URL, a body that is not JSON and a worker that belongs to another pool.
    """
    kind = index % 50 if faults else 0
    if kind == 1:
        return 404, b"not found"
    if kind == 2:
        return 200, b'{"stats": '
    owner = "0:" + "cd" * 32 if kind == 3 else POOL
    body = _STATS_TEMPLATE % {
        "q": 1000 + index,
        "s": 990 + index,
        "t": 4_000_000 + index * 7,
        "t10": 1_000_000 + index * 13,
        "e": index * 3,
        "owner": owner,
    }
    return 200, body.encode()


def _worker_index(head: bytes) -> int | None:
    try:
        path = head.split(b" ", 2)[1]
        parts = path.split(b"/")
        return int(parts[2]) if len(parts) == 4 and parts[1] == b"w" else None
    except (IndexError, ValueError):
        return None


class _FakeWorkers(asyncio.Protocol):
    """HTTP/1.1 keep-alive answers from the template; ``close`` ends each connection."""

    def __init__(self, faults: bool, close: bool) -> None:
        self.faults = faults
        self.close = close
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            index = _worker_index(head)
            status, body = (404, b"no such worker") if index is None else stats_body(index)
            if index is not None and self.faults:
                status, body = stats_body(index, faults=True)
            reason = b"OK" if status == 200 else b"Not Found"
            self.transport.write(
                b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
                % (status, reason, len(body), b"Connection: close\r\n" if self.close else b"")
                + body
            )
            if self.close:
                self.transport.close()
                return


def _serve(sock: socket.socket, faults: bool, close: bool, ready: Connection) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _FakeWorkers(faults, close), sock=sock)
        ready.send(os.getpid())
        async with server:
            await server.serve_forever()

    asyncio.run(main())


@dataclass
class FakeWorkers:
    ports: list[int]
    pids: list[int]

    def url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.ports[index % len(self.ports)]}/w/{index}/jsonstats"

    def cpu_seconds(self) -> float:
        """User + system CPU of the server processes so far (Linux /proc)."""
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
        return total / tick


@contextmanager
def fake_workers(
    servers: int, *, faults: bool = False, close: bool = False
) -> Iterator[FakeWorkers]:
    """Start ``servers`` processes serving fake workers on 127.0.0.1 until the block ends."""
    ctx = multiprocessing.get_context("fork")
    procs: list[Any] = []
    ports: list[int] = []
    pids: list[int] = []
    try:
        for _ in range(servers):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sock.listen(4096)
            ports.append(sock.getsockname()[1])
            parent, child = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_serve, args=(sock, faults, close, child), daemon=True)
            proc.start()
            sock.close()
            procs.append(proc)
            pids.append(parent.recv())
        yield FakeWorkers(ports, pids)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.join(5)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bench_config(
    workers: FakeWorkers, count: int, database_url: str, concurrency: int, interval: int = INTERVAL
) -> Any:
    """An oracle configuration for ``count`` fake workers (built directly: no TOML)."""
    from cocoon_pool.oracle.config import (  # noqa: PLC0415
        EpochConfig,
        KeySource,
        MemberConfig,
        OracleConfig,
    )

    members = tuple(MemberConfig(f"0:{i:064x}", workers.url(i)) for i in range(count))
    return OracleConfig(
        path=Path("bench-oracle.toml"),
        database_url=database_url,
        interval=interval,
        timeout=5.0,
        concurrency=concurrency,
        distribution=POOL,
        key=KeySource(env="COCOON_BENCH_ORACLE_SEED"),
        epoch=EpochConfig(start=0, length=3600),
        members=members,
        auto_report=False,
    )


@dataclass(frozen=True)
class ShardRun:
    members: int
    down: int
    seconds: float
    """Wall time of the whole ``Oracle.poll``: requests, parsing and the database write."""
    poll_seconds: float
    """The requests and parsing alone (the poll's stored ``duration_ms``)."""
    cpu_seconds: float
    not_polled: int
    """Members the poll's budget ran out before (the machine was too slow or too busy)."""


def _poll_shard(config: Any, shard: tuple[int, int] | None, taken_at: int) -> ShardRun:
    from cocoon_pool.oracle.service import Oracle, Shard  # noqa: PLC0415

    part = None if shard is None else Shard(*shard)
    with Oracle(config, shard=part) as oracle:
        cpu, began = _cpu_seconds(), time.monotonic()
        record = oracle.poll(taken_at)
        seconds = time.monotonic() - began
        cpu = _cpu_seconds() - cpu
    not_polled = sum(
        1 for r in record.results if r.reason and "the poll ran out of time" in r.reason
    )
    return ShardRun(
        len(record.results),
        record.verdict.down,
        seconds,
        record.duration_ms / 1000,
        cpu,
        not_polled,
    )


def _shard_child(config: Any, shard: tuple[int, int], taken_at: int, out: Connection) -> None:
    out.send(_poll_shard(config, shard, taken_at))


def run_poll(config: Any, processes: int, taken_at: int) -> tuple[float, list[ShardRun]]:
    """One poll of every member by ``processes`` shard processes (1: in this process)."""
    from cocoon_pool.oracle.db import open_database  # noqa: PLC0415

    # The schema first, so the shards do not race to migrate one database.
    engine, _ = open_database(config.database_url)
    engine.dispose()
    if processes == 1:
        began = time.monotonic()
        run = _poll_shard(config, None, taken_at)
        return time.monotonic() - began, [run]
    ctx = multiprocessing.get_context("fork")
    pipes: list[Connection] = []
    procs: list[Any] = []
    began = time.monotonic()
    for index in range(processes):
        reader, writer = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_shard_child, args=(config, (index, processes), taken_at, writer))
        proc.start()
        writer.close()
        pipes.append(reader)
        procs.append(proc)
    runs: list[ShardRun] = []
    try:
        for reader in pipes:
            runs.append(reader.recv())
    except EOFError:
        raise typer.Exit(1) from None
    finally:
        for proc in procs:
            proc.join()
    return time.monotonic() - began, runs


def stored_counts(database_url: str) -> dict[str, int]:
    """Rows, distinct members and up rows in the samples table."""
    from sqlalchemy import distinct, func, select  # noqa: PLC0415

    from cocoon_pool.oracle.db import make_engine  # noqa: PLC0415
    from cocoon_pool.oracle.models import Sample  # noqa: PLC0415

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            rows, members, up = conn.execute(
                select(
                    func.count(),
                    func.count(distinct(Sample.member)),
                    func.count().filter(Sample.ok),
                )
            ).one()
    finally:
        engine.dispose()
    return {"rows": rows, "members": members, "up": up}


def bench_oracle(
    count: int,
    *,
    processes: int,
    servers: int,
    concurrency: int,
    database_url: str | None,
    faults: bool = False,
    new_connections: bool = False,
    interval: int = INTERVAL,
) -> dict[str, Any]:
    """Run one full poll of ``count`` fake workers and return the figures."""
    # One line per down worker is the oracle's normal log; here it would drown the figures.
    logging.getLogger("cocoon_pool.oracle").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'oracle.db'}"
        backend = url.split(":", 1)[0].split("+", 1)[0]
        with fake_workers(servers, faults=faults, close=new_connections) as workers:
            config = bench_config(workers, count, url, concurrency, interval)
            server_cpu = workers.cpu_seconds()
            seconds, runs = run_poll(config, processes, taken_at=1_000_000)
            server_cpu = workers.cpu_seconds() - server_cpu
        stored = stored_counts(url)
    client_cpu = sum(r.cpu_seconds for r in runs)
    not_polled = sum(r.not_polled for r in runs)
    cores = os.cpu_count() or 1
    stored_once = stored["rows"] == count and stored["members"] == count
    return {
        "workers": count,
        "processes": processes,
        "servers": servers,
        "concurrency": concurrency,
        "database": backend,
        "connections": "new per worker" if new_connections else "keep-alive",
        "seconds": round(seconds, 2),
        "poll_seconds": round(max(r.poll_seconds for r in runs), 2),
        "workers_per_second": round(count / seconds) if seconds > 0 else None,
        "client_cpu_seconds": round(client_cpu, 2),
        "client_cpu_us_per_worker": round(client_cpu / count * 1e6),
        "server_cpu_seconds": round(server_cpu, 2),
        "cores": cores,
        "load_average": round(os.getloadavg()[0], 2),
        "down": sum(r.down for r in runs),
        "stored": stored,
        "stored_once": stored_once,
        "interval": INTERVAL,
        "poll_budget_interval": interval,
        "fits": stored_once and not not_polled and seconds <= INTERVAL,
        "not_polled": not_polled,
        # What the poll needs of the machine alone: its CPU over the cores it may use,
        # with the fake servers' share taken out (a real pool's workers are elsewhere).
        "fits_by_cpu": client_cpu / min(cores, processes) <= INTERVAL,
        "shards": [
            {
                "members": r.members,
                "seconds": round(r.seconds, 2),
                "poll_seconds": round(r.poll_seconds, 2),
                "cpu_seconds": round(r.cpu_seconds, 2),
            }
            for r in runs
        ],
    }


def oracle(  # noqa: PLR0917 (a Typer command: one parameter per option)
    workers: Annotated[int, typer.Option(min=1, help="Fake workers to poll.")] = 100_000,
    processes: Annotated[
        int, typer.Option(min=1, max=64, help="Oracle processes, one shard each.")
    ] = 1,
    servers: Annotated[int, typer.Option(min=1, max=64, help="Fake worker server processes.")] = 2,
    concurrency: Annotated[
        int, typer.Option(min=1, max=256, help="Requests in flight per oracle process.")
    ] = 256,
    database_url: Annotated[
        str | None,
        typer.Option(help="Poll into this database (default: a fresh temporary SQLite file)."),
    ] = None,
    new_connections: Annotated[
        bool,
        typer.Option(
            "--new-connections",
            help="Fake servers close each connection, so every worker costs a TCP connect "
            "(as with real workers, each on its own host).",
        ),
    ] = False,
    faults: Annotated[
        bool, typer.Option("--faults", help="Make 3 in every 50 workers misbehave.")
    ] = False,
    interval: Annotated[
        int,
        typer.Option(
            min=1,
            help="poll_interval of the benchmark's oracle (its budget is 0.8 of it); raise it "
            "on a busy machine to measure CPU without the budget cutting the poll short.",
        ),
    ] = INTERVAL,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    snapshot: Annotated[
        Path | None, typer.Option(help="Write the figures to this JSON file.")
    ] = SNAPSHOT,
) -> None:
    """One full oracle poll of many local fake workers: seconds, workers/s and CPU."""
    if not as_json:
        error_console.print(
            f"polling {workers:,} fake workers ({servers} server processes, "
            f"{processes} oracle process(es))..."
        )
    with one_line_errors():
        report = bench_oracle(
            workers,
            processes=processes,
            servers=servers,
            concurrency=concurrency,
            database_url=database_url,
            faults=faults,
            new_connections=new_connections,
            interval=interval,
        )
    emit_report(report, snapshot=snapshot, as_json=as_json, show=lambda: _print_report(report))
    if not report["stored_once"]:
        raise typer.Exit(1)


def _print_report(report: dict[str, Any]) -> None:
    table = Table(title=f"oracle poll of {report['workers']:,} workers")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows: Sequence[tuple[str, str]] = (
        ("oracle processes", str(report["processes"])),
        ("fake server processes", str(report["servers"])),
        ("database", report["database"]),
        ("connections", report["connections"]),
        ("seconds (poll + store)", f"{report['seconds']:.2f}"),
        ("workers / second", f"{report['workers_per_second']:,}"),
        ("client CPU seconds", f"{report['client_cpu_seconds']:.2f}"),
        ("client CPU per worker", f"{report['client_cpu_us_per_worker']} µs"),
        ("fake servers' CPU seconds", f"{report['server_cpu_seconds']:.2f}"),
        ("cores / load average", f"{report['cores']} / {report['load_average']}"),
        ("down", str(report["down"])),
        ("not polled (budget ran out)", str(report["not_polled"])),
        ("rows stored once", "yes" if report["stored_once"] else "NO"),
    )
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    fits = "[green]yes[/green]" if report["fits"] else "[red]no[/red]"
    by_cpu = "yes" if report["fits_by_cpu"] else "no"
    console.print(
        f"fits in one {report['interval']} s interval: {fits} "
        f"(by the oracle's CPU alone: {by_cpu}; the fake servers share these cores)"
    )
