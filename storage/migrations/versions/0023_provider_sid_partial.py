"""The outbox's Twilio sid (issue 19): unique among the rows that have one, in a partial index.
Every row is written without a sid (it gets one when Twilio accepts the text), so the unique
constraint's index took one NULL entry per row: 100,000 entries, and their WAL, at each broadcast's
expansion, for nothing (NULLs never conflict). Lookups by sid (`sid = ...`) use the partial index.

Revision ID: 0023
Revises: 0018
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HAS_SID = sa.text("provider_sid IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.drop_constraint("uq_deliveries_provider_sid", type_="unique")
    op.create_index(
        "uq_deliveries_provider_sid",
        "deliveries",
        ["provider_sid"],
        unique=True,
        postgresql_where=HAS_SID,
        sqlite_where=HAS_SID,
    )


def downgrade() -> None:
    op.drop_index("uq_deliveries_provider_sid", table_name="deliveries")
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.create_unique_constraint("uq_deliveries_provider_sid", ["provider_sid"])
