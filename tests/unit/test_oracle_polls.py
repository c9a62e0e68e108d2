"""Fair outage counting against real HTTP workers on 127.0.0.1: retries inside a poll,
the poll's time bound, discarded polls (the oracle's own failure) and their schema."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpcore
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from httpcore._backends.auto import AutoBackend
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cocoon_pool.cli.app import app
from cocoon_pool.contracts.reports import OracleSigner
from cocoon_pool.economics import MemberMetrics
from cocoon_pool.oracle import Oracle, load_config
from cocoon_pool.oracle.config import MemberConfig
from cocoon_pool.oracle.db import alembic_config, make_engine, upgrade_head
from cocoon_pool.oracle.metrics import EpochWindow
from cocoon_pool.oracle.models import Base, Poll, Report, Sample
from cocoon_pool.oracle.poller import PollResult, judge_poll
from cocoon_pool.oracle.reports import load_observations
from local_http import closed_port_url, local_http_server, member_address
from postgres import PostgresServer, postgres_server  # noqa: F401 (fixture)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "jsonstats"
POOL = "0:" + "ab" * 32
SEED = OracleSigner.from_seed_text("oracle-polls").seed
HEALTHY = (FIXTURES / "healthy.json").read_text().replace("__OWNER_ADDRESS__", POOL).encode()
START = 1_000_000
TIMEOUT = 3.0  # generous: a loaded CI machine must not time out a healthy worker
NO_RESPONSE = (
    "3 of 3 workers gave no response (discard threshold 0.9): "
    "the oracle's own network is the likely cause"
)


@dataclass(frozen=True)
class Step:
    """One scripted answer: a status after a delay, or a connection closed unanswered."""

    status: int = 200
    delay: float = 0.0
    drop: bool = False


@dataclass
class FlakyServer:
    """Each path plays its steps in order, then repeats its last step for ever."""

    scripts: dict[str, list[Step]] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    def script(self, path: str, *steps: Step) -> str:
        self.scripts[path] = list(steps)
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def server() -> Iterator[FlakyServer]:
    state = FlakyServer()

    def answer(request: BaseHTTPRequestHandler) -> None:
        with state.lock:
            steps = state.scripts.get(request.path, [Step(404)])
            step = steps[min(state.hits[request.path], len(steps) - 1)]
            state.hits[request.path] += 1
        if step.delay:
            time.sleep(step.delay)
        if step.drop:
            request.close_connection = True
            return  # no status line at all: the client sees the connection close
        body = HEALTHY if step.status == 200 else b"busy"
        try:
            request.send_response(step.status)
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the oracle gave up on a slow answer, as it should

    with local_http_server(answer) as port:
        state.port = port
        yield state


def write_config(
    tmp_path: Path,
    urls: list[str],
    *,
    interval: int = 60,
    timeout: float = TIMEOUT,
    attempts: int = 3,
    retry_backoff: float = 0.05,
    concurrency: int = 8,
    min_members: int = 3,
    database_url: str = "sqlite:///oracle.db",
) -> Path:
    (tmp_path / "oracle.key").write_text(SEED.hex())
    lines = [
        "[oracle]",
        f'database_url = "{database_url}"',
        f'distribution = "{POOL}"',
        'key_file = "oracle.key"',
        "auto_report = false",
        f"poll_interval = {interval}",
        f"timeout = {timeout}",
        f"attempts = {attempts}",
        f"retry_backoff = {retry_backoff}",
        f"concurrency = {concurrency}",
        "discard_poll_down_fraction = 0.9",
        f"discard_poll_min_members = {min_members}",
        "[epoch]",
        f"start = {START}",
        "length = 180",
    ]
    for i, url in enumerate(urls, start=1):
        lines += ["[[members]]", f'address = "{member_address(i)}"', f'stats_url = "{url}"']
    path = tmp_path / "oracle.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


class FakeClock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


# -- retries within one poll --------------------------------------------------------------


@pytest.mark.parametrize(
    "first",
    [Step(503), Step(502), Step(drop=True), Step(200, delay=3.0)],
    ids=["503", "502", "dropped", "timeout"],
)
def test_one_transient_failure_is_retried_into_an_up_sample(
    server: FlakyServer, tmp_path: Path, first: Step
) -> None:
    url = server.script("/a", first, Step(200))
    path = write_config(tmp_path, [url], timeout=1.0 if first.delay else TIMEOUT)
    with Oracle(load_config(path)) as oracle:
        record = oracle.poll(taken_at=START)
        with oracle.sessions() as session:
            (row,) = session.scalars(select(Sample)).all()
    (result,) = record.results
    assert (result.ok, result.reason, result.http_status) == (True, None, 200)
    assert result.throughput_mtps == 2_057_612
    assert server.hits["/a"] == 2
    assert (row.ok, row.reason, row.poll_id) == (True, None, record.poll_id)
    assert record.verdict.down == 0 and not record.discarded


def test_retries_stop_at_the_limit_with_a_doubling_pause(
    server: FlakyServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    busy = server.script("/busy", Step(503))
    missing = server.script("/missing", Step(404))
    path = write_config(tmp_path, [busy, missing], attempts=4, retry_backoff=0.1)
    with (
        caplog.at_level(logging.INFO, logger="cocoon_pool.oracle"),
        Oracle(load_config(path)) as oracle,
    ):
        results = oracle.sample(taken_at=START)
    assert [(r.ok, r.reason, r.http_status) for r in results] == [
        (False, "stats: HTTP 503 (after 4 attempts)", 503),
        (False, "stats: HTTP 404", 404),  # a 4xx will not change on another try
    ]
    assert (server.hits["/busy"], server.hits["/missing"]) == (4, 1)
    pauses = [m for m in caplog.messages if m.startswith(f"stats {busy}:")]
    assert pauses == [
        f"stats {busy}: stats: HTTP 503; try 2 in 0.1 s",
        f"stats {busy}: stats: HTTP 503; try 3 in 0.2 s",
        f"stats {busy}: stats: HTTP 503; try 4 in 0.4 s",
    ]


def test_a_refused_connection_is_retried_by_the_transport(
    server: FlakyServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = server.script("/a", Step(200))
    connects: list[int] = []
    real_connect = AutoBackend.connect_tcp

    async def refuse_once(self: AutoBackend, host: str, port: int, **kwargs: object) -> object:
        connects.append(port)
        if len(connects) == 1:
            raise httpcore.ConnectError("[Errno 111] Connection refused")
        return await real_connect(self, host, port, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(AutoBackend, "connect_tcp", refuse_once)
    path = write_config(tmp_path, [url], attempts=2)
    with Oracle(load_config(path)) as oracle:
        (result,) = oracle.sample(taken_at=START)
    assert (result.ok, result.reason) == (True, None)
    assert connects == [server.port, server.port]  # the transport connected twice...
    assert server.hits["/a"] == 1  # ...and the request itself was sent once


def test_a_poll_ends_within_the_poll_interval(server: FlakyServer, tmp_path: Path) -> None:
    # Ten tries of 1 s each would take over 10 s, but the poll's budget is 0.8 * 3 s: after
    # the second try (ending near 2.1 s) a pause of 0.2 s and a quarter of the 1 s timeout
    # no longer fit before 2.4 s, so the retries stop there.
    urls = [server.script(f"/{i}", Step(200, delay=5.0)) for i in range(3)]
    path = write_config(
        tmp_path, urls, interval=3, timeout=1.0, attempts=10, retry_backoff=0.1, concurrency=3
    )
    config = load_config(path)
    assert config.poll_budget == pytest.approx(2.4)
    with Oracle(config) as oracle:
        began = time.monotonic()
        record = oracle.poll(taken_at=START)
        elapsed = time.monotonic() - began
    assert elapsed < 3.0
    assert [(r.ok, r.unreachable, r.reason) for r in record.results] == [
        (False, True, "stats: timeout after 1 s (after 2 attempts)")
    ] * 3
    assert [server.hits[f"/{i}"] for i in range(3)] == [2, 2, 2]
    # Every worker timed out, so this poll is also the oracle's failure, not theirs.
    assert record.discarded and record.verdict.unreachable == 3


# -- discarded polls ----------------------------------------------------------------------


def result(i: int, *, ok: bool = False, unreachable: bool = False) -> PollResult:
    return PollResult(
        MemberConfig(member_address(i), "http://w/"),
        START,
        ok,
        None if ok else "x",
        unreachable=unreachable,
    )


@pytest.mark.parametrize(
    ("polled", "unreachable", "fraction", "min_members", "discarded"),
    [
        (10, 9, 0.9, 3, True),
        (10, 8, 0.9, 3, False),
        (10, 7, 0.7, 3, True),  # 0.7 * 10 is 7.000000000000001 in floats; exactly 7 here
        (10, 9, 1.0, 3, False),
        (10, 10, 1.0, 3, True),
        (2, 2, 0.9, 3, False),  # too few members to tell the oracle's failure from theirs
        (3, 3, 0.9, 3, True),
    ],
)
def test_judge_poll_threshold(
    polled: int, unreachable: int, fraction: float, min_members: int, discarded: bool
) -> None:
    results = [result(i, unreachable=i < unreachable) for i in range(polled)]
    verdict = judge_poll(results, fraction, min_members)
    assert (verdict.members, verdict.down, verdict.unreachable) == (polled, polled, unreachable)
    assert verdict.discarded is discarded
    assert (verdict.reason is not None) is discarded


def test_workers_that_answer_are_never_the_oracles_failure() -> None:
    # Every worker down, but each one answered (HTTP 500, wrong owner...): the oracle's
    # network worked, so these outages are the workers' own.
    verdict = judge_poll([result(i) for i in range(5)], 0.9, 3)
    assert (verdict.members, verdict.down, verdict.unreachable, verdict.discarded) == (
        5,
        5,
        0,
        False,
    )
    up = judge_poll([result(i, ok=True) for i in range(5)])
    assert (up.down, up.unreachable, up.discarded, up.reason) == (0, 0, False, None)


@dataclass(frozen=True)
class Expected:
    discarded: bool
    metrics: MemberMetrics
    discarded_slots: int


@pytest.mark.parametrize(
    ("min_members", "expected"),
    [
        (
            3,
            Expected(
                True,
                MemberMetrics(running_seconds=120, gpu_score=205_761, uptime_bps=10_000, outages=0),
                discarded_slots=1,
            ),
        ),
        # The same polls with discarding out of reach: the middle slot is an outage.
        (
            4,
            Expected(
                False,
                MemberMetrics(running_seconds=120, gpu_score=205_761, uptime_bps=6666, outages=1),
                discarded_slots=0,
            ),
        ),
    ],
    ids=["discarded", "counted"],
)
def test_a_poll_with_every_worker_unreachable_is_discarded(
    server: FlakyServer,
    tmp_path: Path,
    min_members: int,
    expected: Expected,
    database_url: str = "sqlite:///oracle.db",
) -> None:
    # Three slots; in the middle one no worker answers at all (the oracle's link is down).
    urls = [server.script(f"/{i}", Step(200), Step(drop=True), Step(200)) for i in range(3)]
    path = write_config(
        tmp_path, urls, attempts=1, min_members=min_members, database_url=database_url
    )
    clock = FakeClock(float(START))
    with Oracle(load_config(path), clock=clock) as oracle:
        records = [oracle.poll(taken_at=START + 60 * k) for k in range(3)]
        clock.t = START + 180
        stored = oracle.report(0)
        with oracle.sessions() as session:
            polls = session.scalars(select(Poll).order_by(Poll.id)).all()
            middle = session.scalars(
                select(Sample).where(Sample.poll_id == polls[1].id).order_by(Sample.id)
            ).all()
            reports = session.scalars(select(Report).order_by(Report.id)).all()
    discarded = expected.discarded
    assert [r.discarded for r in records] == [False, discarded, False]
    assert [(p.taken_at, p.members, p.down, p.unreachable, p.discarded) for p in polls] == [
        (START, 3, 0, 0, False),
        (START + 60, 3, 3, 3, discarded),
        (START + 120, 3, 0, 0, False),
    ]
    assert polls[1].reason == (NO_RESPONSE if discarded else None)
    # The discarded poll's samples are kept for the record, with their reasons.
    assert [(s.member, s.ok, s.http_status) for s in middle] == [
        (member_address(i), False, None) for i in (1, 2, 3)
    ]
    assert all(s.reason is not None and s.reason.startswith("stats: ") for s in middle)
    assert [r.result.metrics for r in stored] == [expected.metrics] * 3
    assert [(r.expected_samples, r.up_samples, r.discarded_slots) for r in reports] == [
        (3, 2, expected.discarded_slots)
    ] * 3


def test_cli_shows_and_counts_a_discarded_poll(tmp_path: Path) -> None:
    path = write_config(tmp_path, [closed_port_url() for _ in range(3)], attempts=2)
    runner = CliRunner()

    # `run` first: it polls only when a poll is due, and a stored poll makes the next one due
    # a poll_interval later.
    ran = runner.invoke(app, ["oracle", "run", "--config", str(path), "--once", "--json"])
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.stdout) == {
        "polls": 1,
        "samples": 3,
        "down": 3,
        "reports": 0,
        "stopped": False,
        "discarded_polls": 1,
    }

    sampled = runner.invoke(app, ["oracle", "sample", "--config", str(path), "--json"])
    assert sampled.exit_code == 0, sampled.output
    out = json.loads(sampled.stdout)
    poll = out["poll"]
    assert (poll["id"], poll["members"], poll["down"], poll["unreachable"]) == (2, 3, 3, 3)
    assert poll["discarded"] is True and poll["reason"] == NO_RESPONSE
    assert [s["up"] for s in out["samples"]] == [False, False, False]
    assert all(s["reason"].startswith("stats: unreachable") for s in out["samples"])

    table = runner.invoke(app, ["oracle", "sample", "--config", str(path)])
    assert table.exit_code == 0
    assert "0 up, 3 down; samples stored" in table.stdout
    assert "poll discarded: 3 of 3 workers gave no response" in " ".join(table.stdout.split())


# -- schema -------------------------------------------------------------------------------


def test_upgrade_from_0001_keeps_old_samples_and_reports(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001_initial")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO oracle_samples (member, taken_at, ok, throughput_mtps) "
                "VALUES (:m, :t, 1, 5000)"
            ),
            {"m": member_address(1), "t": START},
        )
        connection.execute(
            text(
                "INSERT INTO oracle_reports (epoch, member, distribution, epoch_start, "
                "epoch_length, running_seconds, gpu_score, uptime_bps, outages, "
                "expected_samples, up_samples, oracle_public_key, body_boc, body_hash, "
                "created_at) VALUES (0, :m, :d, :s, 180, 60, 500, 3333, 1, 3, 1, 'k', 'b', "
                "'h', :s)"
            ),
            {"m": member_address(1), "d": POOL, "s": START},
        )
    upgrade_head(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        assert context.get_current_revision() == "0002_polls"
    with Session(engine) as session:
        window = EpochWindow(epoch=0, start=START, length=180, interval=60)
        (observation,) = load_observations(session, member_address(1), window)
        assert (observation.taken_at, observation.ok, observation.throughput_mtps) == (
            START,
            True,
            5000,
        )
        assert session.scalars(select(Sample.poll_id)).all() == [None]
        assert session.scalars(select(Report.discarded_slots)).all() == [0]
    engine.dispose()


def test_the_oracle_runs_on_postgresql(
    server: FlakyServer, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The same polls, samples, discarded poll and signed reports on a real PostgreSQL server
    (psycopg pinned; the server is Debian's, started by tests/postgres.py)."""
    postgres: PostgresServer = request.getfixturevalue("postgres_server")
    url = postgres.new_database("oracle")
    expected = Expected(
        True,
        MemberMetrics(running_seconds=120, gpu_score=205_761, uptime_bps=10_000, outages=0),
        discarded_slots=1,
    )
    test_a_poll_with_every_worker_unreachable_is_discarded(
        server, tmp_path, 3, expected, database_url=url
    )
