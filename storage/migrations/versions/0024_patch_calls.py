"""Patch-through calls (issue 17, TWILIO_VOICE=on): `patch_calls`, one row per CALL offer, the
call Twilio placed for it and how it went.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | Sequence[str] | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = (
    "offered",
    "queued",
    "dialing",
    "placed",
    "answered",
    "ended",
    "cancelled",
    "expired",
    "lost",
)


def upgrade() -> None:
    op.create_table(
        "patch_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("volunteer_id", sa.Integer(), nullable=False),
        sa.Column("broadcast_id", sa.Integer(), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                *STATUSES,
                name="callstatus",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("choice", sa.Integer(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=80), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=True),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("connected", sa.Boolean(), nullable=False),
        sa.Column("dial_status", sa.String(length=20), nullable=True),
        sa.Column("dial_seconds", sa.Integer(), nullable=True),
        sa.Column("call_seconds", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("error_code", sa.String(length=20), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["broadcast_id"],
            ["broadcasts.id"],
            name=op.f("fk_patch_calls_broadcast_id_broadcasts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["volunteer_id"],
            ["volunteers.id"],
            name=op.f("fk_patch_calls_volunteer_id_volunteers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patch_calls")),
        sa.UniqueConstraint("call_sid", name=op.f("uq_patch_calls_call_sid")),
    )
    with op.batch_alter_table("patch_calls", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_patch_calls_broadcast_id"), ["broadcast_id"], unique=False
        )
        batch_op.create_index(
            "ix_patch_calls_status_requested", ["status", "requested_at"], unique=False
        )
        batch_op.create_index(
            "ix_patch_calls_volunteer_offered", ["volunteer_id", "offered_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("patch_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_patch_calls_volunteer_offered")
        batch_op.drop_index("ix_patch_calls_status_requested")
        batch_op.drop_index(batch_op.f("ix_patch_calls_broadcast_id"))
    op.drop_table("patch_calls")
