"""Schema changes for issue 3 (sms): a delivery names the commitment it is about.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("commitment_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_deliveries_commitment_id"), ["commitment_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_deliveries_commitment_id_commitments"),
            "commitments",
            ["commitment_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_deliveries_commitment_id_commitments"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_deliveries_commitment_id"))
        batch_op.drop_column("commitment_id")
