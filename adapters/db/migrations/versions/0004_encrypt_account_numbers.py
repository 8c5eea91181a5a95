"""order_intents.external_ref holds an encrypted account number (a Fernet token, longer than 64)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 12:40:00

Rows written before this revision still hold the plain number; `orchestrator db upgrade` encrypts
them right after the schema change (the migration itself has no access to the keys).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("order_intents", schema=None) as batch_op:
        batch_op.alter_column(
            "external_ref",
            existing_type=sa.String(length=64),
            type_=sa.Text(),
            existing_nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("order_intents", schema=None) as batch_op:
        batch_op.alter_column(
            "external_ref",
            existing_type=sa.Text(),
            type_=sa.String(length=64),
            existing_nullable=False,
        )
