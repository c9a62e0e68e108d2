"""The oracle against real HTTP workers on 127.0.0.1: polling, storage, schedule, reports,
the CLI, and an end-to-end report accepted by the pool on the embedded chain."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select
from ton_core import Address
from typer.testing import CliRunner

from cocoon_pool.chain.types import raw_address
from cocoon_pool.cli import oracle_cmd
from cocoon_pool.cli.app import app
from cocoon_pool.contracts.constants import fee
from cocoon_pool.contracts.messages import SubmitReport
from cocoon_pool.contracts.reports import (
    MAX_REPORTS_PER_BATCH,
    OracleSigner,
    batch_message,
    build_report,
    report_value,
)
from cocoon_pool.economics import MemberMetrics
from cocoon_pool.oracle import (
    Oracle,
    OracleConfigError,
    OracleReportError,
    StopFlag,
    load_config,
    reports,
)
from cocoon_pool.oracle.db import make_engine, upgrade_head
from cocoon_pool.oracle.models import Base, Report, Sample
from cocoon_pool.oracle.reports import decode_body
from cocoon_pool.sandbox import PoolSandbox
from local_http import closed_port_url, local_http_server, member_address

FIXTURES = Path(__file__).parents[1] / "fixtures" / "jsonstats"
POOL = "0:" + "ab" * 32
OTHER = "0:" + "cd" * 32
SEED = OracleSigner.from_seed_text("oracle-test").seed
TIMEOUT = 3.0  # generous: a loaded 2-core CI machine must not time out a healthy worker
SLOW_DELAY = 10 * TIMEOUT


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    delay: float = 0.0


@dataclass
class StatsServer:
    """Serves fixture files like a Cocoon worker; routes can change between polls."""

    owner: str = POOL
    routes: dict[str, Route] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    def fixture(self, path: str, name: str, owner: str | None = None, delay: float = 0.0) -> str:
        text = (FIXTURES / name).read_text().replace("__OWNER_ADDRESS__", owner or self.owner)
        self.routes[path] = Route(200, text.encode(), delay)
        return self.url(path)

    def error(self, path: str, status: int) -> str:
        self.routes[path] = Route(status, b"internal error")
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def server() -> Iterator[StatsServer]:
    state = StatsServer()

    def answer(request: BaseHTTPRequestHandler) -> None:
        with state.lock:
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            route = state.routes.get(request.path, Route(404, b"not found"))
            if route.delay:
                time.sleep(route.delay)
            request.send_response(route.status)
            request.send_header("Content-Length", str(len(route.body)))
            request.end_headers()
            request.wfile.write(route.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the oracle gave up on a slow route, as it should
        finally:
            with state.lock:
                state.in_flight -= 1

    with local_http_server(answer) as port:
        state.port = port
        yield state


def write_config(
    tmp_path: Path,
    members: list[dict[str, str]],
    *,
    interval: int = 60,
    start: int = 1_000_000,
    length: int = 180,
    first: int = 0,
    distribution: str = POOL,
    auto_report: bool = False,
    seed: bytes = SEED,
    timeout: float = TIMEOUT,
    attempts: int = 3,
    retry_backoff: float = 0.05,
    extra: str = "",
) -> Path:
    (tmp_path / "oracle.key").write_text(seed.hex() + "\n")
    lines = [
        "[oracle]",
        'database_url = "sqlite:///oracle.db"',
        f"poll_interval = {interval}",
        f"timeout = {timeout}",
        f"attempts = {attempts}",
        f"retry_backoff = {retry_backoff}",
        "concurrency = 8",
        f'distribution = "{distribution}"',
        'key_file = "oracle.key"',
        f"auto_report = {str(auto_report).lower()}",
        extra,
        "[epoch]",
        f"start = {start}",
        f"length = {length}",
        f"first = {first}",
    ]
    for m in members:
        lines.append("[[members]]")
        lines.extend(f'{k} = "{v}"' for k, v in m.items())
    path = tmp_path / "oracle.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


class FakeClock:
    def __init__(self, t: float) -> None:
        self.t = t
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> bool:
        self.sleeps.append(seconds)
        self.t += seconds
        return True


# -- polling real HTTP workers ------------------------------------------------------------


def test_poll_classifies_every_kind_of_worker(server: StatsServer, tmp_path: Path) -> None:
    cases = {
        "healthy": {
            "stats_url": server.fixture("/a/jsonstats", "healthy.json"),
            "health_url": server.fixture("/a/health", "health_ok.txt"),
        },
        "zero": {
            "stats_url": server.fixture("/b/jsonstats", "zero_throughput.json"),
            "health_url": server.fixture("/b/health", "health_ok.json"),
        },
        "malformed": {"stats_url": server.fixture("/c/jsonstats", "malformed.json")},
        "missing": {"stats_url": server.fixture("/d/jsonstats", "missing_fields.json")},
        "error500": {"stats_url": server.error("/e/jsonstats", 500)},
        "slow": {"stats_url": server.fixture("/f/jsonstats", "healthy.json", delay=SLOW_DELAY)},
        "closed": {"stats_url": closed_port_url()},
        "sick": {
            "stats_url": server.fixture("/h/jsonstats", "healthy.json"),
            "health_url": server.fixture("/h/health", "health_error.txt"),
        },
        "stranger": {"stats_url": server.fixture("/i/jsonstats", "healthy.json", owner=OTHER)},
    }
    members = [
        {"address": member_address(i), "name": name, **urls}
        for i, (name, urls) in enumerate(cases.items())
    ]
    # One try per request: this test is about classification; retries have their own tests
    # (test_oracle_polls.py), and three tries of the slow worker would triple its time.
    config = load_config(write_config(tmp_path, members, attempts=1))
    with Oracle(config) as oracle:
        began = time.monotonic()
        results = oracle.sample(taken_at=1_000_000)
        elapsed = time.monotonic() - began
        with oracle.sessions() as session:
            rows = {r.member: r for r in session.scalars(select(Sample))}
    # Not a timing test: only that the poll gave up on the slow worker instead of waiting for
    # it (it answers after SLOW_DELAY, ten timeouts later), with room for a loaded machine.
    assert elapsed < SLOW_DELAY
    by_name = {r.member.name: r for r in results}
    expected = {
        "healthy": None,
        "zero": None,
        "malformed": "stats: malformed JSON",
        "missing": "stats: missing field stats.total_adjusted_tokens_used",
        "error500": "stats: HTTP 500",
        "slow": f"stats: timeout after {TIMEOUT:g} s",
        "closed": "stats: unreachable",
        "sick": "health: ERROR - 1 service(s) failing",
        "stranger": f"worker owner_address {OTHER} is not the pool",
    }
    for name, reason in expected.items():
        result = by_name[name]
        assert result.ok is (reason is None), (name, result.reason)
        if reason is not None:
            assert result.reason is not None and result.reason.startswith(reason), result.reason
        row = rows[result.member.address]
        assert (row.ok, row.reason, row.taken_at) == (result.ok, result.reason, 1_000_000)
    assert rows[member_address(4)].http_status == 500

    healthy = rows[member_address(0)]
    assert healthy.throughput_mtps == 2_057_612 and healthy.tokens_total == 4_803_000
    assert healthy.tokens_10m == 1234567.5 and healthy.earned_tokens == 4_750_000
    assert (healthy.queries_total, healthy.success_total, healthy.failed_total) == (1520, 1510, 10)
    assert healthy.gpu_model == "NVIDIA H100 80GB HBM3" and healthy.gpu_utilization == 87
    assert healthy.ai_model == "Qwen/Qwen3-32B" and healthy.owner_address == POOL
    assert healthy.wallet_balance == 2_500_000_000 and healthy.reason is None
    zero = rows[member_address(1)]
    assert zero.ok and zero.throughput_mtps == 0 and zero.gpu_model == "NVIDIA H200"


def test_concurrency_is_bounded(server: StatsServer, tmp_path: Path) -> None:
    members = [
        {
            "address": member_address(i),
            "stats_url": server.fixture(f"/{i}/jsonstats", "healthy.json", delay=0.2),
        }
        for i in range(6)
    ]
    path = write_config(tmp_path, members)
    path.write_text(path.read_text().replace("concurrency = 8", "concurrency = 2"))
    with Oracle(load_config(path)) as oracle:
        results = oracle.sample(taken_at=1_000_000)
    assert all(r.ok for r in results)
    assert server.max_in_flight == 2


# -- schema -------------------------------------------------------------------------------


def test_migrations_create_exactly_the_models(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade_head(engine)
    upgrade_head(engine)  # a second start is a no-op
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        assert context.get_current_revision() == "0002_polls"
    tables = set(inspect(engine).get_table_names())
    assert tables == {"alembic_version", "oracle_polls", "oracle_samples", "oracle_reports"}
    engine.dispose()


# -- schedule and restart -----------------------------------------------------------------


def test_restart_resumes_from_the_database(server: StatsServer, tmp_path: Path) -> None:
    url = server.fixture("/a/jsonstats", "healthy.json")
    path = write_config(tmp_path, [{"address": member_address(1), "stats_url": url}])
    clock = FakeClock(1_000_000.0)
    with Oracle(load_config(path), clock=clock) as oracle:
        first = oracle.run(StopFlag(), iterations=1, sleep=clock.sleep)
    assert (first.polls, first.samples, first.down) == (1, 1, 0)
    assert clock.sleeps == []

    clock.t += 10  # restarted 10 s later: the next sample is due 60 s after the last one
    with Oracle(load_config(path), clock=clock) as oracle:
        assert oracle.next_due() == 1_000_060
        second = oracle.run(StopFlag(), iterations=2, sleep=clock.sleep)
        with oracle.sessions() as session:
            times = list(session.scalars(select(Sample.taken_at).order_by(Sample.taken_at)))
    assert second.polls == 2
    assert clock.sleeps == [50.0, 60.0]
    assert times == [1_000_000, 1_000_060, 1_000_120]


def test_stop_during_the_wait_exits_without_polling(server: StatsServer, tmp_path: Path) -> None:
    url = server.fixture("/a/jsonstats", "healthy.json")
    path = write_config(tmp_path, [{"address": member_address(1), "stats_url": url}])
    clock = FakeClock(1_000_000.0)
    stop = StopFlag()

    def interrupted(seconds: float) -> bool:
        stop.set()  # SIGTERM arrives while waiting for the next slot
        return False

    with Oracle(load_config(path), clock=clock) as oracle:
        oracle.sample(taken_at=1_000_000)
        summary = oracle.run(stop, sleep=interrupted)
    assert summary.polls == 0 and summary.stopped


def test_run_signs_the_ended_epoch_once(server: StatsServer, tmp_path: Path) -> None:
    members = [
        {"address": member_address(1), "stats_url": server.fixture("/a/jsonstats", "healthy.json")},
        {"address": member_address(2), "stats_url": closed_port_url()},
    ]
    path = write_config(tmp_path, members, auto_report=True)
    clock = FakeClock(1_000_000.0)
    with Oracle(load_config(path), clock=clock) as oracle:
        summary = oracle.run(StopFlag(), iterations=5, sleep=clock.sleep)
        with oracle.sessions() as session:
            reports = {r.member: r for r in session.scalars(select(Report))}
    assert summary.polls == 5 and summary.reports == 2  # epoch 0 ended at poll 4
    good, bad = reports[member_address(1)], reports[member_address(2)]
    assert (good.running_seconds, good.uptime_bps, good.outages) == (180, 10_000, 0)
    assert good.gpu_score == 205_761  # 2_057_612 mtps * 100 // 1000 beats the table
    assert (bad.running_seconds, bad.uptime_bps, bad.outages, bad.gpu_score) == (0, 0, 1, 0)
    assert good.oracle_public_key == f"{OracleSigner(SEED).public_key:064x}"


def test_reports_are_idempotent(server: StatsServer, tmp_path: Path) -> None:
    url = server.fixture("/a/jsonstats", "healthy.json")
    path = write_config(tmp_path, [{"address": member_address(1), "stats_url": url}])
    clock = FakeClock(1_000_000.0)
    with Oracle(load_config(path), clock=clock) as oracle:
        for k in range(3):
            oracle.sample(taken_at=1_000_000 + 60 * k)
        with pytest.raises(OracleReportError, match="not over yet"):
            oracle.report(0)
        clock.t = 1_000_180
        (first,) = oracle.report(0)
        (again,) = oracle.report(0)
        server.error("/a/jsonstats", 500)
        oracle.sample(taken_at=1_000_150)  # a late down sample changes what we would sign
        (late,) = oracle.report(0)
        with oracle.sessions() as session:
            assert len(session.scalars(select(Report)).all()) == 1
    assert first.status == "new" and again.status == "existing" and late.status == "conflict"
    assert first.row.body_boc == again.row.body_boc == late.row.body_boc
    assert late.metrics == first.result.metrics
    assert late.result.metrics.uptime_bps == 6666


# -- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda s: s.replace("[epoch]", "[epochs]"), "missing table [epoch]"),
        (lambda s: s.replace("poll_interval = 60", "poll_interval = 0"), "poll_interval = 0"),
        (lambda s: s.replace(f"timeout = {TIMEOUT}", "timeout = 90"), "oracle.timeout = 90"),
        (lambda s: s.replace(POOL, "not-an-address"), "oracle.distribution"),
        (lambda s: s.replace('key_file = "oracle.key"', ""), "exactly one of oracle.key_file"),
        (lambda s: s.replace("http://", "ftp://"), "not an http(s) URL"),
        (lambda s: s.split("[[members]]")[0], "no [[members]]"),
        (
            lambda s: s + "[[members]]\naddress = '0:" + "0" * 63 + "1'\nstats_url = 'http://x/'\n",
            "listed twice",
        ),
        (lambda s: s.replace("length = 180", "length = 10"), "epoch.length = 10"),
        (lambda s: s.replace("[oracle]", "[oracle"), "not valid TOML"),
        (lambda s: s.replace("auto_report = false", "auto_report = 1"), "oracle.auto_report"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path: Path, mutate: object, message: str) -> None:
    path = write_config(
        tmp_path, [{"address": member_address(1), "stats_url": "http://127.0.0.1:1/jsonstats"}]
    )
    assert callable(mutate)
    path.write_text(mutate(path.read_text()))
    with pytest.raises(OracleConfigError) as info:
        load_config(path)
    assert message in info.value.message and info.value.hint


def test_key_sources_never_echo_the_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(
        tmp_path, [{"address": member_address(1), "stats_url": "http://127.0.0.1:1/jsonstats"}]
    )
    config = load_config(path)
    assert config.key.load().seed == SEED
    (tmp_path / "oracle.key").write_text("secret-but-wrong")
    with pytest.raises(OracleConfigError) as info:
        config.key.load()
    assert "secret" not in str(info.value) and "not a 32-byte seed" in info.value.message
    path.write_text(path.read_text().replace('key_file = "oracle.key"', 'key_env = "ORACLE_SEED"'))
    monkeypatch.delenv("ORACLE_SEED", raising=False)
    with pytest.raises(OracleConfigError, match="ORACLE_SEED"):
        load_config(path).key.load()
    monkeypatch.setenv("ORACLE_SEED", SEED.hex())
    assert load_config(path).key.load().public_key == OracleSigner(SEED).public_key
    assert load_config(path).database_url == f"sqlite:///{tmp_path.resolve() / 'oracle.db'}"


# -- CLI ----------------------------------------------------------------------------------


def test_cli_sample_run_report(server: StatsServer, tmp_path: Path) -> None:
    members = [
        {
            "address": member_address(1),
            "name": "alice",
            "stats_url": server.fixture("/a/jsonstats", "healthy.json"),
            "health_url": server.fixture("/a/health", "health_ok.txt"),
        },
        {"address": member_address(2), "name": "bob", "stats_url": server.error("/b/x", 500)},
    ]
    now = int(time.time())
    path = write_config(tmp_path, members, start=now - 3600, length=3600, first=5)
    runner = CliRunner()

    ran = runner.invoke(app, ["oracle", "run", "--config", str(path), "--once", "--json"])
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.stdout) == {
        "polls": 1,
        "samples": 2,
        "down": 1,
        "reports": 0,
        "stopped": False,
        "discarded_polls": 0,
    }

    result = runner.invoke(app, ["oracle", "sample", "--config", str(path), "--json"])
    assert result.exit_code == 0, result.output
    samples = json.loads(result.stdout)["samples"]
    assert [(s["name"], s["up"]) for s in samples] == [("alice", True), ("bob", False)]
    assert samples[0]["throughput_mtps"] == 2_057_612
    assert samples[1]["reason"] == "stats: HTTP 500 (after 3 attempts)"

    table = runner.invoke(app, ["oracle", "sample", "--config", str(path)])
    assert table.exit_code == 0
    for word in ("alice", "bob", "up", "down", "HTTP 500", "2,057.612", "NVIDIA H100"):
        assert word in table.stdout

    reported = runner.invoke(
        app, ["oracle", "report", "--config", str(path), "--epoch", "5", "--json"]
    )
    assert reported.exit_code == 0, reported.output
    out = json.loads(reported.stdout)
    assert out["epoch"] == 5 and out["start"] == now - 3600 and out["length"] == 3600
    assert [r["status"] for r in out["reports"]] == ["new", "new"]
    assert all(r["uptime_bps"] == 0 for r in out["reports"])  # no samples in that epoch
    assert decode_body(out["reports"][0]["body_boc"]).hash.hex() == out["reports"][0]["body_hash"]

    text = runner.invoke(app, ["oracle", "report", "--config", str(path), "--epoch", "5"])
    assert text.exit_code == 0 and "existing" in text.stdout

    early = runner.invoke(app, ["oracle", "report", "--config", str(path), "--epoch", "6"])
    assert early.exit_code == 1 and "not over yet" in early.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["oracle", "sample", "--config", "/nonexistent/oracle.toml"],
        ["oracle", "run", "--config", "/nonexistent/oracle.toml", "--once"],
        ["oracle", "report", "--config", "/nonexistent/oracle.toml", "--epoch", "1"],
        ["oracle", "report", "--config", "BROKEN", "--epoch", "1", "--json"],
    ],
)
def test_cli_bad_config_is_one_line_exit_2(argv: list[str], tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[oracle]\npoll_interval = 'soon'\n")
    argv = [str(broken) if a == "BROKEN" else a for a in argv]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "hint:" in lines[0]
    assert "Traceback" not in result.stderr


def test_cli_missing_key_at_report_is_exit_2(tmp_path: Path) -> None:
    path = write_config(
        tmp_path, [{"address": member_address(1), "stats_url": "http://127.0.0.1:1/jsonstats"}]
    )
    (tmp_path / "oracle.key").unlink()
    result = CliRunner().invoke(
        app, ["oracle", "report", "--config", str(path), "--epoch", "0", "--json"]
    )
    assert result.exit_code == 2 and "cannot read the oracle key file" in result.stderr
    assert "Traceback" not in result.stderr


# -- end to end: a stored report relayed on the embedded chain ----------------------------


def test_stored_reports_are_accepted_by_the_pool(server: StatsServer, tmp_path: Path) -> None:
    sb = PoolSandbox.create(oracle_seed="oracle-test")
    alice, bob = sb.add_member("alice"), sb.add_member("bob")
    ledger = sb.pool.ledger()
    epoch, start, length = ledger.current_epoch, ledger.epoch_start, ledger.epoch_length
    day = 86_400
    distribution = raw_address(sb.pool.distribution)
    server.owner = distribution
    members = [
        {
            "address": raw_address(alice.address),
            "name": "alice",
            "stats_url": server.fixture("/alice/jsonstats", "healthy.json"),
            "health_url": server.fixture("/alice/health", "health_ok.txt"),
        },
        {
            "address": raw_address(bob.address),
            "name": "bob",
            "stats_url": server.fixture("/bob/jsonstats", "zero_throughput.json"),
            "health_url": server.fixture("/bob/health", "health_ok.json"),
        },
    ]
    path = write_config(
        tmp_path,
        members,
        interval=day,
        start=start,
        length=length,
        first=epoch,
        distribution=distribution,
        seed=sb.signer.seed,
    )
    clock = FakeClock(float(start))
    with Oracle(load_config(path), clock=clock) as oracle:
        for k in range(length // day):
            if k == 3:
                server.error("/bob/jsonstats", 500)
            elif k == 4:
                server.fixture("/bob/jsonstats", "zero_throughput.json")
            oracle.sample(taken_at=start + k * day)
        clock.t = start + length
        stored = {r.row.member: r for r in oracle.report(epoch)}

    expected = {
        raw_address(alice.address): MemberMetrics(
            running_seconds=length, gpu_score=205_761, uptime_bps=10_000, outages=0
        ),
        raw_address(bob.address): MemberMetrics(
            running_seconds=length - day, gpu_score=143_000, uptime_bps=8571, outages=1
        ),
    }
    assert {m: r.metrics for m, r in stored.items()} == expected

    sb.close_epoch()
    for wallet in (alice, bob):
        body = stored[raw_address(wallet.address)].body()
        sb.keeper.send(sb.pool.distribution, report_value(1), body).assert_success()
        record = sb.pool.epoch_record(wallet.address, epoch)
        want = expected[raw_address(wallet.address)]
        assert record.found and record.epoch == epoch
        assert (record.running_seconds, record.gpu_score, record.uptime_bps, record.outages) == (
            want.running_seconds,
            want.gpu_score,
            want.uptime_bps,
            want.outages,
        )
    assert sb.pool.reporting_epoch().reporters == 2


def test_cli_status_names_match_the_reports_module() -> None:
    assert oracle_cmd.STATUS_CONFLICT == reports.STATUS_CONFLICT


def _signed(n: int) -> list[SubmitReport]:
    signer = OracleSigner.from_seed_text("batch-unit")
    pool = Address(member_address(0))
    metrics = MemberMetrics(600, 1_000, 9_900, 0)
    return [
        signer.submit_message(build_report(pool, 1, Address(member_address(i + 1)), metrics))
        for i in range(n)
    ]


def test_batch_message_chains_the_reports_unchanged() -> None:
    reports = _signed(3)
    head = batch_message(reports, query_id=42)
    links = [head]
    while links[-1].next is not None:
        nxt = links[-1].next
        assert nxt is not None
        links.append(SubmitReport.from_cell(nxt))
    # Each member's signed report and signatures ride as they are; only the chain changes.
    assert [(s.first, s.report, s.more) for s in links] == [
        (r.first, r.report, r.more) for r in reports
    ]
    assert [s.query_id for s in links] == [42, 0, 0]
    assert SubmitReport.from_cell(head.to_cell()) == head
    assert report_value(3) == fee("REPORT_BATCH_FEE") + 3 * fee("REPORT_FEE")


def test_batch_message_refuses_an_empty_or_oversized_batch() -> None:
    with pytest.raises(ValueError, match="at least one"):
        batch_message([])
    reports = _signed(MAX_REPORTS_PER_BATCH + 1)
    assert batch_message(reports[:MAX_REPORTS_PER_BATCH]).report == reports[0].report
    with pytest.raises(ValueError, match=f"at most {MAX_REPORTS_PER_BATCH}"):
        batch_message(reports)
