"""Slack (issue 4): which organizer reply in an inbox thread became which text, so the poster can
mark the reply once the text has gone (or failed).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "slack_reply_marks",
        sa.Column("delivery_key", sa.String(length=120), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("message_ts", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("delivery_key", name=op.f("pk_slack_reply_marks")),
    )
    with op.batch_alter_table("slack_reply_marks") as batch:
        batch.create_index(batch.f("ix_slack_reply_marks_outcome"), ["outcome"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("slack_reply_marks") as batch:
        batch.drop_index(batch.f("ix_slack_reply_marks_outcome"))
    op.drop_table("slack_reply_marks")
