"""investors, their accounts and institution credentials (issue 13)

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - autogenerate emits sqlmodel.sql.sqltypes.AutoString
from alembic import op

import adapters.db.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "investors",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("display_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("search_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("disabled_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_investors")),
    )
    with op.batch_alter_table("investors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_investors_search_name"), ["search_name"])
        batch_op.create_index(batch_op.f("ix_investors_status"), ["status"])

    op.create_table(
        "investor_accounts",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("investor_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("institution", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("external_ref", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("masked_number", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("origin", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("overrides", adapters.db.types.JsonText(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["investor_id"],
            ["investors.id"],
            name=op.f("fk_investor_accounts_investor_id_investors"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_investor_accounts")),
        sa.UniqueConstraint("source", "external_ref", name=op.f("uq_investor_accounts_source")),
    )
    with op.batch_alter_table("investor_accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_investor_accounts_investor_id"), ["investor_id"])

    op.create_table(
        "institution_credentials",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("investor_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("institution", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("env", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("key_suffix", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("account_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("ciphertext", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["investor_id"],
            ["investors.id"],
            name=op.f("fk_institution_credentials_investor_id_investors"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_institution_credentials")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_institution_credentials_fingerprint")),
        sa.UniqueConstraint(
            "investor_id", "institution", name=op.f("uq_institution_credentials_investor_id")
        ),
    )
    with op.batch_alter_table("institution_credentials", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_institution_credentials_investor_id"), ["investor_id"]
        )


def downgrade() -> None:
    op.drop_table("institution_credentials")
    op.drop_table("investor_accounts")
    op.drop_table("investors")
