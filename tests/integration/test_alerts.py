"""The alerts service on seeded databases, with a fake Telegram Bot API and a webhook
receiver on 127.0.0.1.

The seed goes through the components' own code: the indexer's demo pool on the embedded
chain (one epoch paid, then a commission change proposed and cancelled, a pauser change
proposed, applied and accepted, a pause and an unpause) indexed by the real indexer; the
real oracle polling fake workers (one worker down for two samples, a discarded poll) and
signing two epochs of reports; the real keeper stepping with a wallet whose sends fail.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import delete, inspect, select
from sqlalchemy.orm import Session
from ton_core import Address, Cell
from typer.testing import CliRunner

from cocoon_pool.alerts import (
    KINDS,
    Alert,
    AlertsDatabaseError,
    AlertsUsageError,
    SinkError,
    detectors,
    recent_alerts,
)
from cocoon_pool.alerts.config import (
    AlertsSettings,
    RetryPolicy,
    TelegramSettings,
    WebhookSettings,
    alerts_database_url,
    alerts_settings,
)
from cocoon_pool.alerts.db import VERSION_TABLE, alembic_config, make_engine, upgrade_head
from cocoon_pool.alerts.models import Base, Cursor, Delivery, WorkerState
from cocoon_pool.alerts.service import AlertService
from cocoon_pool.alerts.sinks import SIGNATURE_HEADER, TelegramSink, WebhookSink, signature
from cocoon_pool.chain.emulator import Wallet
from cocoon_pool.chain.types import AddressLike, Trace
from cocoon_pool.cli.app import app
from cocoon_pool.cli.dashboard_cmd import alerts_for_page
from cocoon_pool.contracts import messages as m
from cocoon_pool.contracts.reports import OracleSigner
from cocoon_pool.errors import ChainError
from cocoon_pool.indexer import index_once
from cocoon_pool.indexer import open_database as open_indexer
from cocoon_pool.indexer.demo import DemoPool
from cocoon_pool.indexer.models import Payout
from cocoon_pool.keeper.core import Keeper, KeeperSettings, SignedReport
from cocoon_pool.keeper.db import open_database as open_keeper
from cocoon_pool.oracle import Oracle, load_config
from cocoon_pool.pool_config import load_pool_file
from local_http import member_address, serve_on_free_port

TOKEN = "123456:alerts-test-token-never-printed"
CHAT = "-1001234567890"
SECRET = "webhook-hmac-secret"
TOKEN_ENV = "COCOON_TEST_ALERTS_TOKEN"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "jsonstats"
INTERVAL = 60
EPOCH = 4 * INTERVAL
# Recent enough that nothing is older than max_age (1 day) when the tests run.
START = (int(time.time()) // INTERVAL) * INTERVAL - 3600
ALICE, BOB = member_address(1), member_address(2)
EXPECTED = Counter(
    {
        "worker_down": 1,
        "worker_recovered": 1,
        "tier_drop": 1,
        "payouts": 1,
        # a commission change proposed and cancelled, a pauser change proposed and applied
        "change_proposed": 2,
        "change_cancelled": 1,
        "change_applied": 1,
        "role_accepted": 1,
        "pool_paused": 1,
        "pool_unpaused": 1,
        "keeper_failure": 1,
        "keeper_unhealthy": 1,
    }
)


# -- local HTTP servers ------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes = b""
    content_type: str = "application/json"


Handler = Callable[[str, str, dict[str, str], bytes], Answer | None]


@contextmanager
def local_server(handle: Handler) -> Iterator[int]:
    """GET and POST on a free port of 127.0.0.1; ``handle`` may answer None (drop)."""

    class RequestHandler(BaseHTTPRequestHandler):
        # Keep-alive: one connection (and server thread) per client, not per request.
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            answer = handle(self.command, self.path, dict(self.headers.items()), body)
            if answer is None:
                self.close_connection = True
                return
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serve_on_free_port(RequestHandler) as port:
        yield port


def _json(status: int, data: object) -> Answer:
    return Answer(status, json.dumps(data).encode())


@dataclass
class FakeBotApi:
    """The two Bot API methods the sink uses, for one bot token."""

    messages: list[dict[str, str]] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    fail_with: int | None = None
    """Answer sendMessage with this status (502: Telegram's gateway is down)."""
    retry_after: int | None = None
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def texts(self) -> list[str]:
        return [msg["text"] for msg in self.messages]

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        token, _, call = path.removeprefix("/bot").partition("/")
        with self.lock:
            self.calls[call] += 1
        if method != "POST" or token != TOKEN:
            return _json(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        if call == "getMe":
            me = {"id": 42, "is_bot": True, "first_name": "Pool alerts", "username": "alerts_bot"}
            return _json(200, {"ok": True, "result": me})
        if call != "sendMessage":
            return _json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        if self.retry_after is not None:
            return _json(
                429,
                {
                    "ok": False,
                    "error_code": 429,
                    "description": "Too Many Requests",
                    "parameters": {"retry_after": self.retry_after},
                },
            )
        if self.fail_with is not None:
            return Answer(self.fail_with, b"<html>Bad Gateway</html>", "text/html")
        fields = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        with self.lock:
            self.messages.append(fields)
            number = len(self.messages)
        chat = {"id": int(fields["chat_id"]), "type": "supergroup", "title": "ops"}
        message = {"message_id": number, "date": int(time.time()), "chat": chat}
        return _json(200, {"ok": True, "result": {**message, "text": fields["text"]}})


@dataclass
class WebhookReceiver:
    """Checks each POST's HMAC before accepting it, like a careful receiver would."""

    secret: bytes = SECRET.encode()
    received: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    fail_with: int | None = None
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/alerts"

    def titles(self) -> list[str]:
        return [str(alert["title"]) for alert in self.received]

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        with self.lock:
            self.attempts += 1
        if method != "POST" or path != "/hooks/alerts":
            return Answer(404)
        if self.fail_with is not None:
            return Answer(self.fail_with, b"down")
        expected = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(headers.get(SIGNATURE_HEADER, ""), expected):
            return Answer(401, b"bad signature")
        alert = json.loads(body)
        assert headers["X-Cocoon-Alert-Key"] == alert["dedupe_key"]
        with self.lock:
            self.received.append(alert)
        return Answer(204)


@dataclass
class KeeperHealth:
    status: int = 503

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        assert (method, path) == ("GET", "/healthz")
        return _json(self.status, {"ok": self.status == 200})


@pytest.fixture
def bot() -> Iterator[FakeBotApi]:
    api = FakeBotApi()
    with local_server(api.handle) as port:
        api.port = port
        yield api


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    with local_server(receiver.handle) as port:
        receiver.port = port
        yield receiver


@pytest.fixture
def health() -> Iterator[tuple[KeeperHealth, str]]:
    state = KeeperHealth()
    with local_server(state.handle) as port:
        yield state, f"http://127.0.0.1:{port}"


# -- the seed ----------------------------------------------------------------------------


@dataclass
class Seed:
    oracle_db: str
    indexer_db: str
    keeper_db: str
    payouts: list[tuple[str, int]]
    """(member, transferred) of the epoch-1 payouts, from the indexer."""


class FailingWallet:
    """The keeper's wallet while its API is unreachable: every send raises."""

    def __init__(self, wallet: Wallet) -> None:
        self.wallet = wallet

    @property
    def address(self) -> Address:
        return self.wallet.address

    def send(
        self,
        to: AddressLike,
        value: int,
        body: Cell | None = None,
        *,
        bounce: bool = True,
        state_init: tuple[Cell, Cell] | None = None,
    ) -> Trace:
        raise ChainError("connection refused by the API", "try again later")


class NoReports:
    def reports(self, epoch: int) -> list[SignedReport]:
        return []


def seed_chain(tmp: Path) -> tuple[str, str, list[tuple[str, int]]]:
    demo = DemoPool()
    demo.run_epoch()
    sb, pool = demo.sandbox, demo.sandbox.pool
    pool.propose_change(sb.admin, m.ChangeCommission(bps=1200)).assert_success()
    pool.admin_call(sb.admin, m.CancelChange(query_id=pool.next_query_id())).assert_success()
    nominee = sb.wallet("new-pauser")
    pool.propose_change(sb.admin, m.ChangePauser(nominee=nominee.address)).assert_success()
    sb.chain.set_now(pool.pending_change().apply_after)
    pool.admin_call(sb.admin, m.ApplyChange(query_id=pool.next_query_id())).assert_success()
    pool.admin_call(nominee, m.AcceptRole(query_id=pool.next_query_id())).assert_success()
    pool.admin_call(nominee, m.PausePool(query_id=pool.next_query_id())).assert_success()
    pool.admin_call(sb.admin, m.UnpausePool(query_id=pool.next_query_id())).assert_success()

    indexer_db = f"sqlite:///{tmp / 'indexer.db'}"
    engine, sessions = open_indexer(indexer_db)
    with sessions() as session:
        index_once(session, demo.source, [demo.operator])
        payouts = [(p.member, p.transferred) for p in session.scalars(select(Payout))]
    engine.dispose()

    # The open epoch is over: the keeper's close is due, and its wallet cannot send.
    ledger = pool.ledger()
    sb.chain.set_now(ledger.epoch_start + ledger.epoch_length + 1)
    keeper_db = f"sqlite:///{tmp / 'keeper.db'}"
    engine, keeper_sessions = open_keeper(keeper_db)
    keeper = Keeper(
        chain=sb.chain,
        wallet=FailingWallet(sb.keeper),
        pool=pool,
        sessions=keeper_sessions,
        reports=NoReports(),
        clock=lambda: sb.chain.now,
        settings=KeeperSettings(settle_seconds=0, backoff_base=0, backoff_max=0),
    )
    for _ in range(3):
        assert keeper.step().failures == 1
    engine.dispose()
    return indexer_db, keeper_db, payouts


def seed_oracle(tmp: Path) -> str:
    healthy = (FIXTURES / "healthy.json").read_text().replace("__OWNER_ADDRESS__", "0:" + "ab" * 32)
    up = {"/alice": True, "/bob": True}
    silent = threading.Event()

    def worker(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer | None:
        if silent.is_set():
            return None  # no response at all: the oracle's own network looks down
        return Answer(200, healthy.encode()) if up[path] else Answer(503, b"busy")

    (tmp / "oracle.key").write_text(OracleSigner.from_seed_text("alerts").seed.hex())
    with local_server(worker) as port:
        lines = [
            "[oracle]",
            f'database_url = "sqlite:///{tmp / "oracle.db"}"',
            f'distribution = "0:{"ab" * 32}"',
            'key_file = "oracle.key"',
            "auto_report = false",
            f"poll_interval = {INTERVAL}",
            "timeout = 3.0",
            "attempts = 1",
            "discard_poll_min_members = 2",
            "[epoch]",
            f"start = {START}",
            f"length = {EPOCH}",
        ]
        for name, member in (("alice", ALICE), ("bob", BOB)):
            url = f"http://127.0.0.1:{port}/{name}"
            lines += ["[[members]]", f'address = "{member}"', f'stats_url = "{url}"']
        path = tmp / "oracle.toml"
        path.write_text("\n".join(lines) + "\n")
        with Oracle(load_config(path), clock=lambda: START + 2 * EPOCH) as oracle:
            for slot in range(4):  # epoch 0: everybody up
                oracle.poll(START + slot * INTERVAL)
            oracle.poll(START + EPOCH)
            silent.set()
            assert oracle.poll(START + EPOCH + 10).discarded  # counts for nobody
            silent.clear()
            up["/alice"] = False
            oracle.poll(START + EPOCH + INTERVAL)
            oracle.poll(START + EPOCH + 2 * INTERVAL)
            up["/alice"] = True
            oracle.poll(START + EPOCH + 3 * INTERVAL)
            oracle.report(0)
            oracle.report(1)
    return f"sqlite:///{tmp / 'oracle.db'}"


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Seed:
    tmp = tmp_path_factory.mktemp("alerts-seed")
    oracle_db = seed_oracle(tmp)
    indexer_db, keeper_db, payouts = seed_chain(tmp)
    return Seed(oracle_db, indexer_db, keeper_db, payouts)


# -- pool.toml ---------------------------------------------------------------------------


def pool_toml(tmp_path: Path, alerts: str | None, *, token: bool = True) -> Path:
    admin = "0:" + "11" * 32
    text = (
        f'network = "local"\n[roles]\nadmin = "{admin}"\n'
        f'[pool]\noracle_keys = ["{"22" * 32}"]\n'
        '[database]\nurl = "sqlite:///pool.db"\n'
    )
    if alerts is not None:
        text += "[alerts]\n" + alerts
    path = tmp_path / "pool.toml"
    path.write_text(text)
    return path


def full_config(
    tmp_path: Path,
    seed: Seed,
    bot: FakeBotApi,
    hook: WebhookReceiver,
    *,
    health_url: str | None = None,
    extra: str = "",
) -> Path:
    (tmp_path / "hook.secret").write_text(SECRET + "\n")
    lines = [
        'database_url = "sqlite:///alerts.db"',
        f'oracle_database = "{seed.oracle_db}"',
        f'indexer_database = "{seed.indexer_db}"',
        f'keeper_database = "{seed.keeper_db}"',
        "outage_samples = 2",
        "keeper_failures = 3",
        f"telegram_chat_id = {CHAT}",
        f'telegram_token_env = "{TOKEN_ENV}"',
        f'telegram_api = "{bot.url}"',
        f'webhook_url = "{hook.url}"',
        'webhook_secret_file = "hook.secret"',
        "send_attempts = 2",
        "send_backoff = 0.01",
        "send_backoff_max = 0.05",
        "send_timeout = 5",
        "poll_interval = 30",
    ]
    if health_url is not None:
        lines.append(f'keeper_metrics = "{health_url}"')
    return pool_toml(tmp_path, "\n".join(lines) + "\n" + extra)


@pytest.fixture(autouse=True)
def bot_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


def cli(*args: str | Path) -> tuple[int, dict[str, Any] | None, str]:
    result = CliRunner().invoke(app, ["alerts", *(str(a) for a in args)])
    assert TOKEN not in result.output and SECRET not in result.output
    try:
        data = json.loads(result.stdout)
    except ValueError:
        data = None
    return result.exit_code, data, result.stderr


def once(config: Path) -> dict[str, Any]:
    code, data, stderr = cli("once", "--config", config, "--json")
    assert code == 0, stderr
    assert data is not None
    return data


# -- every kind, once, to both sinks -----------------------------------------------------


def test_every_kind_fires_exactly_once_and_reaches_both_sinks(
    seed: Seed,
    tmp_path: Path,
    bot: FakeBotApi,
    hook: WebhookReceiver,
    health: tuple[KeeperHealth, str],
) -> None:
    keeper_health, health_url = health
    config = full_config(tmp_path, seed, bot, hook, health_url=health_url)

    first = once(config)
    found = first["found"]
    assert Counter(a["kind"] for a in found) == EXPECTED
    assert len({a["dedupe_key"] for a in found}) == len(found)
    assert (first["sent"], first["pending"], first["failed"]) == (2 * len(found), 0, {})
    assert first["config"]["telegram_token"] == "**********"
    assert first["config"]["webhook_url"] == f"http://127.0.0.1:{hook.port}/***"
    # Both sinks got every alert once, in the order found; the chat got the severity marks.
    assert hook.titles() == [a["title"] for a in found]
    assert bot.texts() == [Alert(**_fields(a)).message() for a in found]
    assert {msg["chat_id"] for msg in bot.messages} == {CHAT}
    assert bot.calls["getMe"] == 1  # the bot is initialised once per run
    for alert in found:
        assert alert["severity"] == KINDS[alert["kind"]]
        assert abs(alert["created_at"] - time.time()) < 600

    by_kind = {a["kind"]: a for a in found}
    down = by_kind["worker_down"]["details"]
    # The discarded poll at +10 s (the oracle's own outage) did not start Alice's outage.
    assert down == {
        "member": ALICE,
        "down_since": START + EPOCH + INTERVAL,
        "reason": down["reason"],
    }
    assert "HTTP 503" in down["reason"]
    assert by_kind["worker_recovered"]["details"]["up_at"] == START + EPOCH + 3 * INTERVAL
    drop = by_kind["tier_drop"]["details"]
    assert (drop["member"], drop["epoch"], drop["previous_tier"], drop["tier"]) == (
        ALICE,
        1,
        "bonus",
        "major-penalty",
    )
    assert drop["uptime_bps"] == 5_000
    payout = by_kind["payouts"]["details"]
    assert (payout["epoch"], payout["count"]) == (1, 3)
    assert payout["sent_nanoton"] == sum(amount for _, amount in seed.payouts)
    assert payout["kept_pending"] == sum(1 for _, amount in seed.payouts if amount == 0) == 1
    proposed = [a for a in found if a["kind"] == "change_proposed"]
    assert proposed[0]["title"] == "Change proposed: commission to 12.00% (1200 bps)"
    assert proposed[1]["title"].startswith("Change proposed: pauser to 0:")
    assert by_kind["change_cancelled"]["details"]["commission_bps"] == 1200
    assert (
        by_kind["change_applied"]["details"]["pauser"]
        == by_kind["role_accepted"]["details"]["holder"]
    )
    assert by_kind["pool_paused"]["severity"] == "critical"
    failure = by_kind["keeper_failure"]["details"]
    assert (failure["action"], failure["epoch"], failure["failures"]) == ("close", 2, 3)
    assert "connection refused" in failure["last_error"]
    assert "503" in by_kind["keeper_unhealthy"]["details"]["reason"]

    # A restart (a new service on the same database) finds nothing new and sends nothing.
    again = once(config)
    assert (again["found"], again["sent"], again["pending"]) == ([], 0, 0)
    assert len(hook.received) == len(bot.messages) == len(found)

    # The keeper answers again: one recovery, then quiet.
    keeper_health.status = 200
    recovered = once(config)
    assert [a["kind"] for a in recovered["found"]] == ["keeper_recovered"]
    assert once(config)["found"] == []
    assert hook.titles()[-1] == "Keeper healthy again"

    # The operator page's view: newest first, each with its deliveries.
    url = f"sqlite:///{tmp_path / 'alerts.db'}"
    recent = recent_alerts(url, limit=3)
    assert [r["kind"] for r in recent] == ["keeper_recovered", found[-1]["kind"], found[-2]["kind"]]
    assert [d["sink"] for d in deliveries(recent[0])] == ["telegram", "webhook"]
    assert all(d["state"] == "sent" for d in deliveries(recent[0]))
    assert len(recent_alerts(url)) == len(found) + 1
    assert recent_alerts(url, limit=0) == []

    # The dashboard reads the same database from pool.toml's [alerts] table.
    assert alerts_database_url(load_pool_file(config)) == url
    page = alerts_for_page(url, limit=2)
    assert page[0] == {
        "level": "info",
        "time": recent[0]["created_at"],
        "kind": "keeper_recovered",
        "message": f"Keeper healthy again: {recent[0]['text']}",
    }
    assert [a["kind"] for a in page] == [r["kind"] for r in recent[:2]]


def deliveries(alert: dict[str, object]) -> list[dict[str, Any]]:
    return cast(list[dict[str, Any]], alert["deliveries"])


def _fields(alert: dict[str, Any]) -> dict[str, Any]:
    return {f.name: alert[f.name] for f in dataclasses.fields(Alert)}


def test_the_schema_matches_the_models(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'alerts.db'}")
    upgrade_head(engine)
    upgrade_head(engine)  # idempotent
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) == {VERSION_TABLE}
    upgrade_head(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"include_name": lambda n, t, p: t != "table" or n in Base.metadata.tables},
        )
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


# -- failing sinks -----------------------------------------------------------------------


def test_a_failing_sink_loses_nothing_and_catches_up_when_it_recovers(
    seed: Seed, tmp_path: Path, bot: FakeBotApi, hook: WebhookReceiver
) -> None:
    config = full_config(tmp_path, seed, bot, hook)
    bot.fail_with = 502  # Telegram's gateway is down
    code, data, _ = cli("once", "--config", config, "--json")
    assert code == 1 and data is not None
    found = len(data["found"])
    assert found == sum(EXPECTED.values()) - 1  # no keeper_metrics here
    error = data["failed"]["telegram"]
    assert error.startswith("telegram: Bad Gateway (502)") and error.endswith("(after 2 attempts)")
    # The webhook got everything; Telegram was tried twice for the first alert
    # (send_attempts = 2), then left for the next round with the others, in order.
    assert (data["sent"], data["pending"]) == (found, found)
    assert (len(hook.received), bot.calls["sendMessage"], bot.messages) == (found, 2, [])

    bot.fail_with = None
    data = once(config)
    assert (data["found"], data["sent"], data["pending"]) == ([], found, 0)
    assert hook.titles() == [msg["text"].split("\n")[0].split(" ", 1)[1] for msg in bot.messages]
    assert once(config)["sent"] == 0

    first = recent_alerts(f"sqlite:///{tmp_path / 'alerts.db'}", limit=found)[-1]
    tries = {d["sink"]: d["attempts"] for d in deliveries(first)}
    assert tries == {"telegram": 2, "webhook": 1}
    assert all(d["last_error"] is None for d in deliveries(first))


def test_a_receiver_that_rejects_the_signature_is_not_retried_within_the_round(
    seed: Seed, tmp_path: Path, bot: FakeBotApi, hook: WebhookReceiver
) -> None:
    hook.secret = b"another secret"
    config = full_config(tmp_path, seed, bot, hook)
    code, _, stderr = cli("once", "--config", config)
    assert code == 1
    assert "warning: webhook failed, retried next round: webhook: HTTP 401 from the receiver" in (
        stderr
    )
    assert hook.attempts == 1  # a 4xx will not change on another try
    found = len(bot.messages)
    code, data, _ = cli("once", "--config", config, "--json")
    assert code == 1 and data is not None
    assert data["failed"] == {"webhook": "webhook: HTTP 401 from the receiver"}
    assert (data["found"], data["pending"], hook.attempts) == ([], found, 2)
    # The header is HMAC-SHA256 of the exact body with the configured secret.
    body = b'{"kind":"test"}'
    assert signature(SECRET.encode(), body) == (
        "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    )


def test_telegram_flood_control_waits_the_bounded_time_it_asks(bot: FakeBotApi) -> None:
    pauses: list[float] = []
    policy = RetryPolicy(attempts=3, backoff=0.01, backoff_max=2.0, timeout=5)
    sink = TelegramSink(TelegramSettings(CHAT, _secret(TOKEN), bot.url), policy, pauses.append)
    bot.retry_after = 30
    alert = detectors.test_alert(START)
    with pytest.raises(SinkError, match=r"flood control, retry in 30 s \(after 3 attempts\)"):
        sink.send(alert)
    assert pauses == [2.0, 2.0]  # Telegram asked for 30 s; capped at send_backoff_max
    bot.retry_after = None
    long = dataclasses.replace(alert, text="x" * 5000)
    sink.send(long)
    assert len(bot.messages[-1]["text"]) == 4096 and bot.messages[-1]["text"].endswith("…")
    sink.close()


def test_telegram_errors_never_show_the_token(bot: FakeBotApi) -> None:
    policy = RetryPolicy(attempts=1, timeout=5)
    wrong = TelegramSink(TelegramSettings(CHAT, _secret("999:wrong"), bot.url), policy)
    with pytest.raises(SinkError) as info:
        wrong.send(detectors.test_alert(START))
    assert info.value.message == "telegram: the Bot API rejected the bot token"
    wrong.close()

    bot.fail_with = 403
    sink = TelegramSink(TelegramSettings(CHAT, _secret(TOKEN), bot.url), policy)
    with pytest.raises(SinkError) as info:
        sink.send(detectors.test_alert(START))
    assert "Forbidden" in info.value.message and "member of that chat" in info.value.hint
    sink.close()

    # Nothing listens: the connection error names no URL (it would hold the token).
    dead = TelegramSink(TelegramSettings(CHAT, _secret(TOKEN), "http://127.0.0.1:9"), policy)
    with pytest.raises(SinkError) as info:
        dead.send(detectors.test_alert(START))
    assert TOKEN not in str(info.value)
    dead.close()


def test_a_webhook_that_cannot_be_reached_backs_off_boundedly() -> None:
    pauses: list[float] = []
    policy = RetryPolicy(attempts=4, backoff=0.01, backoff_max=0.02, timeout=2)
    sink = WebhookSink(WebhookSettings("http://127.0.0.1:9/x"), policy, pauses.append)
    with pytest.raises(SinkError, match=r"ConnectError.*\(after 4 attempts\)"):
        sink.send(detectors.test_alert(START))
    assert pauses == [0.01, 0.02, 0.02]
    sink.close()


def _secret(text: str) -> Any:
    from pydantic import SecretStr  # noqa: PLC0415

    return SecretStr(text)


# -- the test command --------------------------------------------------------------------


def test_alerts_test_sends_one_alert_to_every_sink(
    seed: Seed, tmp_path: Path, bot: FakeBotApi, hook: WebhookReceiver
) -> None:
    config = full_config(tmp_path, seed, bot, hook)
    code, data, _ = cli("test", "--config", config, "--json")
    assert code == 0
    assert data == {
        "sinks": {"telegram": {"ok": True, "error": None}, "webhook": {"ok": True, "error": None}}
    }
    assert bot.texts() == ["ℹ️ Test alert from cocoon-pool\n\nIf you read this, alerts from this "
                           "pool reach this channel."]  # fmt: skip
    assert [a["kind"] for a in hook.received] == ["test"]
    assert recent_alerts(f"sqlite:///{tmp_path / 'alerts.db'}") == []  # not stored

    hook.fail_with = 500
    result = CliRunner().invoke(app, ["alerts", "test", "--config", str(config)])
    assert result.exit_code == 1
    assert "sent" in result.stdout and "webhook: HTTP 500 (after 2 attempts)" in result.stdout


# -- the loop, restarts and sources ------------------------------------------------------


def test_run_stops_on_sigterm_after_the_round_in_progress(
    seed: Seed, tmp_path: Path, bot: FakeBotApi, hook: WebhookReceiver
) -> None:
    config = full_config(tmp_path, seed, bot, hook)
    expected = sum(EXPECTED.values()) - 1

    def stop_when_delivered() -> None:
        deadline = time.monotonic() + 20
        while len(hook.received) < expected and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=stop_when_delivered, daemon=True)
    killer.start()
    result = CliRunner().invoke(
        app, ["alerts", "run", "--config", str(config), "--interval", "0.2"]
    )
    killer.join()
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].strip() == "warning worker_down: Worker down: 0:0000…0001"
    totals = dict(item.split("=") for item in lines[-1].split())
    assert (totals["found"], totals["sent"]) == (str(expected), str(2 * expected))
    assert int(totals["rounds"]) >= 1
    assert len(bot.messages) == expected


