"""The outbox tables: every text to a volunteer (`deliveries`, claimed, sent and tracked by the
sender), every post for the organizers' Slack (kept until Slack accepts it), and the organizers'
inbox replies that became texts. Their queries are in `storage/outbox.py`.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, StrEnum, enum_column, utcnow


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting to be claimed (maybe held for quiet hours or a retry)
    CLAIMED = "claimed"  # a sender has it in flight
    QUEUED = "queued"  # accepted by Twilio (queued / accepted)
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    CANCELLED = "cancelled"  # broadcast cancelled before this went
    EXPIRED = "expired"  # past its deadline before it could go
    SKIPPED = "skipped"  # the volunteer opted out / became unreachable before send


class Priority(enum.IntEnum):
    TRANSACTIONAL = 0  # waitlist promotions, organizer replies, confirmations
    REMINDER = 1
    BULK = 5  # broadcasts


class Delivery(Base):
    """One text to one volunteer: the outbox row the sender claims, sends and tracks.

    `idempotency_key` makes every producer's insert idempotent: `bc:<broadcast>:<volunteer>`,
    `rem:<commitment>:<kind>`, `promo:<commitment>`, `reply:<slack event id>` ...
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "volunteer_id"),
        Index("ix_deliveries_due", "status", "priority", "send_after"),
        Index("ix_deliveries_to_phone_created", "to_phone", "created_at"),
        # Unique among rows with a sid: every row is written without one (NULLs never conflict).
        Index(
            "uq_deliveries_provider_sid",
            "provider_sid",
            unique=True,
            postgresql_where=text("provider_sid IS NOT NULL"),
            sqlite_where=text("provider_sid IS NOT NULL"),
        ),
        # Only reminders and check-ins name a commitment: the index leaves out the rest (a
        # broadcast's 100,000 rows), which it would otherwise grow by at every expansion.
        Index(
            "ix_deliveries_commitment_id",
            "commitment_id",
            postgresql_where=text("commitment_id IS NOT NULL"),
            sqlite_where=text("commitment_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    # (Found by the unique (broadcast_id, volunteer_id), which leads with it: no index of its own.)
    broadcast_id: Mapped[int | None] = mapped_column(
        ForeignKey("broadcasts.id", ondelete="CASCADE")
    )
    volunteer_id: Mapped[int | None] = mapped_column(
        ForeignKey("volunteers.id", ondelete="SET NULL"), index=True
    )
    # Reminders and check-ins name the commitment they are about (a Y/N answers the latest one).
    commitment_id: Mapped[int | None] = mapped_column(
        ForeignKey("commitments.id", ondelete="SET NULL")
    )
    to_phone: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20))  # broadcast, reminder, promotion, reply, ...
    priority: Mapped[int] = mapped_column(Integer, default=int(Priority.BULK))
    status: Mapped[DeliveryStatus] = mapped_column(
        enum_column(DeliveryStatus), default=DeliveryStatus.PENDING
    )
    send_after: Mapped[datetime] = mapped_column(default=utcnow)
    deadline: Mapped[datetime | None]
    quiet_hours_override: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claimed_at: Mapped[datetime | None]
    provider_sid: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[str | None] = mapped_column(String(20))
    error_message: Mapped[str | None] = mapped_column(Text)
    segments: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SlackPostStatus(StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    FAILED = "failed"


class SlackPost(Base):
    """A post for the organizers' Slack, kept until Slack accepts it (retried, never lost)."""

    __tablename__ = "slack_posts"
    __table_args__ = (Index("ix_slack_posts_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))  # inbox, signup, drop, alert, unconfirmed ...
    channel: Mapped[str | None] = mapped_column(String(40))  # None: SLACK_INBOX_CHANNEL
    volunteer_id: Mapped[int | None] = mapped_column(
        ForeignKey("volunteers.id", ondelete="SET NULL"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    blocks: Mapped[list[Any] | None] = mapped_column(JSON)
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[SlackPostStatus] = mapped_column(
        enum_column(SlackPostStatus), default=SlackPostStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    posted_ts: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SlackReplyMark(Base):
    """An organizer's reply in a volunteer's inbox thread, and the text it became
    (`deliveries.idempotency_key`): the poster reacts on the reply once the text went or failed."""

    __tablename__ = "slack_reply_marks"

    delivery_key: Mapped[str] = mapped_column(String(120), primary_key=True)
    channel: Mapped[str] = mapped_column(String(40))
    message_ts: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str | None] = mapped_column(String(20), index=True)  # None until marked
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
