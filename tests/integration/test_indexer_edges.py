"""The indexer against sources that break their promise (pages out of order, too long, a
failing API), a database reused across networks, history filtered by pool, and a CSV that
cannot be written. The indexer stops with one clear error and keeps its cursors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cocoon_pool.chain.types import AddressLike, Transaction, raw_address
from cocoon_pool.cli.app import main
from cocoon_pool.contracts.constants import ton
from cocoon_pool.contracts.exit_codes import code
from cocoon_pool.economics import MemberMetrics
from cocoon_pool.indexer import (
    EmulatedChainSource,
    IndexerSourceError,
    csv_rows,
    index_once,
    load_history,
    open_database,
)
from cocoon_pool.indexer.errors import IndexerUsageError
from cocoon_pool.indexer.history import counted_reports, write_csv
from cocoon_pool.indexer.models import IndexedContract, IndexedEvent
from cocoon_pool.sandbox import PoolSandbox


@pytest.fixture(scope="module")
def pool() -> PoolSandbox:
    sandbox = PoolSandbox.create()
    member = sandbox.chain.create_wallet("edges-member", 100 * 10**9)
    sandbox.pool.register(member, sandbox.params.min_stake).assert_success()
    return sandbox


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    engine, sessions = open_database(f"sqlite:///{tmp_path / 'indexer.db'}")
    with sessions() as s:
        yield s
    engine.dispose()


class Reversed(EmulatedChainSource):
    def transactions(
        self, address: AddressLike, after_lt: int, limit: int | None = None
    ) -> list[Transaction]:
        return list(reversed(super().transactions(address, after_lt, limit)))


class Overlong(EmulatedChainSource):
    def transactions(
        self, address: AddressLike, after_lt: int, limit: int | None = None
    ) -> list[Transaction]:
        return super().transactions(address, after_lt, None)


class Down(EmulatedChainSource):
    def transactions(
        self, address: AddressLike, after_lt: int, limit: int | None = None
    ) -> list[Transaction]:
        raise ConnectionError("connection reset by peer")


class Local(EmulatedChainSource):
    @property
    def network(self) -> str:
        return "local"


def cursors(session: Session) -> dict[str, int]:
    return {c.address: c.last_lt for c in session.scalars(select(IndexedContract))}


def test_a_page_size_below_one_is_refused(pool: PoolSandbox, session: Session) -> None:
    with pytest.raises(IndexerUsageError, match="page size must be positive, got 0"):
        index_once(session, EmulatedChainSource(pool.chain), [pool.pool.operator], page_size=0)


@pytest.mark.parametrize(
    ("source", "page", "message"),
    [
        (Reversed, 5, r"the source returned lt \d+ of 0:[0-9a-f]+ after lt \d+"),
        (Overlong, 1, r"the source returned \d+ transactions for a page of 1"),
        (Down, 1, "reading the transactions of 0:[0-9a-f]+ failed: connection reset by peer"),
    ],
)
def test_a_source_that_breaks_its_promise_stops_the_pass_and_keeps_the_cursor(
    pool: PoolSandbox,
    session: Session,
    source: type[EmulatedChainSource],
    page: int,
    message: str,
) -> None:
    with pytest.raises(IndexerSourceError, match=message):
        index_once(session, source(pool.chain), [pool.pool.operator], page_size=page)
    session.rollback()
    assert cursors(session) == {raw_address(pool.pool.operator): 0}


def test_one_database_serves_one_network(pool: PoolSandbox, session: Session) -> None:
    counts = index_once(session, EmulatedChainSource(pool.chain), [pool.pool.operator])
    assert counts.transactions > 0
    before = cursors(session)
    assert before[raw_address(pool.pool.operator)] > 0
    with pytest.raises(IndexerUsageError, match="was indexed from embedded, this source reads"):
        index_once(session, Local(pool.chain), [pool.pool.operator])
    assert cursors(session) == before
    # A second pass over the same network finds nothing new and changes nothing.
    again = index_once(session, EmulatedChainSource(pool.chain), [pool.pool.operator])
    assert (again.transactions, again.new_contracts) == (0, 0)
    assert cursors(session) == before


def test_history_by_pool_and_a_csv_that_cannot_be_written(
    pool: PoolSandbox, session: Session, tmp_path: Path
) -> None:
    index_once(session, EmulatedChainSource(pool.chain), [pool.pool.operator])
    mine = load_history(session, pool=raw_address(pool.pool.operator))
    assert [s.member for s in mine.stakes] == [
        s.member for s in load_history(session).stakes
    ] and len(mine.stakes) == 1
    other = load_history(session, pool="0:" + "00" * 32)
    assert not (other.stakes or other.payouts or other.commissions or other.epochs)
    with pytest.raises(IndexerUsageError, match=r"cannot write .*: Is a directory"):
        write_csv(csv_rows(mine), tmp_path)


def test_history_names_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history"]) == 2
    err = capsys.readouterr().err
    assert "no database to use" in err and "--config pool.toml" in err and "Traceback" not in err
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    open_database(url)[0].dispose()
    assert main(["history", "--database", url]) == 0
    assert "nothing indexed yet: run `cocoon-pool index` first" in capsys.readouterr().out


def test_a_refused_report_is_indexed_under_its_member_and_no_longer_counts(
    session: Session,
) -> None:
    """A replayed report counts when its batch is relayed (ContributionRecorded) and is taken
    back out when the member's contract refuses it (ContributionRefused, which names the
    Participant): the indexer files the refusal under the member, and `counted_reports` keeps
    exactly one report per member and epoch."""
    sb = PoolSandbox.create()
    alice, bob = sb.add_member("alice"), sb.add_member("bob")
    sb.pool.send_income(sb.proxy, ton(100)).assert_success()
    sb.close_epoch()
    length = sb.pool.ledger().epoch_length
    reports = [
        (alice, MemberMetrics(length, 1_000, 9_900, 0)),
        (bob, MemberMetrics(length, 800, 9_000, 1)),
    ]
    sb.report_batch(1, reports).assert_success()
    replay = sb.report_batch(1, reports[:1])
    # The relay succeeds, alice's contract refuses the copy, and the bounce is processed.
    refusal, bounce = [
        tx for tx in replay if (tx.in_message and tx.in_message.bounced) or not tx.success
    ]
    assert refusal.exit_code == code("REPORT_REPLAYED")
    assert bounce.success and bounce.address_raw == raw_address(sb.pool.distribution)
    reporting = sb.pool.reporting_epoch()
    assert reporting.reporters == 2

    index_once(session, EmulatedChainSource(sb.chain), [sb.pool.operator])
    refused = session.scalars(
        select(IndexedEvent).where(IndexedEvent.kind == "ContributionRefused")
    ).all()
    assert [(e.epoch, e.member) for e in refused] == [(1, raw_address(alice.address))]
    counted = counted_reports(session, raw_address(sb.pool.operator))
    assert sorted((e.member, e.fields["contribution"]) for e in counted) == sorted(
        (raw_address(w.address), m.running_seconds * m.gpu_score * m.uptime_bps // 10_000)
        for w, m in reports
    )
    assert sum(e.fields["contribution"] for e in counted) == reporting.contribution_sum
    only_alice = counted_reports(session, raw_address(sb.pool.operator), raw_address(alice.address))
    assert len(only_alice) == 1
