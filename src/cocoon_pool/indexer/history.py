"""Reading the indexed history back: payouts, stakes, commission, epoch results, and the
CSV for a tax report."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from cocoon_pool.indexer.errors import IndexerDatabaseError, IndexerUsageError
from cocoon_pool.indexer.models import (
    CommissionPayment,
    EpochResult,
    IndexedContract,
    IndexedEvent,
    Payout,
    StakeChange,
)

NANO = 10**9
EXPLORERS = ("tonviewer", "tonscan")
_EXPLORER_URLS = {
    ("tonviewer", "mainnet"): "https://tonviewer.com/transaction/{}",
    ("tonviewer", "testnet"): "https://testnet.tonviewer.com/transaction/{}",
    ("tonscan", "mainnet"): "https://tonscan.org/tx/{}",
    ("tonscan", "testnet"): "https://testnet.tonscan.org/tx/{}",
}
CSV_COLUMNS = (
    "date",
    "type",
    "epoch",
    "amount_ton",
    "amount_nanoton",
    "account",
    "counterparty",
    "tx_hash",
    "explorer_url",
)


def ton_text(nanoton: int) -> str:
    """Exactly 9 decimals, no grouping (CSV and JSON friendly)."""
    sign = "-" if nanoton < 0 else ""
    whole, frac = divmod(abs(nanoton), NANO)
    return f"{sign}{whole}.{frac:09d}"


def iso_utc(utime: int) -> str:
    return datetime.fromtimestamp(utime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def explorer_url(network: str, tx_hash: str, explorer: str = "tonviewer") -> str | None:
    """A link to the transaction on a public explorer; None on a devnet or the embedded
    chain, which no explorer knows."""
    if explorer not in EXPLORERS:
        raise IndexerUsageError(f"unknown explorer {explorer!r}", f"use {' or '.join(EXPLORERS)}")
    template = _EXPLORER_URLS.get((explorer, network))
    return None if template is None else template.format(tx_hash)


@dataclass(frozen=True)
class EpochSummary:
    row: EpochResult
    paid: int
    """Sum of the epoch's settled shares (paid now or kept pending)."""
    settled: int
    """How many members' shares were settled."""


@dataclass
class History:
    payouts: list[Payout] = field(default_factory=list)
    stakes: list[StakeChange] = field(default_factory=list)
    commissions: list[CommissionPayment] = field(default_factory=list)
    epochs: list[EpochSummary] = field(default_factory=list)
    networks: dict[str, str] = field(default_factory=dict)
    """Pool (operator raw address) -> network it was indexed from."""

    def link(self, pool: str, tx_hash: str, explorer: str) -> str | None:
        return explorer_url(self.networks.get(pool, "embedded"), tx_hash, explorer)


def load_history(session: Session, member: str | None = None, pool: str | None = None) -> History:
    """Everything indexed, oldest first; ``member`` limits payouts and stakes to one member
    and leaves out commission (the operator's); ``pool`` limits all to one pool."""
    try:
        return _load(session, member, pool)
    except SQLAlchemyError as exc:
        raise IndexerDatabaseError(
            f"cannot read the indexer database: {exc}",
            "check --database; run `cocoon-pool index` first to create it",
        ) from exc


def _load(session: Session, member: str | None, pool: str | None) -> History:
    history = History()
    operators = select(IndexedContract).where(IndexedContract.role == "operator")
    history.networks = {c.pool: c.network for c in session.scalars(operators)}

    def scope(model: Any) -> Any:
        query = select(model)
        if pool is not None:
            query = query.where(model.pool == pool)
        if member is not None and hasattr(model, "member"):
            query = query.where(model.member == member)
        return query.order_by(model.utime, model.lt, model.event_id)

    history.payouts = list(session.scalars(scope(Payout)))
    history.stakes = list(session.scalars(scope(StakeChange)))
    if member is None:
        history.commissions = list(session.scalars(scope(CommissionPayment)))
    paid_query = (
        select(Payout.pool, Payout.epoch, func.sum(Payout.amount), func.count())
        .where(Payout.kind == "reward")
        .group_by(Payout.pool, Payout.epoch)
    )
    paid = {(p, e): (int(s or 0), int(n)) for p, e, s, n in session.execute(paid_query)}
    epochs = select(EpochResult).order_by(EpochResult.pool, EpochResult.epoch)
    if pool is not None:
        epochs = epochs.where(EpochResult.pool == pool)
    history.epochs = [
        EpochSummary(row, *paid.get((row.pool, row.epoch), (0, 0)))
        for row in session.scalars(epochs)
    ]
    return history


