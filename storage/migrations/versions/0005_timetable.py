"""Schema changes for issue 6 (timetable): when a schedule's timing was last set; an index on
shifts.ends_at for the check-in sweep.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("schedules") as batch:
        batch.add_column(sa.Column("timing_set_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_shifts_ends_at", "shifts", ["ends_at"])


def downgrade() -> None:
    op.drop_index("ix_shifts_ends_at", table_name="shifts")
    with op.batch_alter_table("schedules") as batch:
        batch.drop_column("timing_set_at")
