"""The keeper (`cocoon-pool keeper run`): a whole epoch on the embedded chain, paid exactly as the
reference model says; crash safety (a simulated kill -9 before and after every chain send, then
a restart from the keeper's database); /metrics and /healthz; the CLI over the devnet; and the
real `keeper run` process killed with SIGKILL mid-epoch on the devnet, restarted, and audited."""

from __future__ import annotations

import base64
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from ton_core import Address, Cell
from tonutils.contracts import WalletV4R2
from typer.testing import CliRunner

from cocoon_pool.accounting import IncomeTracker
from cocoon_pool.chain.emulator import Wallet
from cocoon_pool.chain.network import NetworkChain
from cocoon_pool.chain.types import AddressLike, Trace, Transaction, raw_address
from cocoon_pool.cli.keeper_cmd import keeper_app
from cocoon_pool.contracts import messages as m
from cocoon_pool.contracts.constants import ton
from cocoon_pool.contracts.events import EpochClosed, EpochFinalized, RewardSettled, trace_events
from cocoon_pool.contracts.exit_codes import code
from cocoon_pool.contracts.pool import Pool, PoolParams
from cocoon_pool.contracts.reports import (
    MAX_REPORTS_PER_BATCH,
    OracleSigner,
    cheap_batch_size,
    report_value,
)
from cocoon_pool.devnet import Devnet, DevnetError, serve
from cocoon_pool.economics import MemberMetrics, simulate_epoch
from cocoon_pool.keeper import (
    Keeper,
    KeeperSettings,
    Metrics,
    SignedReport,
    open_database,
    serve_metrics,
)
from cocoon_pool.keeper.errors import KeeperUsageError
from cocoon_pool.keeper.models import STATE_DONE, STATE_FAILED, STATE_SKIPPED, Action
from cocoon_pool.keeper.reports import OracleReports, QuorumReports
from cocoon_pool.oracle.db import open_database as open_oracle_database
from cocoon_pool.oracle.models import Report
from cocoon_pool.oracle.reports import signed_body
from cocoon_pool.sandbox import PoolSandbox
from network_fixtures import pool_toml, write_pool_toml

METRICS = {
    "alice": MemberMetrics(running_seconds=604_800, gpu_score=100, uptime_bps=9900, outages=0),
    "bob": MemberMetrics(running_seconds=604_800, gpu_score=100, uptime_bps=9000, outages=0),
    "carol": MemberMetrics(running_seconds=302_400, gpu_score=100, uptime_bps=7000, outages=5),
}
INCOME = ton(10)
FAST = KeeperSettings(settle_seconds=0, backoff_base=0, backoff_max=0)
"""The embedded chain runs a whole trace inside send(): nothing is ever in flight."""


class SimulatedCrash(BaseException):
    """kill -9: not an Exception, so nothing in the keeper catches it or records anything."""


@dataclass
class RecordingWallet:
    """The keeper's wallet, recording every trace; optionally dies around the n-th send."""

    inner: Wallet
    crash_before: int | None = None
    crash_after: int | None = None
    traces: list[Trace] = field(default_factory=list)
    sends: int = 0
    crashed: bool = False

    @property
    def address(self) -> Address:
        return self.inner.address

    def before_send(self) -> None:
        """Runs as each send begins, before it is counted: where a subclass fails or meddles."""

    def send(
        self,
        to: AddressLike,
        value: int,
        body: Cell | None = None,
        *,
        bounce: bool = True,
        state_init: tuple[Cell, Cell] | None = None,
    ) -> Trace:
        self.before_send()
        self.sends += 1
        if self.sends == self.crash_before:
            self.crashed = True
            raise SimulatedCrash(f"killed before send {self.sends}")
        trace = self.inner.send(to, value, body, bounce=bounce, state_init=state_init)
        self.traces.append(trace)
        if self.sends == self.crash_after:
            self.crashed = True
            raise SimulatedCrash(f"killed after send {self.sends}")
        return trace


@pytest.fixture(scope="module")
def base() -> PoolSandbox:
    """Three members (one per tier) and one epoch's income; each test forks it."""
    sb = PoolSandbox.create()
    for name in METRICS:
        sb.add_member(name)
    sb.pool.send_income(sb.proxy, INCOME).assert_success()
    return sb


def store_reports(
    url: str,
    signer: OracleSigner,
    distribution: Address,
    members: dict[str, Address],
    epoch: int,
    *,
    global_id: int,
    key_index: int = 0,
) -> None:
    """The oracle's signed reports of ``epoch``, stored as `oracle report` stores them."""
    engine, sessions = open_oracle_database(url)
    dist = raw_address(distribution)
    with sessions() as session:
        for name, metrics in METRICS.items():
            if name not in members:
                continue
            member = raw_address(members[name])
            body = signed_body(
                signer, dist, epoch, member, metrics, global_id=global_id, key_index=key_index
            ).to_cell()
            session.add(
                Report(
                    epoch=epoch,
                    member=member,
                    distribution=dist,
                    epoch_start=0,
                    epoch_length=604_800,
                    running_seconds=metrics.running_seconds,
                    gpu_score=metrics.gpu_score,
                    uptime_bps=metrics.uptime_bps,
                    outages=metrics.outages,
                    expected_samples=0,
                    up_samples=0,
                    discarded_slots=0,
                    oracle_public_key=f"{signer.public_key:064x}",
                    body_boc=base64.b64encode(body.to_boc()).decode("ascii"),
                    body_hash=body.hash.hex(),
                    created_at=0,
                )
            )
        session.commit()
    engine.dispose()


