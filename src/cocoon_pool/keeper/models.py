"""Database tables of the keeper (SQLAlchemy 2 typed models).

One row per action the keeper ever decided to take, keyed by what it acts on
(``kind, epoch, member``), so a restarted keeper finds every intent of the one before it.
Times are integer unix milliseconds, so SQLite (the default) and PostgreSQL behave alike.
The Alembic migrations in ``migrations/versions`` create exactly these tables.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from cocoon_pool.database import ADDRESS_LENGTH, named_metadata

KIND_CLOSE = "close"
KIND_REPORT = "report"
KIND_FINALIZE = "finalize"
KIND_CRANK = "crank"

STATE_SENDING = "sending"
"""The intent: written and committed before the message leaves. A restart that finds it does
not know whether the message went out, so it asks the chain before sending again."""
STATE_FAILED = "failed"
"""The last try failed (an error or a refused transaction); retried after ``next_attempt_at``."""
STATE_DONE = "done"
"""The chain shows the action done: by this keeper's message, or by anybody else's."""
STATE_SKIPPED = "skipped"
"""Nothing to send and nothing will be: e.g. a member that is no longer registered."""
FINAL_STATES = (STATE_DONE, STATE_SKIPPED)

NO_MEMBER = ""
"""``member`` of the epoch-wide actions (close, finalize): '' keeps the unique key simple."""


class Base(DeclarativeBase):
    metadata = named_metadata()


class Action(Base):
    """One keeper action and where it stands."""

    __tablename__ = "keeper_actions"
    __table_args__ = (
        UniqueConstraint("kind", "epoch", "member", name="uq_keeper_actions_kind_epoch_member"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    epoch: Mapped[int] = mapped_column(BigInteger)
    member: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    state: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    """Messages sent (or maybe sent) for this action."""
    failures: Mapped[int] = mapped_column(Integer, default=0)
    """Consecutive failures; the retry backoff doubles with each."""
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    sent_at_ms: Mapped[int | None] = mapped_column(BigInteger, default=None)
    next_attempt_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    tx_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    """Hash of the first transaction of the trace that did it (the keeper wallet's)."""
    note: Mapped[str | None] = mapped_column(Text, default=None)
    """Why it is done or skipped without this keeper's message, e.g. ``chain``."""
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class Cursor(Base):
    """Named integers the keeper moves forward, e.g. the last epoch whose payouts are all done."""

    __tablename__ = "keeper_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)
