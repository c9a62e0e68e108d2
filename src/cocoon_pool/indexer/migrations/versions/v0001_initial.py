"""Initial indexer schema: contracts with cursors, transactions, events, derived history.

Revision ID: 0001_indexer_initial
Revises:
Create Date: 2026-02-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001_indexer_initial"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

ADDR = sa.String(length=80)
HASH = sa.String(length=64)


def _event_fact_columns() -> list[sa.Column[object]]:
    """Columns every derived row repeats from its event, so history needs no joins."""
    return [
        sa.Column("tx_hash", HASH, nullable=False),
        sa.Column("utime", sa.BigInteger(), nullable=False),
        sa.Column("lt", sa.BigInteger(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "indexer_contracts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("address", ADDR, nullable=False),
        sa.Column("pool", ADDR, nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("member", ADDR, nullable=True),
        sa.Column("network", sa.String(length=16), nullable=False),
        sa.Column("last_lt", sa.BigInteger(), nullable=False),
        sa.Column("last_utime", sa.BigInteger(), nullable=True),
        sa.Column("transactions", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indexer_contracts")),
        sa.UniqueConstraint("address", name=op.f("uq_indexer_contracts_address")),
    )
    op.create_index(op.f("ix_indexer_contracts_pool"), "indexer_contracts", ["pool"])

    op.create_table(
        "indexer_transactions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("pool", ADDR, nullable=False),
        sa.Column("address", ADDR, nullable=False),
        sa.Column("lt", sa.BigInteger(), nullable=False),
        sa.Column("hash", HASH, nullable=False),
        sa.Column("utime", sa.BigInteger(), nullable=False),
        sa.Column("op", sa.BigInteger(), nullable=True),
        sa.Column("source", ADDR, nullable=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("fees", sa.BigInteger(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indexer_transactions")),
        sa.UniqueConstraint("address", "lt", name="uq_indexer_transactions_address_lt"),
    )
    op.create_index(op.f("ix_indexer_transactions_pool"), "indexer_transactions", ["pool"])
    op.create_index(op.f("ix_indexer_transactions_hash"), "indexer_transactions", ["hash"])
    op.create_index(op.f("ix_indexer_transactions_utime"), "indexer_transactions", ["utime"])

    op.create_table(
        "indexer_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=False),
        sa.Column("event_index", sa.Integer(), nullable=False),
        sa.Column("pool", ADDR, nullable=False),
        sa.Column("address", ADDR, nullable=False),
        sa.Column("lt", sa.BigInteger(), nullable=False),
        sa.Column("utime", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", HASH, nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=True),
        sa.Column("member", ADDR, nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["indexer_transactions.id"],
            name=op.f("fk_indexer_events_transaction_id_indexer_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indexer_events")),
        sa.UniqueConstraint(
            "transaction_id", "event_index", name="uq_indexer_events_transaction_id_event_index"
        ),
    )
    for column in ("pool", "kind", "epoch", "member"):
        op.create_index(op.f(f"ix_indexer_events_{column}"), "indexer_events", [column])

    op.create_table(
        "indexer_payouts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("pool", ADDR, nullable=False),
        sa.Column("contract", ADDR, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("member", ADDR, nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("pending_carry", sa.BigInteger(), nullable=False),
        sa.Column("paid_now", sa.Boolean(), nullable=False),
        sa.Column("transferred", sa.BigInteger(), nullable=False),
        *_event_fact_columns(),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["indexer_events.id"],
            name=op.f("fk_indexer_payouts_event_id_indexer_events"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indexer_payouts")),
        sa.UniqueConstraint("event_id", name=op.f("uq_indexer_payouts_event_id")),
    )
    op.create_index(op.f("ix_indexer_payouts_pool"), "indexer_payouts", ["pool"])
    op.create_index(op.f("ix_indexer_payouts_member"), "indexer_payouts", ["member"])

    op.create_table(
        "indexer_stakes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("pool", ADDR, nullable=False),
        sa.Column("contract", ADDR, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("member", ADDR, nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("member_count", sa.BigInteger(), nullable=True),
        *_event_fact_columns(),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["indexer_events.id"],
            name=op.f("fk_indexer_stakes_event_id_indexer_events"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indexer_stakes")),
        sa.UniqueConstraint("event_id", name=op.f("uq_indexer_stakes_event_id")),
    )
    op.create_index(op.f("ix_indexer_stakes_pool"), "indexer_stakes", ["pool"])
    op.create_index(op.f("ix_indexer_stakes_member"), "indexer_stakes", ["member"])

    op.create_table(
        "indexer_commissions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("pool", ADDR, nullable=False),
        sa.Column("contract", ADDR, nullable=False),
        sa.Column("recipient", ADDR, nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        *_event_fact_columns(),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["indexer_events.id"],
            name=op.f("fk_indexer_commissions_event_id_indexer_events"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indexer_commissions")),
        sa.UniqueConstraint("event_id", name=op.f("uq_indexer_commissions_event_id")),
    )
    op.create_index(op.f("ix_indexer_commissions_pool"), "indexer_commissions", ["pool"])
    op.create_index(op.f("ix_indexer_commissions_recipient"), "indexer_commissions", ["recipient"])

    op.create_table(
        "indexer_epochs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("pool", ADDR, nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        *(
            sa.Column(name, sa.BigInteger(), nullable=True)
            for name in (
                "start_time",
                "end_time",
                "report_deadline",
                "received",
                "commission",
                "net",
            )
        ),
        sa.Column("closed_tx", HASH, nullable=True),
        sa.Column("closed_at", sa.BigInteger(), nullable=True),
        *(
            sa.Column(name, sa.BigInteger(), nullable=True)
            for name in ("reserve_in", "penalty_pool", "bonus_paid", "claimable", "reporters")
        ),
        sa.Column("finalized_tx", HASH, nullable=True),
        sa.Column("finalized_at", sa.BigInteger(), nullable=True),
        sa.Column("dust", sa.BigInteger(), nullable=True),
        sa.Column("retired_tx", HASH, nullable=True),
        sa.Column("retired_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indexer_epochs")),
        sa.UniqueConstraint("pool", "epoch", name="uq_indexer_epochs_pool_epoch"),
    )


def downgrade() -> None:
    op.drop_table("indexer_epochs")
    for table in ("indexer_commissions", "indexer_stakes", "indexer_payouts", "indexer_events"):
        op.drop_table(table)
    op.drop_table("indexer_transactions")
    op.drop_table("indexer_contracts")