def test_cursors_resume_in_batches_and_old_or_minor_alerts_are_kept_unsent(
    seed: Seed,
    tmp_path: Path,
    bot: FakeBotApi,
    hook: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(detectors, "BATCH", 2)  # every source is read over several pages
    settings = alerts_settings(load_pool_file(full_config(tmp_path, seed, bot, hook)))
    settings = dataclasses.replace(settings, min_severity="error")
    with AlertService(settings) as service:
        result = service.run_once()
    kinds = Counter(a.kind for a in result.found)
    assert kinds == EXPECTED - Counter({"keeper_unhealthy": 1})
    sent = {"keeper_failure", "pool_paused"}  # error and critical only
    assert sorted(a["kind"] for a in hook.received) == sorted(sent)
    assert result.sent == 2 * len(sent)

    # Years later, with payouts off, a fresh database reads the same history: all of it is
    # recorded for the operator page, none of it is sent.
    later = dataclasses.replace(
        settings,
        database_url=f"sqlite:///{tmp_path / 'later.db'}",
        min_severity="info",
        payouts=False,
    )
    with AlertService(later, clock=lambda: 2_000_000_000.0) as service:
        result = service.run_once()
        with service.sessions() as state:
            cursors = {c.name: c.value for c in state.scalars(select(Cursor))}
            deliveries = state.scalars(select(Delivery)).all()
    assert Counter(a.kind for a in result.found) == kinds - Counter({"payouts": 1})
    assert deliveries == [] and result.sent == 0
    assert set(cursors) == {"oracle_sample", "oracle_report", "indexer_event", "indexer_payout"}
    assert cursors["indexer_payout"] == len(seed.payouts)

    # Even with its cursors and worker states lost, the database's keys stop every repeat.
    with AlertService(later) as service:
        with service.sessions.begin() as state:
            state.execute(delete(Cursor))
            state.execute(delete(WorkerState))
        assert service.run_once().found == []


def test_sources_not_created_yet_are_waited_for_and_a_broken_one_fails_the_round_only(
    tmp_path: Path, bot: FakeBotApi, hook: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    settings = AlertsSettings(
        database_url=f"sqlite:///{tmp_path / 'alerts.db'}",
        oracle_database=empty,
        indexer_database=empty,
        keeper_database=empty,
        webhook=WebhookSettings(hook.url, _secret(SECRET)),
        retry=RetryPolicy(attempts=1, timeout=5),
    )
    with AlertService(settings) as service:
        result = service.run_once()
        assert (result.found, result.waiting) == ([], ["oracle", "indexer", "keeper"])
        assert service.send_test() == {"webhook": None}
    result_cli = CliRunner().invoke(
        app, ["alerts", "once", "--config", str(_waiting_config(tmp_path, empty))]
    )
    assert result_cli.exit_code == 0
    assert "note: the indexer database has no tables yet" in result_cli.stderr
    assert "found 0, sent 0, pending 0" in result_cli.stdout

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    broken = dataclasses.replace(settings, indexer_database=f"sqlite:///{garbage}")
    with AlertService(broken) as service:
        with pytest.raises(AlertsDatabaseError, match="nothing was stored"):
            service.run_once()
        stop = threading.Event()
        threading.Timer(0.3, stop.set).start()
        rounds = service.run(stop, interval=0.05)
    assert rounds >= 1
    assert "an alerts round failed" in caplog.text
    with pytest.raises(AlertsDatabaseError, match="cannot read the alerts database"):
        recent_alerts(f"sqlite:///{garbage}")
    assert recent_alerts(empty) == []
    missing = tmp_path / "never-created.db"
    assert recent_alerts(f"sqlite:///{missing}") == [] and not missing.exists()
    assert recent_alerts("sqlite://") == []
    with pytest.raises(AlertsUsageError, match="cannot use database"):
        recent_alerts("nosuchdriver://x")
    with pytest.raises(AlertsUsageError, match="cannot use database"):
        recent_alerts("not a url")


def _waiting_config(tmp_path: Path, empty: str) -> Path:
    return pool_toml(
        tmp_path,
        f'indexer_database = "{empty}"\nkeeper_database = "{empty}"\n',
    )


def test_payouts_off_moves_the_cursor_without_alerting(seed: Seed, tmp_path: Path) -> None:
    engine, sessions = open_indexer(seed.indexer_db)
    state_engine = make_engine(f"sqlite:///{tmp_path / 'alerts.db'}")
    Base.metadata.create_all(state_engine)
    with Session(state_engine) as state, sessions() as indexer:
        assert detectors.payouts(state, indexer, enabled=False) == []
        assert detectors.get_cursor(state, "indexer_payout") == len(seed.payouts)
        assert detectors.payouts(state, indexer, enabled=True) == []
    engine.dispose()
    state_engine.dispose()


# -- configuration -----------------------------------------------------------------------


BAD_CONFIGS = [
    (None, "no [alerts] table", "add [alerts]"),
    (
        "telegram_chatid = 1\n",
        "unknown key alerts.telegram_chatid",
        "did you mean telegram_chat_id",
    ),
    ("telegram_chat_id = 5\n", "telegram_chat_id is set but no bot token", "telegram_token_env"),
    (
        f'telegram_chat_id = 5\ntelegram_token_env = "{TOKEN_ENV}_UNSET"\n',
        f"environment variable {TOKEN_ENV}_UNSET (the Telegram bot token) is not set",
        f"export {TOKEN_ENV}_UNSET",
    ),
    (
        f'telegram_token_env = "{TOKEN_ENV}"\n',
        "a bot token is named but no telegram_chat_id",
        "set telegram_chat_id",
    ),
    (
        f'telegram_token_env = "{TOKEN_ENV}"\ntelegram_token_file = "t"\n',
        "give at most one of alerts.telegram_token_env and alerts.telegram_token_file",
        "keep the one",
    ),
    (
        'telegram_chat_id = 5\ntelegram_token_file = "missing.token"\n',
        "cannot read the Telegram bot token file",
        "alerts.telegram_token_file in pool.toml",
    ),
    ('telegram_chat_id = "ops"\n', "telegram_chat_id = 'ops': not a Telegram chat id", "-100"),
    ('webhook_url = "ftp://example.com/x"\n', "alerts.webhook_url: not an http(s) URL", "POSTed"),
    (
        'webhook_url = "https://user:pw@example.com/x"\n',
        "alerts.webhook_url: must not carry a user or password",
        "POSTed",
    ),
    (
        f'webhook_secret_env = "{TOKEN_ENV}"\n',
        "a webhook secret is named but no webhook_url",
        "set webhook_url",
    ),
    (
        'send_attempts = "3"\n',
        "alerts.send_attempts = '3': input should be a valid integer",
        "1..10",
    ),
    ('send_backoff = "1s"\n', "not a number of seconds", "doubled"),
    ('poll_interval = "soon"\n', "alerts.poll_interval = 'soon': not a duration", "1 s..1 day"),
    ('min_severity = "loud"\n', "alerts.min_severity = 'loud'", '"warning"'),
    ('database_url = "not a url"\n', "alerts.database_url is not a database URL", "sqlite:///"),
    (
        'keeper_database = "postgresql://keeper:hunter2@db/pool"\n',
        "alerts.keeper_database holds a password",
        "PGPASSWORD",
    ),
    ("", "no sink is configured", "set telegram_chat_id"),
]


@pytest.mark.parametrize(("alerts", "message", "hint"), BAD_CONFIGS)
def test_a_bad_config_is_one_clear_line(
    tmp_path: Path, alerts: str | None, message: str, hint: str
) -> None:
    config = pool_toml(tmp_path, alerts)
    code, _, stderr = cli("test", "--config", config)
    assert code == 2, stderr
    assert stderr.startswith("error: ") and len(stderr.strip().splitlines()) == 1
    assert message in stderr and hint in stderr.split("(hint: ", 1)[1]
    assert "hunter2" not in stderr and "Traceback" not in stderr


def test_settings_resolve_paths_next_to_the_file_and_print_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    config = pool_toml(
        tmp_path,
        'oracle_database = "sqlite:///../oracle.db"\n'
        'keeper_database = "postgresql+psycopg://keeper@db/pool"\n'
        'indexer_database = "sqlite:////srv/indexer.db"\n'
        'database_url = "sqlite://"\n'
        'telegram_chat_id = "@pool_ops"\n'
        f'telegram_token_env = "{TOKEN_ENV}"\n'
        'webhook_url = "https://hooks.example.com"\n'
        'webhook_secret_env = "HOOK_SECRET"\n'
        "send_backoff = 0.5\n"
        'poll_interval = "2m"\n'
        'max_age = "7d"\n'
        'keeper_metrics = "http://127.0.0.1:9108/"\n',
    )
    settings = alerts_settings(load_pool_file(config))
    assert settings.oracle_database == f"sqlite:///{tmp_path.parent.resolve() / 'oracle.db'}"
    assert settings.keeper_database == "postgresql+psycopg://keeper@db/pool"
    assert settings.indexer_database == "sqlite:////srv/indexer.db"
    assert settings.database_url == "sqlite://"
    assert settings.keeper_metrics == "http://127.0.0.1:9108"
    assert (settings.poll_interval, settings.max_age) == (120, 7 * 86_400)
    assert settings.retry == RetryPolicy(attempts=3, backoff=0.5, backoff_max=30.0, timeout=10.0)
    assert settings.sink_names() == ["telegram", "webhook"]
    assert settings.telegram is not None and settings.telegram.chat_id == "@pool_ops"
    shown = json.dumps(settings.describe())
    assert TOKEN not in shown and SECRET not in shown
    assert settings.describe()["webhook_url"] == "https://hooks.example.com"
    assert settings.describe()["webhook_signed"] is True
    assert TOKEN not in repr(settings) and SECRET not in repr(settings)
    default = alerts_settings(load_pool_file(pool_toml(tmp_path, "payouts = false\n")))
    pool_db = f"sqlite:///{(tmp_path / 'pool.db').resolve()}"
    assert (default.database_url, default.indexer_database, default.keeper_database) == (
        pool_db,
        pool_db,
        pool_db,
    )
    assert (default.oracle_database, default.telegram, default.webhook) == (None, None, None)
    assert default.describe()["sinks"] == [] and default.describe()["webhook_url"] is None


def test_keeper_health_unreachable_is_one_alert(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'alerts.db'}")
    Base.metadata.create_all(engine)
    import httpx  # noqa: PLC0415

    def refused(url: str) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    with Session(engine) as state:
        (alert,) = detectors.keeper_health(state, "http://127.0.0.1:9", 100, refused)
        assert alert.details["reason"] == "/healthz unreachable: ConnectError: connection refused"
        assert detectors.keeper_health(state, "http://127.0.0.1:9", 160, refused) == []
    engine.dispose()
