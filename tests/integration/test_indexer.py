"""The indexer on a real pool run (the demo pool: 3 members, 3 epochs, pending amounts,
commission, a member leaving), on SQLite and on a real PostgreSQL server.

Every expectation is derived from the chain itself, independently of the indexer: events
decoded from ``chain.transactions``, Participant addresses computed from the contract code,
and the values that actually reached the members' wallets.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, select
from sqlalchemy.orm import Session

from cocoon_pool.chain.types import AddressLike, Transaction, raw_address
from cocoon_pool.cli.app import main
from cocoon_pool.contracts import events as ev
from cocoon_pool.contracts.constants import fee
from cocoon_pool.indexer import (
    EmulatedChainSource,
    IndexCounts,
    IndexerSourceError,
    csv_rows,
    csv_text,
    explorer_url,
    index_once,
    load_history,
    open_database,
)
from cocoon_pool.indexer import demo as demo_module
from cocoon_pool.indexer import index as index_loop
from cocoon_pool.indexer.db import VERSION_TABLE
from cocoon_pool.indexer.demo import DemoPool
from cocoon_pool.indexer.models import (
    Base,
    CommissionPayment,
    EpochResult,
    IndexedContract,
    IndexedEvent,
    IndexedTransaction,
    Payout,
    StakeChange,
)
from cocoon_pool.oracle.db import upgrade_head as oracle_upgrade_head
from postgres import postgres_server  # noqa: F401  (fixture, used via getfixturevalue)

CSV_HEADER = "date,type,epoch,amount_ton,amount_nanoton,account,counterparty,tx_hash,explorer_url"


@dataclass
class Run:
    demo: DemoPool
    cuts: list[int]
    """The chain's last lt after each step: members joined, epochs 1-3, wrap-up."""

    @property
    def chain_txs(self) -> list[Transaction]:
        return self.demo.sandbox.chain.transactions

    def pool_contracts(self) -> dict[str, str]:
        """Raw address -> role, computed from the contract code (not discovered)."""
        pool = self.demo.sandbox.pool
        found = {
            raw_address(pool.operator): "operator",
            raw_address(pool.registry): "registry",
            raw_address(pool.distribution): "distribution",
        }
        for wallet in self.demo.members.values():
            found[raw_address(pool.participant_address(wallet.address))] = "participant"
        return found

    def events(self) -> list[tuple[Transaction, int, ev.Event]]:
        """Every pool event on the chain, in execution order, with its index in the tx."""
        contracts = self.pool_contracts()
        return [
            (tx, i, event)
            for tx in self.chain_txs
            if tx.address_raw in contracts
            for i, event in ev.indexed_events(tx)
        ]


@pytest.fixture(scope="module")
def run() -> Run:
    demo = DemoPool()
    cuts = [demo.sandbox.chain.transactions[-1].lt]
    for _ in range(3):
        demo.run_epoch()
        cuts.append(demo.sandbox.chain.transactions[-1].lt)
    demo.wrap_up()
    cuts.append(demo.sandbox.chain.transactions[-1].lt)
    return Run(demo, cuts)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'indexer.db'}"
    server = request.getfixturevalue("postgres_server")
    url: str = server.new_database(request.node.name)
    return url


@pytest.fixture
def database(database_url: str) -> Iterator[tuple[Engine, Session]]:
    engine, sessions = open_database(database_url)
    with sessions() as session:
        yield engine, session
    engine.dispose()


class CutSource(EmulatedChainSource):
    """The chain as it was when its last transaction had lt ``cut``: what an indexer running
    at that moment would have seen."""

    def __init__(self, run: Run, cut: int) -> None:
        super().__init__(run.demo.sandbox.chain)
        self.cut = cut

    def transactions(
        self, address: AddressLike, after_lt: int, limit: int | None = None
    ) -> list[Transaction]:
        found = [tx for tx in super().transactions(address, after_lt) if tx.lt <= self.cut]
        return found if limit is None else found[:limit]


