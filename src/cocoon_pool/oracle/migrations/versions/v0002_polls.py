"""Record every poll, so a discarded one (the oracle's own failure) can be left out.

Adds ``oracle_polls``, links each sample to its poll (``oracle_samples.poll_id``; samples
stored before this revision have none and keep counting) and stores how many slots of an
epoch were discarded (``oracle_reports.discarded_slots``; 0 for earlier reports).

Revision ID: 0002_polls
Revises: 0001_initial
Create Date: 2026-02-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002_polls"
down_revision: str | None = "0001_initial"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "oracle_polls",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("taken_at", sa.BigInteger(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("down", sa.Integer(), nullable=False),
        sa.Column("unreachable", sa.Integer(), nullable=False),
        sa.Column("discarded", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oracle_polls")),
    )
    op.create_index(op.f("ix_oracle_polls_taken_at"), "oracle_polls", ["taken_at"])
    # Batch mode: SQLite cannot add a foreign key to an existing table, so Alembic copies
    # the table; on PostgreSQL these are plain ALTER TABLE statements.
    with op.batch_alter_table("oracle_samples") as batch:
        batch.add_column(sa.Column("poll_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_oracle_samples_poll_id"), ["poll_id"])
        batch.create_foreign_key(
            batch.f("fk_oracle_samples_poll_id_oracle_polls"), "oracle_polls", ["poll_id"], ["id"]
        )
    with op.batch_alter_table("oracle_reports") as batch:
        batch.add_column(
            sa.Column("discarded_slots", sa.BigInteger(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("oracle_reports") as batch:
        batch.drop_column("discarded_slots")
    with op.batch_alter_table("oracle_samples") as batch:
        batch.drop_constraint(batch.f("fk_oracle_samples_poll_id_oracle_polls"), type_="foreignkey")
        batch.drop_index(batch.f("ix_oracle_samples_poll_id"))
        batch.drop_column("poll_id")
    op.drop_index(op.f("ix_oracle_polls_taken_at"), table_name="oracle_polls")
    op.drop_table("oracle_polls")
