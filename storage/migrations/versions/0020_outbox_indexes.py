"""The outbox's indexes for fast expansion (issue 19): `deliveries.broadcast_id` loses its own
index (the unique (broadcast_id, volunteer_id) leads with it and serves every lookup by
broadcast), and `deliveries.commitment_id`'s index keeps only the rows that name a commitment
(reminders, check-ins), not a broadcast's 100,000.

Revision ID: 0020
Revises: 0016
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAMED = sa.text("commitment_id IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_deliveries_broadcast_id", table_name="deliveries")
    op.drop_index("ix_deliveries_commitment_id", table_name="deliveries")
    op.create_index(
        "ix_deliveries_commitment_id",
        "deliveries",
        ["commitment_id"],
        postgresql_where=NAMED,
        sqlite_where=NAMED,
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_commitment_id", table_name="deliveries")
    op.create_index("ix_deliveries_commitment_id", "deliveries", ["commitment_id"])
    op.create_index("ix_deliveries_broadcast_id", "deliveries", ["broadcast_id"])