@dataclass
class Harness:
    sb: PoolSandbox
    keeper_db: str
    oracle_db: str
    first_tx: int
    epoch_end: int

    @contextmanager
    def keeper(
        self,
        wallet: RecordingWallet,
        metrics: Metrics | None = None,
        settings: KeeperSettings = FAST,
        wall: Callable[[], float] = time.time,
    ) -> Iterator[Keeper]:
        engine, sessions = open_database(self.keeper_db)
        reports = OracleReports(self.oracle_db, self.sb.pool.distribution)
        try:
            yield Keeper(
                chain=self.sb.chain,
                wallet=wallet,
                pool=self.sb.pool,
                sessions=sessions,
                reports=reports,
                clock=lambda: self.sb.chain.now,
                settings=settings,
                metrics=metrics,
                wall=wall,
            )
        finally:
            reports.close()
            engine.dispose()

    def drive(self, keeper: Keeper) -> None:
        """Step the keeper as time passes: to the epoch's end, then past the report deadline."""
        chain = self.sb.chain
        for _ in range(8):
            result = keeper.step()
            assert result.failures == 0, result.errors
            if result.sent:
                continue
            reporting = self.sb.pool.reporting_epoch()
            if chain.now < self.epoch_end:
                chain.set_now(self.epoch_end)
            elif reporting.active and chain.now <= reporting.deadline:
                chain.set_now(reporting.deadline + 1)
            else:
                return
        raise AssertionError("the keeper never settled")

    def trace(self) -> Trace:
        """Every transaction since the harness started, as one trace (for the events)."""
        return Trace(tuple(self.sb.chain.transactions[self.first_tx :]))


def harness(base: PoolSandbox, tmp_path: Path) -> Harness:
    sb = base.fork()
    ledger = sb.pool.ledger()
    oracle_db = f"sqlite:///{tmp_path / 'oracle.db'}"
    members = {name: w.address for name, w in sb.members.items()}
    store_reports(
        oracle_db,
        sb.signer,
        sb.pool.distribution,
        members,
        ledger.current_epoch,
        global_id=sb.chain.global_id,
    )
    return Harness(
        sb=sb,
        keeper_db=f"sqlite:///{tmp_path / 'keeper.db'}",
        oracle_db=oracle_db,
        first_tx=len(sb.chain.transactions),
        epoch_end=ledger.epoch_start + ledger.epoch_length,
    )


def settled_by_member(trace: Trace) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for event in trace_events(trace, RewardSettled):
        out.setdefault(raw_address(event.member), []).append(event.payout)
    return out


def expected_payouts(h: Harness) -> dict[str, int]:
    """The reference model's payouts for the epoch, from the chain's own close and finalize."""
    trace = h.trace()
    [closed] = trace_events(trace, EpochClosed)
    [finalized] = trace_events(trace, EpochFinalized)
    model = simulate_epoch(
        closed.received,
        h.sb.pool.ledger().commission_bps,
        finalized.reserve_in,
        list(METRICS.values()),
    )
    return {
        raw_address(h.sb.members[name].address): share.payout
        for name, share in zip(METRICS, model.shares, strict=True)
    }


def test_one_epoch_close_relay_finalize_crank(base: PoolSandbox, tmp_path: Path) -> None:
    h = harness(base, tmp_path)
    sb = h.sb
    wallet = RecordingWallet(sb.keeper)
    metrics = Metrics()
    with (
        h.keeper(wallet, metrics) as keeper,
        serve_metrics(metrics, 0, max_age=60) as url,
        httpx.Client(base_url=url) as http,
    ):
        assert http.get("/healthz").status_code == 503  # no step yet
        assert keeper.step().sent == 0  # the epoch is not over: nothing to do
        health = http.get("/healthz")
        assert health.status_code == 200 and health.json()["last_step_ok"] is True
        text = http.get("/metrics").text
        assert f"cocoon_keeper_pool_open_income_nanoton {sb.pool.ledger().open_income}" in text
        assert "# TYPE cocoon_keeper_epochs_closed_total counter" in text
        sb.chain.set_now(h.epoch_end)
        first = keeper.step()
        assert (first.closed, first.relayed, first.finalized, first.cranked) == (1, 3, 0, 0)
        assert first.report_batches == 1  # the three reports travel in one message
        reporting = sb.pool.reporting_epoch()
        assert reporting.active and reporting.reporters == 3
        sb.chain.set_now(reporting.deadline + 1)
        second = keeper.step()
        assert (second.closed, second.relayed, second.finalized, second.cranked) == (0, 0, 1, 3)
        # Everything is done: a further step sends nothing, and reads from its database.
        assert keeper.step().sent == 0
        scraped = http.get("/metrics")
        assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
        values = dict(
            line.rsplit(" ", 1) for line in scraped.text.splitlines() if not line.startswith("#")
        )
        ledger = sb.pool.ledger()
        assert values == {
            "cocoon_keeper_epochs_closed_total": "1",
            "cocoon_keeper_epochs_finalized_total": "1",
            "cocoon_keeper_reports_relayed_total": "3",
            "cocoon_keeper_report_batches_total": "1",
            "cocoon_keeper_payouts_sent_total": "3",
            "cocoon_keeper_failures_total": "0",
            "cocoon_keeper_wallet_balance_nanoton": str(sb.keeper.balance),
            "cocoon_keeper_pool_open_income_nanoton": str(ledger.open_income),
            "cocoon_keeper_pool_unsettled_nanoton": str(ledger.unsettled),
            "cocoon_keeper_current_epoch": "2",
            "cocoon_keeper_last_step_timestamp_seconds": values[
                "cocoon_keeper_last_step_timestamp_seconds"
            ],
            "cocoon_keeper_last_step_ok": "1",
        }
        assert abs(float(values["cocoon_keeper_last_step_timestamp_seconds"]) - time.time()) < 60
        assert http.get("/nope").status_code == 404
    assert all(not t.failed() for t in wallet.traces) and len(wallet.traces) == SENDS
    expected = expected_payouts(h)
    assert settled_by_member(h.trace()) == {m: [p] for m, p in expected.items()}
    sb.assert_conserved()
    assert not sb.pool.final_epoch(1).found  # every slip was claimed: the epoch retired


SENDS = 6
"""close, the 3 reports in one batch, finalize, 3 cranks."""
ACTIONS = 8
"""Rows of the keeper's database: close, 3 reports, finalize, 3 cranks."""


def member_balances(h: Harness) -> dict[str, int]:
    return {raw_address(w.address): w.balance for w in h.sb.members.values()}


