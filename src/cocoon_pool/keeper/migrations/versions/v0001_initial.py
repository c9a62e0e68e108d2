"""Initial keeper schema: actions (intent, outcome, retries) and cursors.

Revision ID: 0001_keeper_initial
Revises:
Create Date: 2026-03-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001_keeper_initial"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "keeper_actions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("member", sa.String(length=80), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("next_attempt_ms", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_keeper_actions")),
        sa.UniqueConstraint("kind", "epoch", "member", name="uq_keeper_actions_kind_epoch_member"),
    )
    op.create_index(op.f("ix_keeper_actions_state"), "keeper_actions", ["state"])
    op.create_table(
        "keeper_cursors",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_keeper_cursors")),
    )


def downgrade() -> None:
    op.drop_table("keeper_cursors")
    op.drop_index(op.f("ix_keeper_actions_state"), table_name="keeper_actions")
    op.drop_table("keeper_actions")
