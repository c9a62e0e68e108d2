"""Initial alerts schema: alerts, their deliveries per sink, source cursors, worker states.

Revision ID: 0001_alerts_initial
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001_alerts_initial"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "alerts_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.BigInteger(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts_alerts")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_alerts_alerts_dedupe_key")),
    )
    op.create_index(op.f("ix_alerts_alerts_kind"), "alerts_alerts", ["kind"])
    op.create_index(op.f("ix_alerts_alerts_created_at"), "alerts_alerts", ["created_at"])
    op.create_table(
        "alerts_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("sink", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts_alerts.id"],
            name=op.f("fk_alerts_deliveries_alert_id_alerts_alerts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts_deliveries")),
        sa.UniqueConstraint("alert_id", "sink", name="uq_alerts_deliveries_alert_id_sink"),
    )
    op.create_index(op.f("ix_alerts_deliveries_state"), "alerts_deliveries", ["state"])
    op.create_table(
        "alerts_cursors",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_alerts_cursors")),
    )
    op.create_table(
        "alerts_workers",
        sa.Column("member", sa.String(length=80), nullable=False),
        sa.Column("down_samples", sa.Integer(), nullable=False),
        sa.Column("down_since", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("alerted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("member", name=op.f("pk_alerts_workers")),
    )


def downgrade() -> None:
    op.drop_table("alerts_workers")
    op.drop_table("alerts_cursors")
    op.drop_index(op.f("ix_alerts_deliveries_state"), table_name="alerts_deliveries")
    op.drop_table("alerts_deliveries")
    op.drop_index(op.f("ix_alerts_alerts_created_at"), table_name="alerts_alerts")
    op.drop_index(op.f("ix_alerts_alerts_kind"), table_name="alerts_alerts")
    op.drop_table("alerts_alerts")