@pytest.fixture(scope="module")
def baseline(base: PoolSandbox, tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """Member balances after an uninterrupted keeper run."""
    h = harness(base, tmp_path_factory.mktemp("baseline"))
    wallet = RecordingWallet(h.sb.keeper)
    with h.keeper(wallet) as keeper:
        h.drive(keeper)
    assert wallet.sends == SENDS
    return member_balances(h)


@pytest.mark.parametrize("where", ["before", "after"])
@pytest.mark.parametrize("n", range(1, SENDS + 1))
def test_killed_at_any_send_and_restarted_pays_everyone_once(
    base: PoolSandbox, baseline: dict[str, int], tmp_path: Path, n: int, where: str
) -> None:
    h = harness(base, tmp_path)
    dying = RecordingWallet(
        h.sb.keeper,
        crash_before=n if where == "before" else None,
        crash_after=n if where == "after" else None,
    )
    with pytest.raises(SimulatedCrash), h.keeper(dying) as keeper:
        h.drive(keeper)
    assert dying.crashed
    restarted = RecordingWallet(h.sb.keeper)
    with h.keeper(restarted) as keeper:
        h.drive(keeper)
    traces = dying.traces + restarted.traces
    # Never a refused message: the restart asked the chain before sending anything again,
    # so no replayed report (REPORT_REPLAYED) and no second crank (NOTHING_TO_CLAIM).
    assert [t.describe() for t in traces if t.failed()] == []
    assert len(traces) == SENDS
    expected = expected_payouts(h)
    assert settled_by_member(h.trace()) == {m: [p] for m, p in expected.items()}
    assert member_balances(h) == baseline
    h.sb.assert_conserved()
    engine, sessions = open_database(h.keeper_db)
    with sessions() as session:
        states = {(a.kind, a.member): a.state for a in session.query(Action)}
    engine.dispose()
    assert set(states.values()) == {STATE_DONE} and len(states) == ACTIONS


# -- the CLI over the local network ---------------------------------------------------------


def words() -> list[str]:
    return list(WalletV4R2.create(None)[3])  # type: ignore[arg-type]


SIGNER = OracleSigner.from_seed_text("keeper-oracle")
PARAMS = PoolParams(oracle_key=SIGNER.public_key)


@dataclass
class DevnetPool:
    """A pool deployed on a served devnet, ready for a keeper: 3 verified members, income in
    epoch 1, the oracle's signed reports of epoch 1 stored, and the keeper's pool.toml."""

    pool: Pool
    members: dict[str, Address]
    oracle_db: str
    config: Path
    keeper_address: Address


def devnet_pool(
    net: Devnet,
    url: str,
    chain: NetworkChain,
    tmp_path: Path,
    *,
    admin_words: list[str],
    keeper_words: list[str],
) -> DevnetPool:
    """``admin_words`` are the devnet faucet's; the keeper reads its words from
    ``KEEPER_TEST_WORDS`` (set it for the keeper)."""
    admin = chain.wallet(admin_words, "admin")
    pool, trace = Pool.deploy(chain, admin, PARAMS, ton(10))
    trace.assert_success()
    members: dict[str, Address] = {}
    for name in METRICS:
        member_words = words()
        with net.lock:
            net.fund_wallet(member_words, ton(100))
        wallet = chain.wallet(member_words, name)
        pool.register(wallet, PARAMS.min_stake).assert_success()
        pool.bind_worker(wallet, wallet.address).assert_success()
        pool.verify_member(admin, wallet.address).assert_success()
        members[name] = wallet.address
    with net.lock:
        keeper_address = net.fund_wallet(keeper_words, ton(100))
    pool.send_income(admin, INCOME).assert_success()
    oracle_db = f"sqlite:///{tmp_path / 'oracle.db'}"
    store_reports(oracle_db, SIGNER, pool.distribution, members, 1, global_id=chain.global_id)
    # The keeper's own sections follow the pool's (its database, the deployed addresses).
    extra = f"""
[addresses]
operator = "{raw_address(pool.operator)}"

[database]
url = "sqlite:///keeper.db"
"""
    text = pool_toml(
        url,
        raw_address(admin.address),
        mnemonic_env="KEEPER_TEST_WORDS",
        oracle_key=SIGNER.public_key,
        extra=extra,
    )
    config = write_pool_toml(tmp_path, text)
    return DevnetPool(pool, members, oracle_db, config, keeper_address)


def test_cli_keeps_a_pool_on_the_devnet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    admin_words, keeper_words = words(), words()
    net = Devnet.create(admin_words)
    with serve(net) as url, NetworkChain(url, poll_interval=0.02, trace_timeout=30) as chain:
        setup = devnet_pool(
            net, url, chain, tmp_path, admin_words=admin_words, keeper_words=keeper_words
        )
        pool, members, oracle_db, config = setup.pool, setup.members, setup.oracle_db, setup.config
        keeper_address = setup.keeper_address
        monkeypatch.setenv("KEEPER_TEST_WORDS", " ".join(keeper_words))
        argv = ["run", "--once", "--config", str(config), "--oracle-db", oracle_db]
        argv += ["--no-metrics", "--settle-seconds", "0", "--slack", "0", "--json", "--log-json"]
        runner = CliRunner()

        def keeper_once() -> dict[str, int]:
            result = runner.invoke(keeper_app, argv)
            assert result.exit_code == 0, result.output
            logs = [json.loads(line) for line in result.stderr.splitlines()]
            assert {"start", "step"} <= {entry.get("event") for entry in logs}
            totals: dict[str, int] = json.loads(result.stdout)["totals"]
            return totals

        assert keeper_once()["closed"] == 0
        ledger = pool.ledger()
        with net.lock:
            net.advance(ledger.epoch_start + ledger.epoch_length - net.chain.now)
        first = keeper_once()
        assert (first["closed"], first["relayed"], first["failures"]) == (1, 3, 0)
        reporting = pool.reporting_epoch()
        with net.lock:
            net.advance(reporting.deadline + 1 - net.chain.now)
        second = keeper_once()
        assert (second["finalized"], second["cranked"], second["failures"]) == (1, 3, 0)
        assert keeper_once()["cranked"] == 0
        with net.lock:
            everything = Trace(tuple(net.chain.transactions))
        assert (tmp_path / "keeper.db").exists()
        assert chain.get_balance(keeper_address) < ton(100)
    [closed] = trace_events(everything, EpochClosed)
    [finalized] = trace_events(everything, EpochFinalized)
    model = simulate_epoch(
        closed.received, PARAMS.commission_bps, finalized.reserve_in, list(METRICS.values())
    )
    assert settled_by_member(everything) == {
        raw_address(members[name]): [share.payout]
        for name, share in zip(METRICS, model.shares, strict=True)
    }


# -- kill -9 of the real process, mid-epoch, on the local network ---------------------------

KEEPER_CLI = Path(sys.executable).with_name("cocoon-pool")
DEADLINE = 60.0
"""Seconds any one wait may take: generous, for a loaded machine."""
LogLine = dict[str, object]


class KeeperProcess:
    """`cocoon-pool keeper run` as a child process; its JSON log lines are read as they come,
    and ``kill_when`` (a log line) sends it SIGKILL from the reading thread at once."""

    def __init__(
        self, argv: list[str], env: dict[str, str], kill_when: Callable[[LogLine], bool] | None
    ) -> None:
        self.lines: list[LogLine] = []
        self.killed_after: LogLine | None = None
        self._kill_when = kill_when
        self.proc = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            try:
                line: LogLine = json.loads(raw)
            except ValueError:
                line = {"msg": raw.rstrip()}  # not a log line (a traceback, say)
            self.lines.append(line)
            if self._kill_when is not None and self.killed_after is None and self._kill_when(line):
                self.killed_after = line
                self.kill()

    def killed(self) -> int:
        """Wait for a kill -9 that the test arranged; the exit code."""
        try:
            return self.proc.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"the keeper was never killed; its log:\n{self.log_tail()}"
            ) from None

    def kill(self) -> None:
        """kill -9: nothing in the keeper runs after this."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=DEADLINE)

    def stop(self) -> int:
        """SIGTERM: the keeper finishes its step and exits."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=DEADLINE)
        self._reader.join(timeout=DEADLINE)
        return code

    def log_tail(self) -> str:
        return "\n".join(json.dumps(line) for line in self.lines[-25:])


