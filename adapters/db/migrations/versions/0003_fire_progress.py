"""fire progress: per-investor outcomes of fanned-out fires

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("total", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("done", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("failed", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column(
                "engine",
                sqlmodel.sql.sqltypes.AutoString(length=20),
                nullable=False,
                server_default="in-process",
            )
        )
    op.create_table(
        "job_run_items",
        sa.Column("job_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("scheduled_for", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("investor", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("detail", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "job_id", "scheduled_for", "investor", name=op.f("pk_job_run_items")
        ),
    )


def downgrade() -> None:
    op.drop_table("job_run_items")
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.drop_column("engine")
        batch_op.drop_column("failed")
        batch_op.drop_column("done")
        batch_op.drop_column("total")
