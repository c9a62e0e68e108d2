"""Database tables of the indexer (SQLAlchemy 2 typed models).

Raw data — contracts with their cursors, transactions, decoded events — and four derived
tables written in the same database transaction as the events they come from, so they are
always consistent with them: payouts, stake changes, commission collections and epoch
results. Amounts are integer nanotons in BIGINT columns: TON's whole supply (about 5.1e18
nanoton) fits a signed 64-bit integer. Timestamps are unix seconds. The Alembic migrations in
``migrations/versions`` create exactly these tables; a test compares the two.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from cocoon_pool.database import ADDRESS_LENGTH, named_metadata

HASH_LENGTH = 64
"""Transaction hashes are stored as 64 lowercase hex digits."""


class Base(DeclarativeBase):
    metadata = named_metadata()


class IndexedContract(Base):
    """One pool contract being followed, with its cursor: the last lt stored.

    The operator is added by the caller; the registry and distribution are discovered from
    ``PoolDeployed``, each member's Participant from the registry's ``MemberJoined``.
    """

    __tablename__ = "indexer_contracts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    address: Mapped[str] = mapped_column(String(ADDRESS_LENGTH), unique=True)
    pool: Mapped[str] = mapped_column(String(ADDRESS_LENGTH), index=True)
    """Raw address of the pool's PoolOperator (the pool's identity)."""
    role: Mapped[str] = mapped_column(String(16))
    """``operator``, ``registry``, ``distribution`` or ``participant``."""
    member: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH), default=None)
    """For a Participant: the member it belongs to."""
    network: Mapped[str] = mapped_column(String(16))
    last_lt: Mapped[int] = mapped_column(BigInteger, default=0)
    """Every transaction with ``lt <= last_lt`` is stored; indexing resumes after it."""
    last_utime: Mapped[int | None] = mapped_column(BigInteger, default=None)
    transactions: Mapped[int] = mapped_column(BigInteger, default=0)
    """How many transactions of this contract are stored."""


class IndexedTransaction(Base):
    __tablename__ = "indexer_transactions"
    __table_args__ = (UniqueConstraint("address", "lt", name="uq_indexer_transactions_address_lt"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pool: Mapped[str] = mapped_column(String(ADDRESS_LENGTH), index=True)
    address: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    lt: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(HASH_LENGTH), index=True)
    utime: Mapped[int] = mapped_column(BigInteger, index=True)
    op: Mapped[int | None] = mapped_column(BigInteger, default=None)
    """The inbound message's 32-bit opcode (None: no body or shorter than 32 bits)."""
    source: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH), default=None)
    """Sender of the inbound message (None for external-in)."""
    value: Mapped[int] = mapped_column(BigInteger, default=0)
    """Value of the inbound message, nanoton."""
    success: Mapped[bool] = mapped_column(Boolean)
    exit_code: Mapped[int | None] = mapped_column(Integer, default=None)
    """Compute-phase exit code (None when the compute phase was skipped)."""
    fees: Mapped[int] = mapped_column(BigInteger)
    """Total fees of the transaction, nanoton."""
    event_count: Mapped[int] = mapped_column(Integer, default=0)

    events: Mapped[list[IndexedEvent]] = relationship(back_populates="transaction")


class IndexedEvent(Base):
    """One decoded pool event; the common fields typed, all of them in ``fields``."""

    __tablename__ = "indexer_events"
    __table_args__ = (
        UniqueConstraint(
            "transaction_id", "event_index", name="uq_indexer_events_transaction_id_event_index"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("indexer_transactions.id"))
    event_index: Mapped[int] = mapped_column(Integer)
    """Position among the transaction's external-out messages."""
    pool: Mapped[str] = mapped_column(String(ADDRESS_LENGTH), index=True)
    address: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    """The contract that emitted it."""
    lt: Mapped[int] = mapped_column(BigInteger)
    utime: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    kind: Mapped[str] = mapped_column(String(40), index=True)
    """The event's name, e.g. ``RewardSettled`` (docs/events.md)."""
    epoch: Mapped[int | None] = mapped_column(BigInteger, index=True, default=None)
    member: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH), index=True, default=None)
    amount: Mapped[int | None] = mapped_column(BigInteger, default=None)
    """The event's main amount (see ``cocoon_pool.indexer.events.AMOUNT_FIELDS``)."""
    fields: Mapped[dict[str, Any]] = mapped_column(JSON)
    """Every decoded field: addresses raw, amounts as integers, cells as base64 BOCs."""

    transaction: Mapped[IndexedTransaction] = relationship(back_populates="events")


