"""Index a pool's transactions and events into the database, idempotently.

Each contract has a cursor (``IndexedContract.last_lt``). A page of its transactions, their
events and the derived history rows are written in one database transaction together with
the cursor, so a crash or Ctrl-C loses at most the page in progress, and the next run
re-reads exactly that page: nothing is skipped and nothing is stored twice (the unique
constraints on ``(address, lt)`` and ``(transaction, event index)`` back this up).

A pool is named by its PoolOperator address. The other contracts are discovered from the
chain itself, not derived from locally compiled code (which an upgrade could change): the
registry and distribution from ``PoolDeployed``, each member's Participant from the
registry's ``MemberJoined`` (the Participant is the sender of the message that emits it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from cocoon_pool.chain.types import AddressLike, Transaction, raw_address
from cocoon_pool.contracts import events as ev
from cocoon_pool.errors import CocoonPoolError
from cocoon_pool.indexer.errors import IndexerDatabaseError, IndexerSourceError, IndexerUsageError
from cocoon_pool.indexer.events import event_row
from cocoon_pool.indexer.models import (
    CommissionPayment,
    EpochResult,
    IndexedContract,
    IndexedEvent,
    IndexedTransaction,
    Payout,
    StakeChange,
)
from cocoon_pool.indexer.source import TransactionSource

DEFAULT_PAGE_SIZE = 500
ROLE_ORDER = {"operator": 0, "registry": 1, "distribution": 2, "participant": 3}


class StopSignal(Protocol):
    """What the loop needs of a stop flag; ``threading.Event`` is one."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


@dataclass
class IndexCounts:
    """What one pass (or a whole run) added."""

    contracts: int = 0
    """Contracts visited."""
    new_contracts: int = 0
    """Contracts added: the given pools on first sight plus those discovered."""
    transactions: int = 0
    events: int = 0
    payouts: int = 0
    stakes: int = 0
    commissions: int = 0
    epoch_updates: int = 0
    """Epoch events applied to ``indexer_epochs`` (closed, finalized, retired)."""

    def add(self, other: IndexCounts) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def parse_address(text: AddressLike) -> str:
    """The raw form of an address given in any form, or a usage error."""
    try:
        return raw_address(text)
    except Exception as exc:  # ton_core raises several types for malformed text
        raise IndexerUsageError(
            f"{text!r} is not a TON address",
            "give the address in raw (0:<64 hex>) or user-friendly (EQ.../UQ...) form",
        ) from exc


