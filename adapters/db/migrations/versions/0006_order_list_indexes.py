"""order journal indexes for the newest-first operator views

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("order_intents", schema=None) as batch_op:
        batch_op.create_index("ix_order_intents_created_at", ["created_at"])
        batch_op.create_index("ix_order_intents_state_created_at", ["state", "created_at"])


def downgrade() -> None:
    with op.batch_alter_table("order_intents", schema=None) as batch_op:
        batch_op.drop_index("ix_order_intents_state_created_at")
        batch_op.drop_index("ix_order_intents_created_at")
