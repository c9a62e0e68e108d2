"""Database tables of the oracle (SQLAlchemy 2 typed models).

Timestamps are integer unix seconds and counters are integers, so the same schema behaves
identically on SQLite (the default) and PostgreSQL. The Alembic migrations in
``migrations/versions`` create exactly these tables; a unit test compares the two.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from cocoon_pool.database import ADDRESS_LENGTH, named_metadata


class Base(DeclarativeBase):
    metadata = named_metadata()


class Poll(Base):
    """One round over every member. A discarded poll's samples are kept but not counted."""

    __tablename__ = "oracle_polls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    taken_at: Mapped[int] = mapped_column(BigInteger, index=True)
    """Unix seconds when the poll started; its samples carry the same value."""
    members: Mapped[int] = mapped_column(Integer)
    down: Mapped[int] = mapped_column(Integer)
    unreachable: Mapped[int] = mapped_column(Integer)
    """Members whose stats request got no HTTP response at all."""
    discarded: Mapped[bool] = mapped_column(Boolean)
    """True when the poll is the oracle's own failure; its samples count for nobody."""
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    duration_ms: Mapped[int] = mapped_column(Integer)


class Sample(Base):
    """One observation of one member's worker: up or down, and what it reported."""

    __tablename__ = "oracle_samples"
    __table_args__ = (Index("ix_oracle_samples_member_taken_at", "member", "taken_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    poll_id: Mapped[int | None] = mapped_column(
        ForeignKey("oracle_polls.id"), index=True, default=None
    )
    """The poll that took this sample; None for samples stored before polls were recorded
    (schema 0001), which always count."""
    member: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    """Raw address ``<wc>:<hex>`` of the pool member."""
    taken_at: Mapped[int] = mapped_column(BigInteger, index=True)
    """Unix seconds when the poll that produced this sample started."""
    ok: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    """Why the sample counts as down (None when up)."""
    http_status: Mapped[int | None] = mapped_column(Integer, default=None)
    latency_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    queries_total: Mapped[int | None] = mapped_column(BigInteger, default=None)
    success_total: Mapped[int | None] = mapped_column(BigInteger, default=None)
    failed_total: Mapped[int | None] = mapped_column(BigInteger, default=None)
    tokens_total: Mapped[int | None] = mapped_column(BigInteger, default=None)
    """Adjusted tokens since the worker started (``stats.total_adjusted_tokens_used[0]``)."""
    tokens_10m: Mapped[float | None] = mapped_column(Double, default=None)
    """The 10-minute decayed token counter (``stats.total_adjusted_tokens_used[4]``)."""
    throughput_mtps: Mapped[int | None] = mapped_column(BigInteger, default=None)
    """Throughput in milli-tokens per second, derived from ``tokens_10m``."""
    earned_tokens: Mapped[int | None] = mapped_column(BigInteger, default=None)
    """Sum over proxies of ``earned_tokens_committed_to_blockchain``."""
    wallet_balance: Mapped[int | None] = mapped_column(BigInteger, default=None)
    ai_model: Mapped[str | None] = mapped_column(String(200), default=None)
    owner_address: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH), default=None)
    gpu_model: Mapped[str | None] = mapped_column(String(200), default=None)
    gpu_utilization: Mapped[int | None] = mapped_column(Integer, default=None)


class Report(Base):
    """The one signed report per (epoch, member): a relayer sends ``body_boc`` as is."""

    __tablename__ = "oracle_reports"
    __table_args__ = (UniqueConstraint("epoch", "member", name="uq_oracle_reports_epoch_member"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    epoch: Mapped[int] = mapped_column(BigInteger)
    member: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    distribution: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    epoch_start: Mapped[int] = mapped_column(BigInteger)
    epoch_length: Mapped[int] = mapped_column(BigInteger)
    running_seconds: Mapped[int] = mapped_column(BigInteger)
    gpu_score: Mapped[int] = mapped_column(BigInteger)
    uptime_bps: Mapped[int] = mapped_column(Integer)
    outages: Mapped[int] = mapped_column(Integer)
    expected_samples: Mapped[int] = mapped_column(BigInteger)
    """Slots in the epoch, discarded ones included."""
    up_samples: Mapped[int] = mapped_column(BigInteger)
    discarded_slots: Mapped[int] = mapped_column(BigInteger, server_default="0")
    """Slots held only by discarded polls: neither up nor down, left out of ``uptime_bps``."""
    oracle_public_key: Mapped[str] = mapped_column(String(64))
    body_boc: Mapped[str] = mapped_column(Text)
    """Base64 BOC of the ``SubmitReport`` message body, signed by the oracle key."""
    body_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger)