def index_once(
    session: Session,
    source: TransactionSource,
    addresses: Iterable[AddressLike],
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> IndexCounts:
    """Bring the pools named by their PoolOperator ``addresses`` up to date; commits per
    page. Contracts discovered on the way are indexed in the same pass."""
    if page_size < 1:
        raise IndexerUsageError(f"page size must be positive, got {page_size}", "use e.g. 500")
    pools = [parse_address(a) for a in addresses]
    counts = IndexCounts()
    try:
        for pool in pools:
            known = session.scalar(select(IndexedContract).where(IndexedContract.address == pool))
            if known is not None:
                if known.network != source.network:
                    raise IndexerUsageError(
                        f"{pool} was indexed from {known.network}, this source reads "
                        f"{source.network}",
                        "use one database per network",
                    )
                continue
            session.add(
                IndexedContract(
                    address=pool,
                    pool=pool,
                    role="operator",
                    network=source.network,
                    last_lt=0,
                    transactions=0,
                )
            )
            counts.new_contracts += 1
        session.commit()
        visited: set[str] = set()
        while True:
            # Discovery adds contracts while others are indexed: go round until none is new.
            todo = [
                c
                for c in session.scalars(
                    select(IndexedContract).where(IndexedContract.pool.in_(pools))
                )
                if c.address not in visited
            ]
            if not todo:
                break
            todo.sort(key=lambda c: (ROLE_ORDER.get(c.role, 9), c.id))
            for contract in todo:
                visited.add(contract.address)
                counts.contracts += 1
                _index_contract(session, source, contract, counts, page_size)
    except IntegrityError as exc:
        session.rollback()
        raise IndexerDatabaseError(
            f"a row is already stored: {exc.orig}",
            "run one indexer per database; a re-run resumes from the stored cursor",
        ) from exc
    except SQLAlchemyError as exc:
        session.rollback()
        raise IndexerDatabaseError(
            f"the indexer database failed: {exc}",
            "check that the database is reachable and writable, then run again",
        ) from exc
    except BaseException:
        session.rollback()
        raise
    return counts


def index(
    session: Session,
    source: TransactionSource,
    addresses: Sequence[AddressLike],
    *,
    interval: float,
    stop: StopSignal,
    page_size: int = DEFAULT_PAGE_SIZE,
    on_pass: Callable[[IndexCounts], None] | None = None,
) -> IndexCounts:
    """Index every ``interval`` seconds until ``stop`` is set (a pass in progress always
    finishes); return the totals."""
    total = IndexCounts()
    while not stop.is_set():
        counts = index_once(session, source, addresses, page_size=page_size)
        total.add(counts)
        if on_pass is not None:
            on_pass(counts)
        if stop.wait(interval):
            break
    return total


def _fetch(
    source: TransactionSource, contract: IndexedContract, page_size: int
) -> list[Transaction]:
    try:
        txs = list(source.transactions(contract.address, contract.last_lt, page_size))
    except CocoonPoolError:
        raise
    except Exception as exc:  # a network back end may fail in any way; keep the cursor
        raise IndexerSourceError(
            f"reading the transactions of {contract.address} failed: {exc}",
            "the cursor is unchanged; run again when the source is reachable",
        ) from exc
    previous = contract.last_lt
    for tx in txs:
        # The cursor is only safe if the source keeps its promise: one account, ascending lt.
        if tx.address_raw != contract.address or tx.lt <= previous:
            raise IndexerSourceError(
                f"the source returned lt {tx.lt} of {tx.address_raw} after lt {previous} "
                f"of {contract.address}",
                "a TransactionSource must return only that account's transactions, ascending",
            )
        previous = tx.lt
    if len(txs) > page_size:
        raise IndexerSourceError(
            f"the source returned {len(txs)} transactions for a page of {page_size}",
            "a TransactionSource must honour its limit",
        )
    return txs


def _index_contract(
    session: Session,
    source: TransactionSource,
    contract: IndexedContract,
    counts: IndexCounts,
    page_size: int,
) -> None:
    while True:
        txs = _fetch(source, contract, page_size)
        if not txs:
            return
        writer = _PageWriter(session, contract, counts)
        for tx in txs:
            writer.store(tx)
        contract.last_lt = txs[-1].lt
        contract.last_utime = txs[-1].now
        contract.transactions += len(txs)
        session.commit()
        if len(txs) < page_size:
            return


class _PageWriter:
    """Adds one contract's transactions, events and derived rows to the session."""

    def __init__(self, session: Session, contract: IndexedContract, counts: IndexCounts) -> None:
        self.session = session
        self.contract = contract
        self.counts = counts

    def store(self, tx: Transaction) -> None:
        c = self.contract
        inbound = tx.in_message
        row = IndexedTransaction(
            pool=c.pool,
            address=c.address,
            lt=tx.lt,
            hash=tx.hash.lower(),
            utime=tx.now,
            op=tx.op,
            source=raw_address(inbound.src) if inbound and inbound.src else None,
            value=inbound.value if inbound else 0,
            success=tx.success,
            exit_code=tx.exit_code,
            fees=tx.total_fees,
            event_count=0,
        )
        self.session.add(row)
        self.counts.transactions += 1
        for index, event in self._events(tx):
            decoded = event_row(event)
            member = decoded.member
            if isinstance(event, ev.ContributionRefused):
                # The bounce names the member's contract; the member is what reports are kept by.
                member = self._member_of(raw_address(event.participant))
            stored = IndexedEvent(
                transaction=row,
                event_index=index,
                pool=c.pool,
                address=c.address,
                lt=tx.lt,
                utime=tx.now,
                tx_hash=row.hash,
                kind=decoded.kind,
                epoch=decoded.epoch,
                member=member,
                amount=decoded.amount,
                fields=decoded.fields,
            )
            self.session.add(stored)
            row.event_count += 1
            self.counts.events += 1
            self._derive(event, stored, tx)

    def _events(self, tx: Transaction) -> list[tuple[int, ev.Event]]:
        try:
            return ev.indexed_events(tx)
        except Exception as exc:  # a body with our prefix that does not parse
            raise IndexerSourceError(
                f"cannot decode the events of transaction {tx.hash} on {self.contract.address}: "
                f"{exc}",
                "the contracts emit an event this version of cocoon-pool does not know; "
                "upgrade it (the cursor is unchanged)",
            ) from exc

    def _facts(self, stored: IndexedEvent) -> dict[str, Any]:
        return {
            "event": stored,
            "pool": stored.pool,
            "contract": stored.address,
            "tx_hash": stored.tx_hash,
            "utime": stored.utime,
            "lt": stored.lt,
        }

    def _derive(self, event: ev.Event, stored: IndexedEvent, tx: Transaction) -> None:
        add = self.session.add
        match event:
            case ev.PoolDeployed(registry=registry, distribution=distribution):
                self._discover(raw_address(registry), "registry", None)
                self._discover(raw_address(distribution), "distribution", None)
            case ev.MemberJoined(member=member, stake=stake, member_count=n):
                sender = tx.in_message.src if tx.in_message else None
                if sender is not None:
                    self._discover(raw_address(sender), "participant", raw_address(member))
                add(self._stake("joined", member, stake, n, stored))
            case ev.MemberLeft(member=member, stake=stake, member_count=n):
                add(self._stake("left", member, stake, n, stored))
            case ev.StakeWithdrawn(member=member, amount=amount):
                add(self._stake("withdrawn", member, amount, None, stored))
            case ev.RewardSettled():
                add(
                    Payout(
                        **self._facts(stored),
                        kind="reward",
                        member=raw_address(event.member),
                        epoch=event.epoch,
                        amount=event.payout,
                        pending_carry=event.pending_carry,
                        paid_now=event.paid_now,
                        transferred=event.payout + event.pending_carry if event.paid_now else 0,
                    )
                )
                self.counts.payouts += 1
            case ev.PendingPaid(member=member, amount=amount):
                add(
                    Payout(
                        **self._facts(stored),
                        kind="pending",
                        member=raw_address(member),
                        epoch=None,
                        amount=amount,
                        pending_carry=0,
                        paid_now=True,
                        transferred=amount,
                    )
                )
                self.counts.payouts += 1
            case ev.CommissionCollected(recipient=recipient, amount=amount):
                add(
                    CommissionPayment(
                        **self._facts(stored), recipient=raw_address(recipient), amount=amount
                    )
                )
                self.counts.commissions += 1
            case ev.EpochClosed():
                e = self._epoch(event.epoch)
                e.start_time, e.end_time = event.start, event.end
                e.report_deadline = event.report_deadline
                e.received, e.commission, e.net = event.received, event.commission, event.net
                e.closed_tx, e.closed_at = stored.tx_hash, stored.utime
            case ev.EpochFinalized():
                e = self._epoch(event.epoch)
                e.reserve_in, e.penalty_pool = event.reserve_in, event.penalty_pool
                e.bonus_paid, e.claimable = event.bonus_paid, event.claimable
                e.reporters = event.reporters
                e.finalized_tx, e.finalized_at = stored.tx_hash, stored.utime
            case ev.EpochRetired():
                e = self._epoch(event.epoch)
                e.dust, e.retired_tx, e.retired_at = event.dust, stored.tx_hash, stored.utime
            case _:
                pass

    def _stake(
        self, kind: str, member: Any, amount: int, count: int | None, stored: IndexedEvent
    ) -> StakeChange:
        self.counts.stakes += 1
        return StakeChange(
            **self._facts(stored),
            kind=kind,
            member=raw_address(member),
            amount=amount,
            member_count=count,
        )

    def _epoch(self, epoch: int) -> EpochResult:
        self.counts.epoch_updates += 1
        pool = self.contract.pool
        found = self.session.scalar(
            select(EpochResult).where(EpochResult.pool == pool, EpochResult.epoch == epoch)
        )
        if found is None:
            found = EpochResult(pool=pool, epoch=epoch)
            self.session.add(found)
        return found

    def _member_of(self, participant: str) -> str | None:
        return self.session.scalar(
            select(IndexedContract.member).where(IndexedContract.address == participant)
        )

    def _discover(self, address: str, role: str, member: str | None) -> None:
        known = self.session.scalar(
            select(IndexedContract).where(IndexedContract.address == address)
        )
        if known is not None:
            return
        self.session.add(
            IndexedContract(
                address=address,
                pool=self.contract.pool,
                role=role,
                member=member,
                network=self.contract.network,
                last_lt=0,
                transactions=0,
            )
        )
        self.counts.new_contracts += 1
