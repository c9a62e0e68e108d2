"""Database tables of the alerts service (SQLAlchemy 2 typed models).

An alert is stored once, under its dedupe key, in the same transaction that moves the cursor
of the source it came from; each configured sink gets a delivery row that stays ``pending``
until that sink accepted the alert. So a restart neither loses nor repeats an alert, and a
failing sink is simply retried. Times are unix seconds. The Alembic migrations in
``migrations/versions`` create exactly these tables.
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
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from cocoon_pool.database import ADDRESS_LENGTH, named_metadata

KEY_LENGTH = 200
STATE_PENDING = "pending"
STATE_SENT = "sent"


class Base(DeclarativeBase):
    metadata = named_metadata()


class AlertRow(Base):
    """One alert, stored once under its dedupe key."""

    __tablename__ = "alerts_alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(KEY_LENGTH), unique=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger, index=True)
    """Unix seconds when the alerts service found it."""
    occurred_at: Mapped[int] = mapped_column(BigInteger)
    """Unix seconds of what it is about (the sample, the transaction, the failed action)."""
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The facts behind the text (addresses raw, amounts in nanoton), for the webhook."""

    deliveries: Mapped[list[Delivery]] = relationship(
        back_populates="alert", order_by="Delivery.sink"
    )


class Delivery(Base):
    """One alert to one sink: ``pending`` until the sink accepted it, then ``sent``."""

    __tablename__ = "alerts_deliveries"
    __table_args__ = (
        UniqueConstraint("alert_id", "sink", name="uq_alerts_deliveries_alert_id_sink"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts_alerts.id"))
    sink: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    """Rounds that tried this delivery (each may retry within itself)."""
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    sent_at: Mapped[int | None] = mapped_column(BigInteger, default=None)

    alert: Mapped[AlertRow] = relationship(back_populates="deliveries")


class Cursor(Base):
    """How far a source has been read, e.g. the last oracle sample id looked at."""

    __tablename__ = "alerts_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class WorkerState(Base):
    """A member's worker as the outage detector last saw it, carried across restarts."""

    __tablename__ = "alerts_workers"

    member: Mapped[str] = mapped_column(String(ADDRESS_LENGTH), primary_key=True)
    down_samples: Mapped[int] = mapped_column(Integer, default=0)
    """Consecutive counted samples that were down."""
    down_since: Mapped[int | None] = mapped_column(BigInteger, default=None)
    """``taken_at`` of the first of them."""
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    alerted: Mapped[bool] = mapped_column(Boolean, default=False)
    """True once a ``worker_down`` went out for this outage (a recovery is then reported)."""
