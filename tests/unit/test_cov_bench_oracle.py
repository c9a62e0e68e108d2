"""`cocoon-pool bench oracle`: the fake workers' answers and protocol, the single-process
poll, the table, and the exit code when rows are not stored exactly once."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cocoon_pool.cli import bench_oracle_cmd as bo
from cocoon_pool.cli.app import app
from cocoon_pool.oracle.jsonstats import parse_jsonstats

OTHER_POOL = "0:" + "cd" * 32


def test_stats_body_healthy_and_every_fault() -> None:
    status, body = bo.stats_body(7)
    assert status == 200
    stats = json.loads(body)
    assert stats["localconfig"]["owner_address"] == bo.POOL
    assert stats["stats"]["queries"][0] == 1007
    assert stats["stats"]["success"][0] == 997
    assert stats["stats"]["total_adjusted_tokens_used"][0] == 4_000_049
    assert stats["proxies"][0]["earned_tokens_committed_to_blockchain"] == 21
    parsed = parse_jsonstats(body.decode())
    assert parsed.owner_address == bo.POOL
    # without faults every index is healthy; with faults 1, 2 and 3 in every 50 misbehave
    assert bo.stats_body(51)[0] == 200 and bo.stats_body(51)[1] == bo.stats_body(51)[1]
    assert bo.stats_body(51, faults=True) == (404, b"not found")
    assert bo.stats_body(2, faults=True) == (200, b'{"stats": ')
    status, body = bo.stats_body(103, faults=True)
    assert status == 200 and json.loads(body)["localconfig"]["owner_address"] == OTHER_POOL
    assert bo.stats_body(4, faults=True) == bo.stats_body(4)


@pytest.mark.parametrize(
    ("head", "index"),
    [
        (b"GET /w/12/jsonstats HTTP/1.1\r\nHost: x", 12),
        (b"GET /w/0/jsonstats HTTP/1.1", 0),
        (b"GET /w/x/jsonstats HTTP/1.1", None),
        (b"GET /jsonstats HTTP/1.1", None),
        (b"GET /v/3/jsonstats HTTP/1.1", None),
        (b"GET", None),
    ],
)
def test_worker_index_from_the_request_line(head: bytes, index: int | None) -> None:
    assert bo._worker_index(head) == index


async def _exchange(faults: bool, close: bool, requests: list[bytes]) -> tuple[bytes, bool]:
    """Send ``requests`` pipelined on one connection to the fake workers' protocol, served in
    this event loop; what came back, and whether the server closed the connection."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: bo._FakeWorkers(faults, close), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"".join(requests))
        await writer.drain()
        data = b""
        closed = False
        while True:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), 0.5)
            except TimeoutError:
                break
            if not chunk:
                closed = True
                break
            data += chunk
        writer.close()
        return data, closed
    finally:
        server.close()
        await server.wait_closed()


def _request(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


def _responses(data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    out = []
    while data:
        head, rest = data.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode().split("\r\n")
        headers = dict(line.split(": ", 1) for line in header_lines)
        length = int(headers["Content-Length"])
        out.append((int(status_line.split()[1]), headers, rest[:length]))
        data = rest[length:]
    return out


def test_fake_workers_keep_alive_answer_pipelined_requests() -> None:
    data, closed = asyncio.run(
        _exchange(
            False,
            False,
            [_request("/w/5/jsonstats"), _request("/nope"), _request("/w/6/jsonstats")],
        )
    )
    assert not closed
    (s1, h1, b1), (s2, _, b2), (s3, _, b3) = _responses(data)
    assert (s1, b1) == bo.stats_body(5) and "Connection" not in h1
    assert h1["Content-Type"] == "application/json"
    assert (s2, b2) == (404, b"no such worker")
    assert (s3, b3) == bo.stats_body(6)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"HTTP/1.1 404 Not Found\r\n" in data


def test_fake_workers_close_after_one_answer_and_serve_faults() -> None:
    data, closed = asyncio.run(
        _exchange(True, True, [_request("/w/1/jsonstats"), _request("/w/5/jsonstats")])
    )
    assert closed
    ((status, headers, body),) = _responses(data)  # the second request is never answered
    assert (status, body) == (404, b"not found")
    assert headers["Connection"] == "close"


def test_fake_server_cpu_skips_a_process_that_is_gone() -> None:
    alive = bo.FakeWorkers(ports=[1], pids=[os.getpid()])
    assert alive.cpu_seconds() > 0
    gone = bo.FakeWorkers(ports=[1], pids=[2**22 + 12345])
    assert gone.cpu_seconds() == 0.0
    assert gone.url(7) == "http://127.0.0.1:1/w/7/jsonstats"


def _bench(*args: str) -> Any:
    """The command with one fake server; 64+ workers, so the poll uses the lean client."""
    return CliRunner().invoke(app, ["bench", "oracle", "--servers", "1", *args])


def test_one_process_poll_with_faults_prints_the_table(tmp_path: Path) -> None:
    snapshot = tmp_path / "oracle.json"
    result = _bench(
        "--workers", "100", "--processes", "1", "--faults", "--interval", "120",
        "--snapshot", str(snapshot),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "polling 100 fake workers (1 server processes, 1 oracle process(es))..." in (
        result.stderr
    )
    report = json.loads(snapshot.read_text(encoding="utf-8"))
    # indices 1-3 and 51-53 misbehave; every one of them is still stored, once
    assert report["down"] == 6
    assert report["stored"] == {"rows": 100, "members": 100, "up": 94}
    assert report["stored_once"] and report["processes"] == 1 and len(report["shards"]) == 1
    assert report["shards"][0]["members"] == 100
    assert (report["connections"], report["database"]) == ("keep-alive", "sqlite")
    assert (report["interval"], report["poll_budget_interval"]) == (bo.INTERVAL, 120)
    out = result.stdout
    assert "oracle poll of 100 workers" in out
    assert "rows stored once" in out and "yes" in out
    assert "fits in one 60 s interval: " in out
    assert "by the oracle's CPU alone: " in out


def test_rows_already_in_the_database_are_not_stored_once_and_exit_1(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first = _bench(
        "--workers", "64", "--processes", "1", "--new-connections", "--database-url", url,
        "--json", "--snapshot", str(tmp_path / "a.json"),
    )  # fmt: skip
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["connections"] == "new per worker" and report["stored_once"]
    again = _bench(
        "--workers", "64", "--processes", "1", "--database-url", url,
        "--snapshot", str(tmp_path / "b.json"),
    )  # fmt: skip
    assert again.exit_code == 1
    second = json.loads((tmp_path / "b.json").read_text(encoding="utf-8"))
    assert second["stored"] == {"rows": 128, "members": 64, "up": 128}
    assert not second["stored_once"] and not second["fits"]
    assert "NO" in again.stdout