class FlakySource(EmulatedChainSource):
    """Fails on the given calls, like a network source losing its connection."""

    def __init__(self, run: Run, fail_on: set[int]) -> None:
        super().__init__(run.demo.sandbox.chain)
        self.fail_on = fail_on
        self.calls = 0

    def transactions(
        self, address: AddressLike, after_lt: int, limit: int | None = None
    ) -> list[Transaction]:
        self.calls += 1
        if self.calls in self.fail_on:
            raise ConnectionError("connection reset by peer")
        return super().transactions(address, after_lt, limit)


def snapshot(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored row without surrogate ids, in a canonical order."""

    def rows(model: Any, *columns: str) -> list[tuple[Any, ...]]:
        found = session.scalars(select(model)).all()
        return sorted(
            (tuple(getattr(r, c) for c in columns) for r in found),
            key=repr,
        )

    facts = ("pool", "contract", "tx_hash", "utime", "lt")
    return {
        "contracts": rows(
            IndexedContract, "address", "pool", "role", "member", "network", "last_lt",
            "last_utime", "transactions",
        ),
        "transactions": rows(
            IndexedTransaction, "pool", "address", "lt", "hash", "utime", "op", "source",
            "value", "success", "exit_code", "fees", "event_count",
        ),
        "events": rows(
            IndexedEvent, "pool", "address", "lt", "event_index", "utime", "tx_hash", "kind",
            "epoch", "member", "amount", "fields",
        ),
        "payouts": rows(
            Payout, *facts, "kind", "member", "epoch", "amount", "pending_carry", "paid_now",
            "transferred",
        ),
        "stakes": rows(StakeChange, *facts, "kind", "member", "amount", "member_count"),
        "commissions": rows(CommissionPayment, *facts, "recipient", "amount"),
        "epochs": rows(
            EpochResult, *(c.name for c in EpochResult.__table__.columns if c.name != "id")
        ),
    }  # fmt: skip


def operator(run: Run) -> str:
    return raw_address(run.demo.operator)


def received_from_distribution(run: Run, member: str) -> list[int]:
    """Values of the messages the member's wallet received from the RewardDistribution."""
    distribution = raw_address(run.demo.sandbox.pool.distribution)
    return [
        tx.in_message.value
        for tx in run.chain_txs
        if tx.address_raw == member
        and tx.in_message is not None
        and tx.in_message.src is not None
        and raw_address(tx.in_message.src) == distribution
    ]


def assert_received(run: Run, member: str, payouts: list[tuple[str, int]]) -> None:
    """Each payout matches, in order, a message the member's wallet received: a cranked
    reward carries exactly the amount (the keeper gets its excess back separately); taking
    pending out also returns what is left of the member's own request fee."""
    received = received_from_distribution(run, member)
    assert len(received) == len(payouts) > 0
    for (kind, amount), value in zip(payouts, received, strict=True):
        if kind == "reward":
            assert value == amount
        else:
            assert amount < value < amount + fee("MEMBER_OP_FEE")


# -- the indexed history equals the chain -------------------------------------------------


def test_index_matches_the_chain(run: Run, database: tuple[Engine, Session]) -> None:
    _, session = database
    sb = run.demo.sandbox
    counts = index_once(session, run.demo.source, [run.demo.operator])

    # Discovery found exactly the pool's contracts, each with its role.
    stored = {c.address: c.role for c in session.scalars(select(IndexedContract))}
    assert stored == run.pool_contracts()
    for c in session.scalars(select(IndexedContract)):
        own = [tx for tx in run.chain_txs if tx.address_raw == c.address]
        assert (c.transactions, c.last_lt, c.network) == (len(own), own[-1].lt, "embedded")
    pool_txs = [tx for tx in run.chain_txs if tx.address_raw in stored]
    events = run.events()
    assert (counts.transactions, counts.events, counts.new_contracts) == (
        len(pool_txs),
        len(events),
        len(stored),
    )
    hashes = {t.hash for t in session.scalars(select(IndexedTransaction))}
    assert hashes == {tx.hash for tx in pool_txs}

    # Payouts: exactly the RewardSettled and PendingPaid events, in order.
    settled = [(tx, e) for tx, _, e in events if isinstance(e, ev.RewardSettled)]
    rewards = session.scalars(
        select(Payout).where(Payout.kind == "reward").order_by(Payout.lt)
    ).all()
    assert [
        (p.member, p.epoch, p.amount, p.pending_carry, p.paid_now, p.tx_hash, p.utime)
        for p in rewards
    ] == [
        (raw_address(e.member), e.epoch, e.payout, e.pending_carry, e.paid_now, tx.hash, tx.now)
        for tx, e in settled
    ]
    assert len(rewards) == 9 and sum(not p.paid_now for p in rewards) == 2
    assert any(p.paid_now and p.pending_carry > 0 for p in rewards)
    taken = [e for _, _, e in events if isinstance(e, ev.PendingPaid)]
    pending_rows = session.scalars(select(Payout).where(Payout.kind == "pending")).all()
    assert [(p.member, p.amount) for p in pending_rows] == [
        (raw_address(e.member), e.amount) for e in taken
    ]
    assert len(pending_rows) == 1

    # ... and what the members' wallets actually received from the distribution, one by one.
    all_payouts = session.scalars(select(Payout).order_by(Payout.lt)).all()
    for wallet in run.demo.members.values():
        member = raw_address(wallet.address)
        sent = [p for p in all_payouts if p.member == member and p.transferred]
        assert_received(run, member, [(p.kind, p.transferred) for p in sent])
    assert sum(p.transferred for p in all_payouts) == sb.pool.ledger().paid

    # Stakes, commission and epochs equal their events.
    expected_stakes = []
    for _, _, e in events:
        if isinstance(e, ev.MemberJoined | ev.MemberLeft):
            kind = "joined" if isinstance(e, ev.MemberJoined) else "left"
            expected_stakes.append((kind, raw_address(e.member), e.stake))
        elif isinstance(e, ev.StakeWithdrawn):
            expected_stakes.append(("withdrawn", raw_address(e.member), e.amount))
    stakes = session.scalars(select(StakeChange).order_by(StakeChange.lt)).all()
    assert [(s.kind, s.member, s.amount) for s in stakes] == expected_stakes
    assert [s.kind for s in stakes] == ["joined"] * 3 + ["left", "withdrawn"]
    collected = [e for _, _, e in events if isinstance(e, ev.CommissionCollected)]
    commissions = session.scalars(select(CommissionPayment)).all()
    assert [(c.recipient, c.amount) for c in commissions] == [
        (raw_address(e.recipient), e.amount) for e in collected
    ]
    assert commissions[0].amount == sb.pool.ledger().commission > 0
    epochs = {e.epoch: e for e in session.scalars(select(EpochResult))}
    assert sorted(epochs) == [1, 2, 3]
    for _, _, e in events:
        if isinstance(e, ev.EpochClosed):
            row = epochs[e.epoch]
            assert (row.start_time, row.end_time, row.report_deadline) == (
                e.start,
                e.end,
                e.report_deadline,
            )
            assert (row.received, row.commission, row.net) == (e.received, e.commission, e.net)
        elif isinstance(e, ev.EpochFinalized):
            row = epochs[e.epoch]
            assert (row.reserve_in, row.penalty_pool, row.bonus_paid, row.claimable) == (
                e.reserve_in,
                e.penalty_pool,
                e.bonus_paid,
                e.claimable,
            )
            assert row.reporters == e.reporters == 3
        elif isinstance(e, ev.EpochRetired):
            assert epochs[e.epoch].dust == e.dust
    # Each epoch's settled shares plus its dust are exactly its claimable amount.
    history = load_history(session)
    for summary in history.epochs:
        r = summary.row
        assert summary.settled == 3
        assert summary.paid + (r.dust or 0) == r.claimable

    # The JSON of every event is complete and typed.
    rows = session.scalars(select(IndexedEvent).where(IndexedEvent.kind == "RewardSettled"))
    first = next(iter(rows))
    assert set(first.fields) == {"epoch", "member", "payout", "pending_carry", "paid_now"}
    assert first.amount == first.fields["payout"] and first.member == first.fields["member"]

    # Re-indexing, in this session or after a restart, adds nothing.
    before = snapshot(session)
    again = index_once(session, run.demo.source, [run.demo.operator])
    assert (again.transactions, again.events, again.new_contracts) == (0, 0, 0)
    assert again.contracts == len(stored)
    assert snapshot(session) == before


def test_restart_from_the_cursor_continues_exactly(
    run: Run, database_url: str, tmp_path: Path
) -> None:
    reference_engine, reference_sessions = open_database(f"sqlite:///{tmp_path / 'ref.db'}")
    with reference_sessions() as session:
        index_once(session, run.demo.source, [operator(run)])
        reference = snapshot(session)
    reference_engine.dispose()

    # An indexer that ran after each step of the pool's life, restarted every time.
    engine, sessions = open_database(database_url)
    engine.dispose()
    seen = 0
    for cut in run.cuts:
        engine, sessions = open_database(database_url)
        with sessions() as session:
            counts = index_once(session, CutSource(run, cut), [operator(run)])
            for c in session.scalars(select(IndexedContract)):
                own = [tx.lt for tx in run.chain_txs if tx.address_raw == c.address]
                assert c.last_lt == max(lt for lt in own if lt <= cut)
            seen += counts.transactions
        engine.dispose()
    assert seen == len(reference["transactions"])
    engine, sessions = open_database(database_url)
    with sessions() as session:
        assert snapshot(session) == reference
    engine.dispose()

    # A source failing mid-way, in pages of 7: each failure keeps the committed pages, and
    # running again continues from the cursor until everything is in.
    flaky_url = f"sqlite:///{tmp_path / 'flaky.db'}"
    engine, sessions = open_database(flaky_url)
    source = FlakySource(run, fail_on={2, 5, 9, 14})
    failures = 0
    with sessions() as session:
        while True:
            try:
                index_once(session, source, [operator(run)], page_size=7)
                break
            except IndexerSourceError as exc:
                assert "connection reset" in exc.message
                failures += 1
        assert failures == 4
        assert snapshot(session) == reference
    engine.dispose()


def test_the_loop_indexes_what_arrives_until_stopped(run: Run, tmp_path: Path) -> None:
    """Each pass picks up what the chain added since the last one; the stop flag ends the
    loop after the pass in progress."""
    engine, sessions = open_database(f"sqlite:///{tmp_path / 'loop.db'}")
    cuts = iter(run.cuts)
    source = CutSource(run, next(cuts))
    stop = threading.Event()
    passes: list[int] = []

    def after_pass(counts: IndexCounts) -> None:
        passes.append(counts.transactions)
        cut = next(cuts, None)
        if cut is None:
            stop.set()
        else:
            source.cut = cut  # the chain moved on while the loop slept

    with sessions() as session:
        pools = [operator(run)]
        total = index_loop(session, source, pools, interval=0.01, stop=stop, on_pass=after_pass)
        assert len(passes) == len(run.cuts) and all(passes)
        assert total.transactions == sum(passes) == len(snapshot(session)["transactions"])
    engine.dispose()


# -- history and the CSV ------------------------------------------------------------------


def _ton(nanoton: int) -> str:
    return f"{Decimal(nanoton) / Decimal(10**9):.9f}"


def _expected_csv(run: Run, member: str | None = None) -> str:
    """The tax CSV built straight from the chain's events."""
    lines: list[tuple[int, int, int, str]] = []
    for tx, index, e in run.events():
        row: tuple[str, str, int, str] | None = None
        if isinstance(e, ev.MemberJoined):
            row = ("stake_deposit", "", e.stake, raw_address(e.member))
        elif isinstance(e, ev.RewardSettled) and e.paid_now:
            row = ("reward", str(e.epoch), e.payout + e.pending_carry, raw_address(e.member))
        elif isinstance(e, ev.PendingPaid):
            row = ("pending_payout", "", e.amount, raw_address(e.member))
        elif isinstance(e, ev.StakeWithdrawn):
            row = ("stake_withdrawal", "", e.amount, raw_address(e.member))
        elif isinstance(e, ev.CommissionCollected) and member is None:
            row = ("commission", "", e.amount, raw_address(e.recipient))
        if row is None or (member is not None and row[3] != member):
            continue
        kind, epoch, amount, account = row
        date = datetime.fromtimestamp(tx.now, UTC).isoformat().replace("+00:00", "Z")
        text = (
            f"{date},{kind},{epoch},{_ton(amount)},{amount},{account},{tx.address_raw},{tx.hash},"
        )
        lines.append((tx.now, tx.lt, index, text))
    return "\n".join([CSV_HEADER, *(t for *_, t in sorted(lines))]) + "\n"


def test_history_csv_is_exact(run: Run, database: tuple[Engine, Session]) -> None:
    _, session = database
    index_once(session, run.demo.source, [run.demo.operator])
    text = csv_text(csv_rows(load_history(session)))
    assert text == _expected_csv(run)
    lines = text.splitlines()
    assert lines[0] == CSV_HEADER
    assert [line.split(",")[1] for line in lines[1:]] == [
        *["stake_deposit"] * 3,
        *["reward"] * 2,  # epoch 1: Carol's share stays pending
        *["reward"] * 3,  # epoch 2: Carol's is paid with the pending amount it carries
        *["reward"] * 2,  # epoch 3: pending again
        "commission",
        "pending_payout",  # Carol takes it out
        "stake_withdrawal",  # Bob, after unbonding
    ]
    deposit = lines[1].split(",")
    assert deposit[3:5] == ["10.000000000", "10000000000"]
    assert deposit[0].endswith("Z") and deposit[0][10] == "T"

    # The money movements of each member equal what its wallet received from the pool
    # contracts, so the report reconciles with the member's own wallet history.
    contracts = set(run.pool_contracts())
    for wallet in run.demo.members.values():
        member = raw_address(wallet.address)
        own = csv_text(csv_rows(load_history(session, member=member)))
        assert own == _expected_csv(run, member)
        moved = [line.split(",") for line in own.splitlines()[1:]]
        payouts = [(f[1], int(f[4])) for f in moved if f[1] in ("reward", "pending_payout")]
        assert_received(run, member, payouts)
        assert all(line.split(",")[6] in contracts for line in own.splitlines()[1:])


def test_explorer_links() -> None:
    h = "ab" * 32
    assert explorer_url("mainnet", h) == f"https://tonviewer.com/transaction/{h}"
    assert explorer_url("testnet", h) == f"https://testnet.tonviewer.com/transaction/{h}"
    assert explorer_url("mainnet", h, "tonscan") == f"https://tonscan.org/tx/{h}"
    assert explorer_url("testnet", h, "tonscan") == f"https://testnet.tonscan.org/tx/{h}"
    assert explorer_url("embedded", h) is None and explorer_url("local", h) is None


# -- schema -------------------------------------------------------------------------------


def test_schema_is_the_models_and_shares_a_database_with_the_oracle(database_url: str) -> None:
    engine, _ = open_database(database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        assert compare_metadata(context, Base.metadata) == []
        assert context.get_current_revision() == "0001_indexer_initial"
    oracle_upgrade_head(engine)
    open_database(database_url)[0].dispose()  # a second upgrade is a no-op
    tables = set(inspect(engine).get_table_names())
    assert {t for t in tables if t.startswith("indexer_")} == {
        "indexer_alembic_version",
        "indexer_contracts",
        "indexer_transactions",
        "indexer_events",
        "indexer_payouts",
        "indexer_stakes",
        "indexer_commissions",
        "indexer_epochs",
    }
    assert {"alembic_version", "oracle_samples"} <= tables
    engine.dispose()


# -- the commands -------------------------------------------------------------------------


def _cli(capsys: pytest.CaptureFixture[str], argv: Sequence[str]) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_index_and_history_commands(
    run: Run,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # `--demo` builds this same pool; reusing the built one saves its seconds. SQLite only:
    # the commands add no SQL of their own to what the tests above run on both back ends.
    monkeypatch.setattr(demo_module, "build_demo", lambda: run.demo)
    database_url = f"sqlite:///{tmp_path / 'cli.db'}"
    db = ["--database", database_url]
    code, out, _ = _cli(capsys, ["index", "--demo", *db, "--json"])
    assert code == 0
    first = json.loads(out)
    assert first["network"] == "embedded" and first["pools"] == [operator(run)]
    assert first["counts"]["payouts"] == 10 and first["counts"]["stakes"] == 5
    assert {c["role"] for c in first["contracts"]} == {
        "operator",
        "registry",
        "distribution",
        "participant",
    }
    code, out, _ = _cli(capsys, ["index", "--demo", *db, "--json"])
    assert code == 0 and json.loads(out)["counts"]["transactions"] == 0
    code, out, _ = _cli(capsys, ["index", "--demo", *db])
    assert code == 0 and "indexed contracts" in out and "added 0 transactions" in out

    csv_path = tmp_path / "tax.csv"
    code, out, _ = _cli(capsys, ["history", *db, "--csv", str(csv_path), "--json"])
    assert code == 0
    data = json.loads(out)
    assert csv_path.read_text() == _expected_csv(run)
    assert data["csv"] == {"path": str(csv_path), "rows": 13}
    assert len(data["payouts"]) == 10 and len(data["stakes"]) == 5
    assert len(data["commissions"]) == 1 and len(data["epochs"]) == 3
    assert all(p["explorer_url"] is None for p in data["payouts"])
    settled = [p for p in data["payouts"] if p["kind"] == "reward"]
    events = [e for _, _, e in run.events() if isinstance(e, ev.RewardSettled)]
    assert [p["amount_nanoton"] for p in settled] == [e.payout for e in events]

    carol = raw_address(run.demo.members["carol"].address)
    code, out, _ = _cli(capsys, ["history", *db, "--member", carol, "--json"])
    mine = json.loads(out)
    assert code == 0 and mine["member"] == carol and mine["commissions"] == []
    assert {p["member"] for p in mine["payouts"]} == {carol} and len(mine["payouts"]) == 4

    code, out, _ = _cli(capsys, ["history", *db])
    assert code == 0
    for title in ("payouts (TON)", "stakes (TON)", "commission collected", "epoch results"):
        assert title in out
    assert "https://" not in out and settled[0]["tx_hash"][:32] in out

    # A pool indexed from mainnet gets explorer links.
    engine, sessions = open_database(database_url)
    with sessions() as session:
        for c in session.scalars(select(IndexedContract)):
            c.network = "mainnet"
        session.commit()
    engine.dispose()
    code, out, _ = _cli(capsys, ["history", *db, "--json", "--explorer", "tonscan"])
    link = json.loads(out)["payouts"][0]["explorer_url"]
    assert link == f"https://tonscan.org/tx/{settled[0]['tx_hash']}"
    code, out, _ = _cli(capsys, ["history", *db, "--csv", str(csv_path)])
    assert code == 0 and "https://tonviewer.com/transaction/" in out
    assert csv_path.read_text().splitlines()[1].split(",")[-1].startswith("https://tonviewer")


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["index"], 2, "no pool to index"),
        (["index", "--pool", "not-an-address"], 2, "is not a TON address"),
        (["index", "--demo", "--pool", "0:" + "11" * 32], 2, "--demo deploys its own pool"),
        (["index", "--pool", "0:" + "11" * 32, "--once"], 2, "no API endpoint for mainnet"),
        (["index", "--pool", "0:" + "11" * 32, "--network", "moon"], 2, "cannot index"),
        (["history", "--explorer", "toncoin"], 2, "unknown explorer"),
        (["history", "--member", "nope"], 2, "is not a TON address"),
    ],
)
def test_command_errors_are_one_line(
    argv: list[str],
    code: int,
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    database = f"sqlite:///{tmp_path / 'x.db'}"
    got, out, err = _cli(capsys, [*argv, "--database", database])
    assert got == code and message in err and "Traceback" not in err and out == ""
    assert not (tmp_path / "x.db").exists()  # a command that cannot run creates nothing


def test_history_needs_an_existing_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    got, _, err = _cli(capsys, ["history", "--database", f"sqlite:///{tmp_path / 'no.db'}"])
    assert got == 2 and "no indexer database" in err and "cocoon-pool index" in err


def test_a_pool_on_the_local_network_is_indexed_over_its_http_api(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The network source (toncenter v2 via tonutils) finds the same contracts and events as
    the chain that ran them."""
    from cocoon_pool.contracts.pool import Pool, PoolParams  # noqa: PLC0415
    from cocoon_pool.contracts.reports import OracleSigner  # noqa: PLC0415
    from cocoon_pool.devnet import Devnet, serve  # noqa: PLC0415

    net = Devnet.create()
    signer = OracleSigner.from_seed_text("indexer-network")
    with net.lock:
        admin = net.chain.create_wallet("admin", 10**12)
        pool, _ = Pool.deploy(net.chain, admin, PoolParams(oracle_key=signer.public_key))
        member = net.chain.create_wallet("member", 10**12)
        pool.register(member, PoolParams(oracle_key=0).min_stake).assert_success()
        emulated = EmulatedChainSource(net.chain)
    database = f"sqlite:///{tmp_path / 'net.db'}"
    with serve(net) as url:
        argv = ["index", "--pool", raw_address(pool.operator), "--network", "local"]
        code, out, err = _cli(
            capsys, [*argv, "--endpoint", url, "--once", "--json", "--database", database]
        )
        # The same from a pool.toml: its database, network, endpoint and derived pool address.
        config = tmp_path / "pool.toml"
        config.write_text(
            f'network = "local"\n[api]\nendpoint = "{url}"\n[roles]\n'
            f'admin = "{raw_address(admin.address)}"\n[pool]\n'
            f'oracle_keys = ["{signer.public_key:064x}"]\n'
            f'[database]\nurl = "sqlite:///{tmp_path / "config.db"}"\n'
        )
        again = _cli(capsys, ["index", "--config", str(config), "--once", "--json"])
        shown = _cli(capsys, ["history", "--config", str(config), "--json"])
    assert again[0] == 0 and shown[0] == 0, again[2] + shown[2]
    assert json.loads(again[1])["counts"] == json.loads(out)["counts"]
    assert json.loads(shown[1])["stakes"]
    assert code == 0, err
    indexed = json.loads(out)
    assert indexed["network"] == "local"
    expected_events = sum(
        len(tx.events)
        for address in (
            pool.operator,
            pool.registry,
            pool.distribution,
            pool.participant_address(member.address),
        )
        for tx in emulated.transactions(address, 0)
    )
    assert indexed["counts"]["events"] == expected_events > 0
    assert {c["address"] for c in indexed["contracts"]} >= {
        raw_address(pool.registry),
        raw_address(pool.participant_address(member.address)),
    }