def wait_until(what: str, done: Callable[[], bool], keeper: KeeperProcess) -> None:
    deadline = time.monotonic() + DEADLINE
    while not done():
        if keeper.proc.poll() is not None and keeper.killed_after is None:
            raise AssertionError(f"the keeper exited ({keeper.proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; keeper log:\n{keeper.log_tail()}")
        time.sleep(0.1)


def action_states(db: Path) -> dict[tuple[str, str], str]:
    """(kind, member) -> state, read from the keeper's SQLite file as the keeper writes it."""
    if not db.exists():
        return {}
    with closing(sqlite3.connect(db, timeout=30)) as conn:
        try:
            rows = conn.execute("SELECT kind, member, state FROM keeper_actions").fetchall()
        except sqlite3.OperationalError:
            return {}  # not migrated yet
    return {(kind, member): state for kind, member, state in rows}


def test_the_keeper_process_killed_mid_epoch_pays_everyone_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kill -9 of the real `keeper run` loop, three times in one epoch on the devnet; then the
    books. The keeper's messages, in order: close, the 3 reports in one batch, finalize, 3
    cranks.

    1. Inside the devnet, right after the chain took the batch of reports and before the keeper
       hears back: the 3 intents are `sending`, the reports are on the chain (a blind retry
       would be refused: REPORT_REPLAYED by every member's contract).
    2. As soon as its log shows the first crank sent: it dies somewhere in the 2nd crank (a
       blind retry after a landed crank would be refused with NOTHING_TO_CLAIM).
    3. Inside the devnet, when the next crank arrives and before the chain takes it: its
       intent is `sending`, but nothing left (the member must not be skipped)."""
    admin_words, keeper_words = words(), words()
    net = Devnet.create(admin_words)
    db = tmp_path / "keeper.db"
    keepers: list[KeeperProcess] = []
    sends = 0
    kill_after = 2
    """kill -9 the keeper once the chain took its 2nd message (close, the report batch)."""
    kill_before: list[KeeperProcess] = []
    """Armed: kill -9 this keeper when its next message arrives, before the chain takes it."""
    real_send_boc = net.send_boc

    def send_boc(boc: str) -> dict[str, Any]:
        nonlocal sends
        if kill_before:
            kill_before.pop().kill()
            raise DevnetError("the sender died", hint="-")  # the message never reached a block
        answer = real_send_boc(boc)  # the whole trace runs here, on the chain
        sends += 1
        if sends == kill_after:
            keepers[0].kill()  # before the answer leaves: the keeper never learns the outcome
        return answer

    def on_chain(events: type[RewardSettled]) -> int:
        with net.lock:
            return len(trace_events(Trace(tuple(net.chain.transactions[first_tx:])), events))

    def crank_sent(line: LogLine) -> bool:
        return line.get("event") == "crank" and line.get("msg") == "crank sent"

    def states_by_kind() -> list[tuple[str, str]]:
        return sorted((kind, state) for (kind, _), state in action_states(db).items())

    with serve(net) as url, NetworkChain(url, poll_interval=0.02, trace_timeout=30) as chain:
        setup = devnet_pool(
            net, url, chain, tmp_path, admin_words=admin_words, keeper_words=keeper_words
        )
        pool = setup.pool
        env = {**os.environ, "KEEPER_TEST_WORDS": " ".join(keeper_words)}
        argv = [str(KEEPER_CLI), "keeper", "run", "--config", str(setup.config)]
        argv += ["--oracle-db", setup.oracle_db, "--interval", "0.2", "--no-metrics"]
        argv += ["--settle-seconds", "3", "--backoff", "1", "--slack", "0", "--log-json"]
        with net.lock:
            first_tx = len(net.chain.transactions)
        monkeypatch.setattr(net, "send_boc", send_boc)
        ledger = pool.ledger()
        with net.lock:  # epoch 1 is over: the keeper closes it and relays at once
            net.advance(ledger.epoch_start + ledger.epoch_length - net.chain.now)
        started = time.monotonic()
        hits: list[str] = []
        try:
            keepers.append(KeeperProcess(argv, env, kill_when=None))
            assert keepers[-1].killed() == -signal.SIGKILL, keepers[-1].log_tail()
            assert states_by_kind() == [("close", "done")] + [("report", "sending")] * 3
            assert pool.reporting_epoch().reporters == 3  # the batch is on the chain
            hits.append(f"kill 1 (after send 2): {states_by_kind()}, 3 reports on chain")

            keepers.append(KeeperProcess(argv, env, kill_when=crank_sent))
            wait_until(
                "all 3 reports on the chain and recorded",
                lambda: (
                    pool.reporting_epoch().reporters == 3
                    and [state for _, state in states_by_kind()] == ["done"] * 4
                ),
                keepers[-1],
            )
            reporting = pool.reporting_epoch()
            with net.lock:  # past the report window: the keeper finalizes and cranks
                net.advance(reporting.deadline + 1 - net.chain.now)
            assert keepers[-1].killed() == -signal.SIGKILL
            assert keepers[-1].killed_after is not None, keepers[-1].log_tail()
            hits.append(
                f"kill 2 (log: crank sent): {states_by_kind()}, "
                f"{on_chain(RewardSettled)} paid on chain"
            )

            paid = on_chain(RewardSettled)
            if paid < len(METRICS):  # (a slow log reader may let it pay everyone first)
                keepers.append(KeeperProcess(argv, env, kill_when=None))
                kill_before.append(keepers[-1])
                assert keepers[-1].killed() == -signal.SIGKILL, keepers[-1].log_tail()
                cranks = [state for kind, state in states_by_kind() if kind == "crank"]
                assert sorted(cranks) == ["done"] * paid + ["sending"]
                assert on_chain(RewardSettled) == paid  # that crank never reached the chain
                hits.append(f"kill 3 (before a crank): {states_by_kind()}, {paid} paid on chain")

            keepers.append(KeeperProcess(argv, env, kill_when=None))
            wait_until(
                "every action done",
                lambda: [state for _, state in states_by_kind()] == ["done"] * ACTIONS,
                keepers[-1],
            )
            assert keepers[-1].stop() == 0, keepers[-1].log_tail()
            elapsed = time.monotonic() - started
            print("\n".join([*hits, f"{len(keepers)} runs in {elapsed:.1f} s"]))  # pytest -s
        finally:
            for keeper in keepers:
                keeper.kill()
        with net.lock:
            everything = Trace(tuple(net.chain.transactions[first_tx:]))
            local = Pool(net.chain, pool.operator)
            books = IncomeTracker(net.chain, pool.distribution).check(local.ledger())
        ledger = pool.ledger()
    # Each action went out exactly once, and the chain refused nothing: no REPORT_REPLAYED,
    # no NOTHING_TO_CLAIM, no early close or finalize.
    assert sends == SENDS, hits
    assert [tx.describe() for tx in everything.failed()] == []
    [closed] = trace_events(everything, EpochClosed)
    [finalized] = trace_events(everything, EpochFinalized)
    model = simulate_epoch(
        closed.received, PARAMS.commission_bps, finalized.reserve_in, list(METRICS.values())
    )
    payouts = {
        raw_address(setup.members[name]): share.payout
        for name, share in zip(METRICS, model.shares, strict=True)
    }
    assert settled_by_member(everything) == {m: [p] for m, p in payouts.items()}
    assert ledger.paid == sum(payouts.values())
    assert (ledger.unsettled, ledger.pending_credit) == (0, 0)
    assert books.conserved, books
    states = action_states(db)
    assert set(states.values()) == {STATE_DONE} and len(states) == ACTIONS
    assert {kind for kind, _ in states} == {"close", "report", "finalize", "crank"}


def test_a_k_of_n_oracle_set_is_relayed_with_k_signatures(tmp_path: Path) -> None:
    """Each oracle of a 2-of-3 set signs alone into its own database; the keeper combines the
    signatures of the same report and relays one message per member. A member that only one
    oracle reported has no quorum and is not relayed."""
    oracles = [OracleSigner.from_seed_text(f"keeper-quorum-{i}") for i in range(3)]
    params = PoolParams(
        oracle_key=oracles[0].public_key,
        extra_oracle_keys=(oracles[1].public_key, oracles[2].public_key),
        oracle_quorum=2,
    )
    sb = PoolSandbox.create(params=params, oracle_seed="keeper-quorum-0")
    for name in METRICS:
        sb.add_member(name)
    sb.pool.send_income(sb.proxy, INCOME).assert_success()
    sb.close_epoch()
    everyone = {name: w.address for name, w in sb.members.items()}
    seen_by = ({"alice", "bob", "carol"}, {"alice"}, {"alice", "bob"})  # each oracle's DB
    urls = []
    for index, (oracle, names) in enumerate(zip(oracles, seen_by, strict=True)):
        url = f"sqlite:///{tmp_path / f'oracle-{index}.db'}"
        members = {n: a for n, a in everyone.items() if n in names}
        store_reports(
            url,
            oracle,
            sb.pool.distribution,
            members,
            1,
            global_id=sb.chain.global_id,
            key_index=index,
        )
        urls.append(url)
    quorum = QuorumReports([OracleReports(u, sb.pool.distribution) for u in urls], 2)
    try:
        signed = quorum.reports(1)
    finally:
        quorum.close()
    assert {raw_address(r.member) for r in signed} == {
        raw_address(everyone["alice"]),
        raw_address(everyone["bob"]),
    }
    for report in signed:
        trace = sb.keeper.send(sb.pool.distribution, report_value(1), report.body)
        trace.assert_success()
    view = sb.pool.reporting_epoch()
    assert view.reporters == 2
    sb.assert_conserved()


# -- edges: a paused pool, a send that fails, members the chain does not know ----------------


def test_a_paused_pool_holds_every_action_until_it_is_unpaused(
    base: PoolSandbox, tmp_path: Path
) -> None:
    h = harness(base, tmp_path)
    sb = h.sb
    sb.pool.admin_call(sb.pauser, m.PausePool(query_id=1)).assert_success()
    wallet = RecordingWallet(sb.keeper)
    with h.keeper(wallet) as keeper:
        sb.chain.set_now(h.epoch_end + 60)
        held = keeper.step()
        assert (held.sent, held.failures) == (0, 0) and held.waiting >= 1
        assert wallet.sends == 0
        sb.pool.admin_call(sb.admin, m.UnpausePool(query_id=2)).assert_success()
        h.drive(keeper)
    assert wallet.sends == SENDS and all(not t.failed() for t in wallet.traces)
    expected = expected_payouts(h)
    assert settled_by_member(h.trace()) == {member: [p] for member, p in expected.items()}
    sb.assert_conserved()


@dataclass
class FlakyWallet(RecordingWallet):
    """A wallet whose API call fails (the message may or may not have left) ``fail`` times."""

    fail: int = 1

    def before_send(self) -> None:
        if self.fail > 0:
            self.fail -= 1
            raise ConnectionError("the API closed the connection")


def test_a_send_that_fails_is_retried_only_after_it_could_have_landed(
    base: PoolSandbox, tmp_path: Path
) -> None:
    h = harness(base, tmp_path)
    sb = h.sb
    wallet = FlakyWallet(sb.keeper, fail=1)
    metrics = Metrics()
    engine, sessions = open_database(h.keeper_db)
    reports = OracleReports(h.oracle_db, sb.pool.distribution)
    wall = [1_000.0]
    keeper = Keeper(
        chain=sb.chain,
        wallet=wallet,
        pool=sb.pool,
        sessions=sessions,
        reports=reports,
        clock=lambda: sb.chain.now,
        settings=KeeperSettings(settle_seconds=30, backoff_base=1, backoff_max=10),
        metrics=metrics,
        wall=lambda: wall[0],
    )
    try:
        sb.chain.set_now(h.epoch_end)
        first = keeper.step()
        assert first.failures == 1 and first.closed == 0
        assert "close epoch 1" in first.errors[0] and "closed the connection" in first.errors[0]
        assert metrics.render().count("cocoon_keeper_failures_total 1") == 1
        with sessions() as session:
            [row] = session.scalars(select(Action)).all()
            assert (row.kind, row.state, row.failures) == ("close", "failed", 1)
            assert row.next_attempt_ms == 1_000_000 + 30_000  # the settle time, not the backoff
        wall[0] += 10  # within the settle time: held back, nothing sent
        held = keeper.step()
        assert (held.sent, held.failures) == (0, 0) and held.waiting >= 1
        assert wallet.sends == 0
        wall[0] += 30
        again = keeper.step()
        assert again.closed == 1 and again.failures == 0
    finally:
        reports.close()
        engine.dispose()
    assert sb.pool.ledger().current_epoch == 2


def test_reports_for_members_the_chain_does_not_know_are_skipped_unverified_ones_wait(
    base: PoolSandbox, tmp_path: Path
) -> None:
    h = harness(base, tmp_path)
    sb = h.sb
    unverified = sb.add_member("dave", verify=False)
    stranger = sb.wallet("stranger")
    epoch = sb.pool.ledger().current_epoch
    # dave's and a stranger's reports stand in the oracle's database next to the others'.
    extra = {"alice": unverified.address}
    store_reports(
        h.oracle_db, sb.signer, sb.pool.distribution, extra, epoch, global_id=sb.chain.global_id
    )
    extra = {"bob": stranger.address}
    store_reports(
        h.oracle_db, sb.signer, sb.pool.distribution, extra, epoch, global_id=sb.chain.global_id
    )
    wallet = RecordingWallet(sb.keeper)
    with h.keeper(wallet) as keeper:
        sb.chain.set_now(h.epoch_end)
        first = keeper.step()
        # The three members' reports go out; dave waits (the admin may still verify him); the
        # stranger has no Participant contract: never registered, so skipped, not a failure.
        assert (first.closed, first.relayed, first.failures) == (1, 3, 0)
        assert first.errors == []
        assert first.waiting >= 1
        with keeper.sessions() as session:
            states = {
                row.member: row.state
                for row in session.scalars(select(Action).where(Action.kind == "report"))
            }
        assert states[raw_address(stranger.address)] == "skipped"
        assert raw_address(unverified.address) not in states  # waiting leaves no row
        others = [v for k, v in states.items() if k != raw_address(stranger.address)]
        assert others == ["done"] * 3
    assert all(not t.failed() for t in wallet.traces)


# -- reports in batches ---------------------------------------------------------------------


def submit_transactions(sb: PoolSandbox, traces: Sequence[Trace]) -> list[Transaction]:
    """The distribution's SubmitReport transactions: one per relayed message (batch)."""
    return [tx for t in traces for tx in t.find_all(sb.pool.distribution, m.SubmitReport.PREFIX)]


def value_in(tx: Transaction) -> int:
    assert tx.in_message is not None
    return tx.in_message.value


def report_rows(keeper: Keeper) -> dict[str, Action]:
    with keeper.sessions() as session:
        rows = session.scalars(select(Action).where(Action.kind == "report")).all()
        session.expunge_all()
    return {row.member: row for row in rows}


def test_a_step_relays_the_reports_in_batches_of_the_configured_size(
    base: PoolSandbox, tmp_path: Path
) -> None:
    h = harness(base, tmp_path)
    sb = h.sb
    epoch = sb.pool.ledger().current_epoch
    # Five members: dave and erin report alice's and bob's metrics.
    extra = {"alice": sb.add_member("dave").address, "bob": sb.add_member("erin").address}
    store_reports(
        h.oracle_db, sb.signer, sb.pool.distribution, extra, epoch, global_id=sb.chain.global_id
    )
    members = [w.address for w in sb.members.values()]
    assert len(members) == 5
    wallet = RecordingWallet(sb.keeper)
    metrics = Metrics()
    with h.keeper(wallet, metrics, replace(FAST, report_batch_size=2)) as keeper:
        sb.chain.set_now(h.epoch_end)
        first = keeper.step()
        assert (first.closed, first.relayed, first.report_batches, first.failures) == (1, 5, 3, 0)
        # ceil(5 / 2) = 3 messages, each carrying exactly what its reports need.
        submits = submit_transactions(sb, wallet.traces)
        assert [tx.exit_code for tx in submits] == [0, 0, 0]
        assert sorted(value_in(tx) for tx in submits) == sorted(
            [report_value(1), report_value(2), report_value(2)]
        )
        assert len(wallet.traces) == 4  # the close, then the 3 batches
        for trace in wallet.traces[1:]:
            # What the batch did not spend comes back to the keeper.
            assert value_in(trace.find(sb.keeper.address, m.ReturnExcesses.PREFIX)) > 0
        assert sb.pool.reporting_epoch().reporters == 5
        for member in members:
            assert sb.pool.participant_info(member).last_reported_epoch == epoch
        # One row per member, done by its batch's message.
        rows = report_rows(keeper)
        assert set(rows) == {raw_address(a) for a in members}
        assert {(r.state, r.attempts, r.failures) for r in rows.values()} == {(STATE_DONE, 1, 0)}
        per_message = Counter(r.tx_hash for r in rows.values())
        assert sorted(per_message.values()) == [1, 2, 2]
        assert set(per_message) == {t.transactions[0].hash for t in wallet.traces[1:]}
        assert metrics.get("reports_relayed") == 5 and metrics.get("report_batches") == 3
        # Done is done: the next step sends nothing.
        again = keeper.step()
        assert (again.sent, again.failures, wallet.sends) == (0, 0, 4)
    sb.assert_conserved()


def test_a_batch_refused_for_one_bad_report_still_counts_the_good_ones(
    base: PoolSandbox, tmp_path: Path
) -> None:
    """dave's report is signed by a key outside the oracle set: the contract refuses the whole
    batch (BAD_SIGNATURE). The keeper relays that batch's reports one by one at once, so the
    three good ones count; dave's fails on its own row. Later it goes alone (quarantined), so
    it never takes another batch down: erin, verified meanwhile, gets her own message."""
    h = harness(base, tmp_path)
    sb = h.sb
    epoch = sb.pool.ledger().current_epoch
    dave = sb.add_member("dave")
    erin = sb.add_member("erin", verify=False)
    rogue = OracleSigner.from_seed_text("not-in-the-oracle-set")
    dist, global_id = sb.pool.distribution, sb.chain.global_id
    store_reports(h.oracle_db, rogue, dist, {"alice": dave.address}, epoch, global_id=global_id)
    store_reports(h.oracle_db, sb.signer, dist, {"bob": erin.address}, epoch, global_id=global_id)
    bad = code("BAD_SIGNATURE")
    wallet = RecordingWallet(sb.keeper)
    with h.keeper(wallet) as keeper:
        sb.chain.set_now(h.epoch_end)
        first = keeper.step()
        assert (first.closed, first.relayed, first.report_batches, first.failures) == (1, 3, 3, 1)
        assert first.waiting >= 1  # erin is not verified yet
        [refused, *singles] = submit_transactions(sb, wallet.traces)
        assert (value_in(refused), refused.exit_code) == (report_value(4), bad)
        assert sorted((value_in(tx), tx.exit_code) for tx in singles) == sorted(
            [(report_value(1), 0)] * 3 + [(report_value(1), bad)]
        )
        assert sb.pool.reporting_epoch().reporters == 3
        rows = report_rows(keeper)
        dave_row = rows.pop(raw_address(dave.address))
        assert (dave_row.state, dave_row.attempts) == (STATE_FAILED, 2)  # the batch, then alone
        assert dave_row.last_error is not None and f"exit {bad}" in dave_row.last_error
        assert {(r.state, r.attempts) for r in rows.values()} == {(STATE_DONE, 2)}
        assert raw_address(erin.address) not in rows

        sb.pool.bind_worker(erin, erin.address).assert_success()
        sb.pool.verify_member(sb.admin, erin.address).assert_success()
        sent = len(wallet.traces)
        second = keeper.step()
        assert (second.relayed, second.report_batches, second.failures) == (1, 1, 1)
        # Two messages, not a refused batch of two and then two more: erin's, and dave's alone.
        later = submit_transactions(sb, wallet.traces[sent:])
        assert sorted((value_in(tx), tx.exit_code) for tx in later) == [
            (report_value(1), 0),
            (report_value(1), bad),
        ]
        assert sb.pool.reporting_epoch().reporters == 4

        # Past the window, dave's report is given up (skipped); the others are paid.
        sb.chain.set_now(sb.pool.reporting_epoch().deadline + 1)
        h.drive(keeper)
        rows = report_rows(keeper)
        assert rows[raw_address(dave.address)].state == STATE_SKIPPED
        assert rows[raw_address(erin.address)].state == STATE_DONE
    paid = settled_by_member(h.trace())
    assert set(paid) == {raw_address(sb.members[n].address) for n in (*METRICS, "erin")}
    assert all(len(payouts) == 1 for payouts in paid.values())
    sb.assert_conserved()


@dataclass
class MeddlingWallet(RecordingWallet):
    """Runs ``meddle`` just before its ``meddle_at``-th send: something that lands on the chain
    between the keeper's checks and its message."""

    meddle_at: int = 0
    meddle: Callable[[], object] | None = None

    def before_send(self) -> None:
        if self.sends + 1 == self.meddle_at and self.meddle is not None:
            self.meddle()


def test_a_member_whose_contract_refuses_fails_alone_and_the_batch_counts(
    base: PoolSandbox, tmp_path: Path
) -> None:
    """The admin revokes bob just before the keeper's batch leaves: the distribution takes the
    batch, bob's contract refuses his ApplyReport (NOT_VERIFIED, the bounce takes it back out)
    and only bob's row fails; once bob is verified again, his report goes alone."""
    h = harness(base, tmp_path)
    sb = h.sb
    bob = sb.members["bob"]
    bob_raw = raw_address(bob.address)

    def revoke_bob() -> None:
        sb.pool.verify_member(sb.admin, bob.address, verified=False).assert_success()

    wallet = MeddlingWallet(sb.keeper, meddle_at=2, meddle=revoke_bob)
    with h.keeper(wallet) as keeper:
        sb.chain.set_now(h.epoch_end)
        first = keeper.step()
        assert (first.closed, first.relayed, first.report_batches, first.failures) == (1, 2, 1, 1)
        [batch] = wallet.traces[1:]
        assert batch.find(sb.pool.distribution, m.SubmitReport.PREFIX).exit_code == 0
        refused = batch.find(sb.pool.participant_address(bob.address), m.ApplyReport.PREFIX)
        assert refused.exit_code == code("NOT_VERIFIED")
        assert sb.pool.reporting_epoch().reporters == 2
        rows = report_rows(keeper)
        assert rows[bob_raw].state == STATE_FAILED
        assert f"exit {code('NOT_VERIFIED')}" in (rows[bob_raw].last_error or "")
        assert {r.state for k, r in rows.items() if k != bob_raw} == {STATE_DONE}

        held = keeper.step()  # bob is not verified: nothing to send
        assert (held.sent, held.failures) == (0, 0) and held.waiting >= 1
        sb.pool.verify_member(sb.admin, bob.address).assert_success()
        third = keeper.step()
        assert (third.relayed, third.report_batches, third.failures) == (1, 1, 0)
        assert sb.pool.reporting_epoch().reporters == 3
        assert report_rows(keeper)[bob_raw].state == STATE_DONE
    assert len(wallet.traces) == 3
    sb.assert_conserved()


@dataclass
class DroppingWallet(RecordingWallet):
    """The API fails on the ``drop_at``-th call: nobody knows whether the message left."""

    drop_at: int = 0
    calls: int = 0

    def before_send(self) -> None:
        self.calls += 1
        if self.calls == self.drop_at:
            raise ConnectionError("the API timed out")


def test_a_batch_whose_send_fails_is_one_failure_and_is_sent_again_after_settling(
    base: PoolSandbox, tmp_path: Path
) -> None:
    h = harness(base, tmp_path)
    sb = h.sb
    wallet = DroppingWallet(sb.keeper, drop_at=2)  # the close goes, the batch is lost
    wall = [1_000.0]
    settings = KeeperSettings(settle_seconds=30, backoff_base=1, backoff_max=10)
    with h.keeper(wallet, settings=settings, wall=lambda: wall[0]) as keeper:
        sb.chain.set_now(h.epoch_end)
        first = keeper.step()
        assert (first.closed, first.relayed, first.failures) == (1, 0, 1)
        assert "(batch of 3)" in first.errors[0] and "timed out" in first.errors[0]
        rows = report_rows(keeper)
        assert {(r.state, r.attempts, r.next_attempt_ms) for r in rows.values()} == {
            (STATE_FAILED, 1, 1_000_000 + 30_000)  # the settle time, not the backoff
        }
        wall[0] += 10
        held = keeper.step()
        assert (held.sent, held.failures) == (0, 0) and held.waiting >= 3
        wall[0] += 30
        again = keeper.step()
        assert (again.relayed, again.report_batches, again.failures) == (3, 1, 0)
        assert {(r.state, r.attempts) for r in report_rows(keeper).values()} == {(STATE_DONE, 2)}
    assert len(submit_transactions(sb, wallet.traces)) == 1
    assert sb.pool.reporting_epoch().reporters == 3


def test_the_report_batch_size_is_checked(tmp_path: Path) -> None:
    # Default: as many as stay within the TVM's ten cheap signature checks per transaction.
    assert KeeperSettings().report_batch_size is None
    assert [cheap_batch_size(k) for k in (1, 2, 3, 10, 11)] == [10, 5, 3, 1, 1]
    assert KeeperSettings(report_batch_size=MAX_REPORTS_PER_BATCH).report_batch_size == 50
    for size in (0, MAX_REPORTS_PER_BATCH + 1):
        with pytest.raises(KeeperUsageError, match="is not possible"):
            KeeperSettings(report_batch_size=size)
    # The CLI refuses it before it reads the config or connects anywhere.
    argv = ["run", "--config", str(tmp_path / "absent.toml"), "--oracle-db", "sqlite://"]
    too_big = CliRunner().invoke(
        keeper_app, [*argv, "--report-batch-size", str(MAX_REPORTS_PER_BATCH + 1)]
    )
    assert too_big.exit_code == 2 and "Traceback" not in too_big.stderr
    assert f"use 1 to {MAX_REPORTS_PER_BATCH}" in " ".join(too_big.stderr.split())
    assert CliRunner().invoke(keeper_app, [*argv, "--report-batch-size", "0"]).exit_code == 2


@dataclass
class MessySource:
    """A report source that lists every report twice (two oracle rows of one member) and adds
    ``garbled``: a member whose stored body is not a SubmitReport at all."""

    inner: OracleReports
    garbled: Address

    def reports(self, epoch: int) -> list[SignedReport]:
        found = list(self.inner.reports(epoch))
        junk = SignedReport(epoch, self.garbled, m.CloseEpoch(query_id=1).to_cell())
        return [*found, junk, *found]


def test_a_member_listed_twice_is_relayed_once_and_a_garbled_body_fails_alone(
    base: PoolSandbox, tmp_path: Path
) -> None:
    h = harness(base, tmp_path)
    sb = h.sb
    dave = sb.add_member("dave")
    wallet = RecordingWallet(sb.keeper)
    engine, sessions = open_database(h.keeper_db)
    reports = OracleReports(h.oracle_db, sb.pool.distribution)
    keeper = Keeper(
        chain=sb.chain,
        wallet=wallet,
        pool=sb.pool,
        sessions=sessions,
        reports=MessySource(reports, dave.address),
        clock=lambda: sb.chain.now,
        settings=FAST,
    )
    try:
        sb.chain.set_now(h.epoch_end)
        first = keeper.step()
        assert (first.relayed, first.report_batches, first.failures) == (3, 1, 1)
        assert "does not parse" in first.errors[0]
        [submit] = submit_transactions(sb, wallet.traces)
        assert value_in(submit) == report_value(3)  # the three good ones, each once
        rows = report_rows(keeper)
        assert rows[raw_address(dave.address)].state == STATE_FAILED
        assert rows[raw_address(dave.address)].attempts == 0  # nothing was ever sent for it
        assert sb.pool.reporting_epoch().reporters == 3
    finally:
        reports.close()
        engine.dispose()
    assert all(not t.failed() for t in wallet.traces)
