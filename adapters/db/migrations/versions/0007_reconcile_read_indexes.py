"""indexes for what every fire reads: an account's newest snapshot and its fills since

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("snapshots", schema=None) as batch_op:
        batch_op.create_index("ix_snapshots_account_taken_at", ["account_id", "taken_at"])
    with op.batch_alter_table("fills", schema=None) as batch_op:
        batch_op.create_index("ix_fills_account_filled_at", ["account_id", "filled_at"])


def downgrade() -> None:
    with op.batch_alter_table("fills", schema=None) as batch_op:
        batch_op.drop_index("ix_fills_account_filled_at")
    with op.batch_alter_table("snapshots", schema=None) as batch_op:
        batch_op.drop_index("ix_snapshots_account_taken_at")
