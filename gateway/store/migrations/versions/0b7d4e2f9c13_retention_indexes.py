"""Retention: the sweep (gateway.dispatch.retention) finds the oldest attempts, idempotency records and
delivered webhooks by index, in small batches, instead of scanning their tables.

Revision ID: 0b7d4e2f9c13
Revises: 5f1e0c7a9b21
"""

from __future__ import annotations

from alembic import op

revision = "0b7d4e2f9c13"
down_revision = "5f1e0c7a9b21"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_attempts_at", "attempts", ["at"], unique=False)
    op.create_index("ix_idempotency_created_at", "idempotency", ["created_at"], unique=False)
    op.create_index(
        "ix_webhook_deliveries_delivered_at", "webhook_deliveries", ["delivered_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_delivered_at", table_name="webhook_deliveries")
    op.drop_index("ix_idempotency_created_at", table_name="idempotency")
    op.drop_index("ix_attempts_at", table_name="attempts")
