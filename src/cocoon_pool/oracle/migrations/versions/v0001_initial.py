"""Initial oracle schema: samples and signed reports.

Revision ID: 0001_initial
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "oracle_samples",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("member", sa.String(length=80), nullable=False),
        sa.Column("taken_at", sa.BigInteger(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("queries_total", sa.BigInteger(), nullable=True),
        sa.Column("success_total", sa.BigInteger(), nullable=True),
        sa.Column("failed_total", sa.BigInteger(), nullable=True),
        sa.Column("tokens_total", sa.BigInteger(), nullable=True),
        sa.Column("tokens_10m", sa.Double(), nullable=True),
        sa.Column("throughput_mtps", sa.BigInteger(), nullable=True),
        sa.Column("earned_tokens", sa.BigInteger(), nullable=True),
        sa.Column("wallet_balance", sa.BigInteger(), nullable=True),
        sa.Column("ai_model", sa.String(length=200), nullable=True),
        sa.Column("owner_address", sa.String(length=80), nullable=True),
        sa.Column("gpu_model", sa.String(length=200), nullable=True),
        sa.Column("gpu_utilization", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oracle_samples")),
    )
    op.create_index("ix_oracle_samples_member_taken_at", "oracle_samples", ["member", "taken_at"])
    op.create_index(op.f("ix_oracle_samples_taken_at"), "oracle_samples", ["taken_at"])
    op.create_table(
        "oracle_reports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("member", sa.String(length=80), nullable=False),
        sa.Column("distribution", sa.String(length=80), nullable=False),
        sa.Column("epoch_start", sa.BigInteger(), nullable=False),
        sa.Column("epoch_length", sa.BigInteger(), nullable=False),
        sa.Column("running_seconds", sa.BigInteger(), nullable=False),
        sa.Column("gpu_score", sa.BigInteger(), nullable=False),
        sa.Column("uptime_bps", sa.Integer(), nullable=False),
        sa.Column("outages", sa.Integer(), nullable=False),
        sa.Column("expected_samples", sa.BigInteger(), nullable=False),
        sa.Column("up_samples", sa.BigInteger(), nullable=False),
        sa.Column("oracle_public_key", sa.String(length=64), nullable=False),
        sa.Column("body_boc", sa.Text(), nullable=False),
        sa.Column("body_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oracle_reports")),
        sa.UniqueConstraint("epoch", "member", name="uq_oracle_reports_epoch_member"),
    )


def downgrade() -> None:
    op.drop_table("oracle_reports")
    op.drop_index(op.f("ix_oracle_samples_taken_at"), table_name="oracle_samples")
    op.drop_index("ix_oracle_samples_member_taken_at", table_name="oracle_samples")
    op.drop_table("oracle_samples")
