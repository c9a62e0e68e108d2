"""The oracle at scale: the lean HTTP client, bulk storage and shards (issue 10).

No timing assertions: the figures are the benchmark's (`cocoon-pool bench oracle`). These
tests check that the fast paths store exactly what the reference paths store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Literal

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cocoon_pool.cli.app import app
from cocoon_pool.cli.bench_oracle_cmd import POOL, FakeWorkers, bench_config, fake_workers
from cocoon_pool.oracle import OracleConfigError
from cocoon_pool.oracle.config import MemberConfig
from cocoon_pool.oracle.http import BodyTooLarge, ResponseFailure, parse_response
from cocoon_pool.oracle.models import Sample
from cocoon_pool.oracle.poller import (
    LEAN_CLIENT_MIN_MEMBERS,
    SAMPLE_COLUMNS,
    PollResult,
    PollSettings,
    poll_members,
    use_lean_client,
)
from cocoon_pool.oracle.service import Oracle, Shard
from local_http import closed_port_url, local_http_server, member_address

WORKERS = 2_000
TAKEN_AT = 1_000_000
FIXTURES = Path(__file__).parents[1] / "fixtures" / "jsonstats"
HEALTHY = (FIXTURES / "healthy.json").read_text().replace("__OWNER_ADDRESS__", POOL).encode()

# Every column but the ids and the measured latency: what two equal polls store alike.
COLUMNS = [
    c.name for c in Sample.__table__.columns if c.name not in ("id", "poll_id", "latency_ms")
]


@pytest.fixture(scope="module")
def workers() -> Iterator[FakeWorkers]:
    with fake_workers(2, faults=True) as fake:
        yield fake


def stored(oracle: Oracle) -> list[tuple[Any, ...]]:
    with oracle.sessions() as session:
        rows = session.scalars(select(Sample)).all()
    return sorted(tuple(getattr(r, c) for c in COLUMNS) for r in rows)


def expected_reason(i: int) -> str | None:
    kind = i % 50
    if kind == 1:
        return "stats: HTTP 404"
    if kind == 2:
        return "stats: malformed JSON"
    if kind == 3:
        return f"worker owner_address {'0:' + 'cd' * 32} is not the pool"
    return None


def test_every_worker_is_stored_once_and_shards_store_the_same(
    workers: FakeWorkers, tmp_path: Path
) -> None:
    single = bench_config(workers, WORKERS, f"sqlite:///{tmp_path / 'single.db'}", 64)
    assert use_lean_client(PollSettings(timeout=5, concurrency=64), WORKERS)
    with Oracle(single) as oracle:
        record = oracle.poll(TAKEN_AT)
        rows = stored(oracle)
    assert len(rows) == WORKERS
    members = [row[COLUMNS.index("member")] for row in rows]
    assert sorted(members) == sorted(member_address(i) for i in range(WORKERS))
    by_member = {row[COLUMNS.index("member")]: row for row in rows}
    for i in range(WORKERS):
        row = dict(zip(COLUMNS, by_member[member_address(i)], strict=True))
        reason = expected_reason(i)
        if reason is None:
            assert (row["ok"], row["reason"], row["http_status"]) == (True, None, 200), row
            # The fake worker's 10-minute counter is (1_000_000 + 13 i).5 tokens.
            assert row["throughput_mtps"] == (2 * (1_000_000 + 13 * i) + 1) * 1000 // 1200
            assert (row["queries_total"], row["earned_tokens"]) == (1000 + i, 3 * i)
            assert row["taken_at"] == TAKEN_AT
        else:
            assert not row["ok"] and row["reason"].startswith(reason), row
    assert record.verdict.down == 3 * WORKERS // 50 and not record.discarded

    sharded = bench_config(workers, WORKERS, f"sqlite:///{tmp_path / 'sharded.db'}", 64)
    polled: list[int] = []
    for index in range(3):
        with Oracle(sharded, shard=Shard(index, 3)) as oracle:
            polled.append(len(oracle.poll(TAKEN_AT).results))
    with Oracle(sharded) as oracle:
        assert stored(oracle) == rows
    assert sum(polled) == WORKERS and min(polled) > 0


def test_bulk_rows_name_every_sample_column() -> None:
    assert ["id", "poll_id", *SAMPLE_COLUMNS] == [c.name for c in Sample.__table__.columns]


def test_shards_split_the_members_exactly_once() -> None:
    members = [MemberConfig(member_address(i * 7919 + 5), "http://w/") for i in range(500)]
    for count in (1, 2, 3, 7):
        parts = [Shard(i, count).members(members) for i in range(count)]
        assert sorted(m.address for p in parts for m in p) == sorted(m.address for m in members)
    assert Shard.parse("1/3") == Shard(1, 3) and str(Shard(1, 3)) == "1/3"
    for bad in ("3/3", "x", "1", "-1/2", "0/0"):
        with pytest.raises(OracleConfigError):
            Shard.parse(bad)


# -- the lean client answers exactly as httpx does -----------------------------------------


def raw(request: BaseHTTPRequestHandler, data: bytes) -> None:
    request.wfile.write(data)
    request.close_connection = True


def answer(request: BaseHTTPRequestHandler) -> None:
    # The oracle gives up on a slow answer, as it should: the write then finds no reader.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        respond(request)


def respond(request: BaseHTTPRequestHandler) -> None:
    path = request.path
    if path.startswith("/slow"):
        time.sleep(1.5)
    if path.startswith(("/ok", "/slow")):
        body = HEALTHY
        request.send_response(200)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)
    elif path == "/chunked":
        half = len(HEALTHY) // 2
        chunks = b"".join(
            b"%x\r\n%s\r\n" % (len(part), part) for part in (HEALTHY[:half], HEALTHY[half:])
        )
        raw(
            request,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n",
        )
    elif path == "/until-close":
        raw(request, b"HTTP/1.0 200 OK\r\n\r\n" + HEALTHY)
    elif path == "/drop":
        request.close_connection = True
    elif path == "/short":
        raw(request, b"HTTP/1.1 200 OK\r\nContent-Length: 99999\r\n\r\n{}")
    elif path == "/garbage":
        raw(request, b"SPAM\r\n\r\n")
    elif path == "/latin1":
        raw(request, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n\xe9")
    elif path == "/notjson":
        raw(request, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
    elif path == "/redirect":
        raw(request, b"HTTP/1.1 302 Found\r\nLocation: /ok\r\nContent-Length: 0\r\n\r\n")
    else:
        status = int(path.strip("/")) if path.strip("/").isdigit() else 404
        request.send_response(status)
        request.send_header("Content-Length", "4")
        request.end_headers()
        request.wfile.write(b"nope")


def outcome(result: PollResult) -> tuple[Any, ...]:
    return (result.ok, result.reason, result.http_status, result.unreachable, result.stats)


def test_the_lean_client_gives_the_same_results_as_httpx() -> None:
    paths = [
        "/ok",
        "/chunked",
        "/until-close",
        "/drop",
        "/short",
        "/garbage",
        "/latin1",
        "/notjson",
        "/redirect",
        "/404",
        "/503",
        "/slow",
    ]
    with local_http_server(answer) as port:
        urls = [f"http://127.0.0.1:{port}{p}" for p in paths] + [closed_port_url()]
        members = [MemberConfig(member_address(i), url) for i, url in enumerate(urls)]
        runs = {}
        clients: tuple[Literal["httpx", "lean"], ...] = ("httpx", "lean")
        for client in clients:
            settings = PollSettings(
                timeout=1.0,
                concurrency=4,
                distribution=POOL,
                attempts=2,
                retry_backoff=0.01,
                http_client=client,
            )
            results = asyncio.run(poll_members(members, settings, TAKEN_AT))
            runs[client] = [outcome(r) for r in results]
    differ = [
        (path, lean, reference)
        for path, lean, reference in zip(
            [*paths, "closed"], runs["lean"], runs["httpx"], strict=True
        )
        if lean != reference
    ]
    assert differ == []
    assert [r[0] for r in runs["lean"]][:3] == [True, True, True]
    assert runs["lean"][-1][1] == "stats: unreachable (All connection attempts failed)"


def test_small_polls_and_proxies_keep_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = PollSettings(timeout=5, concurrency=16)
    assert not use_lean_client(settings, LEAN_CLIENT_MIN_MEMBERS - 1)
    assert use_lean_client(settings, LEAN_CLIENT_MIN_MEMBERS)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    assert not use_lean_client(settings, 100_000)
    assert use_lean_client(PollSettings(timeout=5, concurrency=16, http_client="lean"), 1)


def test_response_parsing_edge_cases() -> None:
    head = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
    assert parse_response(head + b"{}", eof=False, limit=10) is not None
    assert parse_response(head + b"{", eof=False, limit=10) is None
    with pytest.raises(BodyTooLarge):
        parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", eof=False, limit=10)
    with pytest.raises(ResponseFailure):
        parse_response(b"HTTP/1.1 2x0 OK\r\n\r\n", eof=False, limit=10)
    keep = parse_response(b"HTTP/1.1 204 No Content\r\n\r\n", eof=False, limit=10)
    close = parse_response(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", eof=True, limit=10)
    assert keep is not None and keep.keep_alive and keep.body == b""
    assert close is not None and not close.keep_alive


# -- the command line -----------------------------------------------------------------------


def test_bench_oracle_stores_every_worker_once(tmp_path: Path) -> None:
    snapshot = tmp_path / "oracle.json"
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "oracle",
            "--workers",
            "300",
            "--processes",
            "2",
            "--servers",
            "1",
            "--json",
            "--snapshot",
            str(snapshot),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report == json.loads(snapshot.read_text())
    assert report["stored"] == {"rows": 300, "members": 300, "up": 300}
    assert report["stored_once"] and report["down"] == 0 and report["not_polled"] == 0
    assert sum(s["members"] for s in report["shards"]) == 300


def test_oracle_sample_polls_only_its_shard(workers: FakeWorkers, tmp_path: Path) -> None:
    seed = "11" * 32
    (tmp_path / "oracle.key").write_text(seed)
    lines = [
        "[oracle]",
        f'distribution = "{POOL}"',
        'key_file = "oracle.key"',
        "auto_report = false",
        "[epoch]",
        "start = 0",
        "length = 3600",
    ]
    for i in (4, 5, 6, 7):  # healthy fake workers (none of them a fault)
        lines += [
            "[[members]]",
            f'address = "{member_address(i)}"',
            f'stats_url = "{workers.url(i)}"',
        ]
    config = tmp_path / "oracle.toml"
    config.write_text("\n".join(lines) + "\n")
    runner = CliRunner()
    result = runner.invoke(app, ["oracle", "sample", "-c", str(config), "--shard", "1/2", "--json"])
    assert result.exit_code == 0, result.output
    samples = json.loads(result.stdout)["samples"]
    assert [s["member"] for s in samples] == [member_address(5), member_address(7)]
    assert all(s["up"] for s in samples)
    bad = runner.invoke(app, ["oracle", "sample", "-c", str(config), "--shard", "2/2"])
    assert bad.exit_code != 0
    assert "shard 2/2 does not exist" in bad.output and "Traceback" not in bad.output