class Payout(Base):
    """A member's settled epoch share (``reward``) or a taken-out pending amount
    (``pending``)."""

    __tablename__ = "indexer_payouts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("indexer_events.id"), unique=True)
    pool: Mapped[str] = mapped_column(String(ADDRESS_LENGTH), index=True)
    contract: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    """The RewardDistribution that paid (the counterparty)."""
    kind: Mapped[str] = mapped_column(String(16))
    member: Mapped[str] = mapped_column(String(ADDRESS_LENGTH), index=True)
    epoch: Mapped[int | None] = mapped_column(BigInteger, default=None)
    amount: Mapped[int] = mapped_column(BigInteger)
    """``reward``: the epoch's share; ``pending``: the pending amount taken out."""
    pending_carry: Mapped[int] = mapped_column(BigInteger, default=0)
    """Earlier pending amount settled together with this share."""
    paid_now: Mapped[bool] = mapped_column(Boolean)
    transferred: Mapped[int] = mapped_column(BigInteger)
    """What this transaction sent to the member: ``amount + pending_carry`` when paid now,
    0 when the total stayed pending (below the minimum payout)."""
    tx_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    utime: Mapped[int] = mapped_column(BigInteger)
    lt: Mapped[int] = mapped_column(BigInteger)

    event: Mapped[IndexedEvent] = relationship()


class StakeChange(Base):
    """``joined`` (MemberJoined), ``left`` (MemberLeft: unbonding started) or ``withdrawn``
    (StakeWithdrawn: the stake went back to the member)."""

    __tablename__ = "indexer_stakes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("indexer_events.id"), unique=True)
    pool: Mapped[str] = mapped_column(String(ADDRESS_LENGTH), index=True)
    contract: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    """The emitting contract: the registry (joined, left) or the member's Participant."""
    kind: Mapped[str] = mapped_column(String(16))
    member: Mapped[str] = mapped_column(String(ADDRESS_LENGTH), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    member_count: Mapped[int | None] = mapped_column(BigInteger, default=None)
    """The pool's member count after the change (joined, left)."""
    tx_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    utime: Mapped[int] = mapped_column(BigInteger)
    lt: Mapped[int] = mapped_column(BigInteger)

    event: Mapped[IndexedEvent] = relationship()


class CommissionPayment(Base):
    """Accrued commission sent to the admin (CommissionCollected)."""

    __tablename__ = "indexer_commissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("indexer_events.id"), unique=True)
    pool: Mapped[str] = mapped_column(String(ADDRESS_LENGTH), index=True)
    contract: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    recipient: Mapped[str] = mapped_column(String(ADDRESS_LENGTH), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    utime: Mapped[int] = mapped_column(BigInteger)
    lt: Mapped[int] = mapped_column(BigInteger)

    event: Mapped[IndexedEvent] = relationship()


class EpochResult(Base):
    """One epoch's figures: filled by EpochClosed, EpochFinalized and EpochRetired."""

    __tablename__ = "indexer_epochs"
    __table_args__ = (UniqueConstraint("pool", "epoch", name="uq_indexer_epochs_pool_epoch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pool: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    epoch: Mapped[int] = mapped_column(BigInteger)
    start_time: Mapped[int | None] = mapped_column(BigInteger, default=None)
    end_time: Mapped[int | None] = mapped_column(BigInteger, default=None)
    report_deadline: Mapped[int | None] = mapped_column(BigInteger, default=None)
    received: Mapped[int | None] = mapped_column(BigInteger, default=None)
    commission: Mapped[int | None] = mapped_column(BigInteger, default=None)
    net: Mapped[int | None] = mapped_column(BigInteger, default=None)
    closed_tx: Mapped[str | None] = mapped_column(String(HASH_LENGTH), default=None)
    closed_at: Mapped[int | None] = mapped_column(BigInteger, default=None)
    reserve_in: Mapped[int | None] = mapped_column(BigInteger, default=None)
    penalty_pool: Mapped[int | None] = mapped_column(BigInteger, default=None)
    bonus_paid: Mapped[int | None] = mapped_column(BigInteger, default=None)
    claimable: Mapped[int | None] = mapped_column(BigInteger, default=None)
    reporters: Mapped[int | None] = mapped_column(BigInteger, default=None)
    finalized_tx: Mapped[str | None] = mapped_column(String(HASH_LENGTH), default=None)
    finalized_at: Mapped[int | None] = mapped_column(BigInteger, default=None)
    dust: Mapped[int | None] = mapped_column(BigInteger, default=None)
    """Rounding dust swept into the reserve once every member was paid."""
    retired_tx: Mapped[str | None] = mapped_column(String(HASH_LENGTH), default=None)
    retired_at: Mapped[int | None] = mapped_column(BigInteger, default=None)