@dataclass(frozen=True)
class CsvRow:
    """One money movement. ``account`` is whose money moved (the member, or the commission's
    recipient); ``counterparty`` the pool contract on the other side."""

    utime: int
    lt: int
    order: int
    type: str
    epoch: int | None
    amount: int
    account: str
    counterparty: str
    tx_hash: str
    explorer_url: str | None

    def values(self) -> list[str]:
        return [
            iso_utc(self.utime),
            self.type,
            "" if self.epoch is None else str(self.epoch),
            ton_text(self.amount),
            str(self.amount),
            self.account,
            self.counterparty,
            self.tx_hash,
            self.explorer_url or "",
        ]


def csv_rows(history: History, explorer: str = "tonviewer") -> list[CsvRow]:
    """The money movements, oldest first: only what actually changed hands.

    ``reward``: a settled share sent to the member (with any earlier pending amount it
    carried); a share kept pending below the minimum payout moves nothing and appears when
    it is paid, as part of a later ``reward`` or as ``pending_payout``. ``stake_deposit`` and
    ``stake_withdrawal``: the stake into and out of the pool (the start of unbonding moves
    nothing). ``commission``: accrued commission sent to the operator's admin.
    """
    rows: list[CsvRow] = []

    def add(
        kind: str,
        x: Payout | StakeChange | CommissionPayment,
        amount: int,
        account: str,
        epoch: int | None = None,
    ) -> None:
        rows.append(
            CsvRow(
                utime=x.utime,
                lt=x.lt,
                order=x.event_id,
                type=kind,
                epoch=epoch,
                amount=amount,
                account=account,
                counterparty=x.contract,
                tx_hash=x.tx_hash,
                explorer_url=history.link(x.pool, x.tx_hash, explorer),
            )
        )

    for p in history.payouts:
        if p.kind == "reward" and p.paid_now:
            add("reward", p, p.transferred, p.member, p.epoch)
        elif p.kind == "pending":
            add("pending_payout", p, p.transferred, p.member)
    for s in history.stakes:
        if s.kind == "joined":
            add("stake_deposit", s, s.amount, s.member)
        elif s.kind == "withdrawn":
            add("stake_withdrawal", s, s.amount, s.member)
    for c in history.commissions:
        add("commission", c, c.amount, c.recipient)
    rows.sort(key=lambda r: (r.utime, r.lt, r.order))
    return rows


def csv_text(rows: Sequence[CsvRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(row.values() for row in rows)
    return buffer.getvalue()


def write_csv(rows: Sequence[CsvRow], path: Path) -> None:
    try:
        path.write_text(csv_text(rows), encoding="utf-8")
    except OSError as exc:
        raise IndexerUsageError(
            f"cannot write {path}: {exc.strerror}", "choose a writable path for --csv"
        ) from exc


def counted_reports(session: Session, pool: str, member: str | None = None) -> list[IndexedEvent]:
    """The pool's ContributionRecorded events that still count, oldest first.

    A report enters the epoch's sums when its batch is relayed; if the member's contract refuses
    it, the bounce logs ContributionRefused (member filled in by the indexer from the
    Participant's address), which cancels one recorded report of the same epoch, member and
    contribution (docs/events.md)."""
    query = select(IndexedEvent).where(
        IndexedEvent.pool == pool,
        IndexedEvent.kind.in_(("ContributionRecorded", "ContributionRefused")),
    )
    if member is not None:
        query = query.where(IndexedEvent.member == member)
    counted: list[IndexedEvent] = []
    for event in session.scalars(query.order_by(IndexedEvent.lt, IndexedEvent.event_index)):
        if event.kind == "ContributionRecorded":
            counted.append(event)
            continue
        key = (event.epoch, event.member, event.fields["contribution"])
        for k, recorded in enumerate(counted):
            if (recorded.epoch, recorded.member, recorded.fields["contribution"]) == key:
                del counted[k]
                break
    return counted
