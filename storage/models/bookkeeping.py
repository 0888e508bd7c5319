"""Inbound, audit, coordination: every text received (one row per Twilio MessageSid), the audit
log of organizer actions, and what Muster's processes share: Slack events already acted on, named
leases and the sender's pacing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, utcnow


class InboundMessage(Base):
    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    message_sid: Mapped[str] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(20), default="sms")
    from_phone: Mapped[str | None] = mapped_column(String(20), index=True)
    to_phone: Mapped[str | None] = mapped_column(String(20))
    body: Mapped[str | None] = mapped_column(Text)
    volunteer_id: Mapped[int | None] = mapped_column(
        ForeignKey("volunteers.id", ondelete="SET NULL"), index=True
    )
    intent: Mapped[str | None] = mapped_column(String(30))
    reply: Mapped[str | None] = mapped_column(Text)  # what we answered, to answer a retry the same
    opt_out_type: Mapped[str | None] = mapped_column(String(10))
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(80))  # Slack user id, "cli", "system"
    action: Mapped[str] = mapped_column(String(60), index=True)
    target: Mapped[str | None] = mapped_column(String(120))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ProcessedEvent(Base):
    """Slack event ids and button clicks already acted on (Slack retries; Bolt does not dedupe)."""

    __tablename__ = "processed_events"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Lease(Base):
    """A named lease (the clock's leadership): only the holder acts until it expires."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    holder: Mapped[str] = mapped_column(String(120))
    expires_at: Mapped[datetime]
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)


class RateBucket(Base):
    """Shared pacing for every sender process: the next free start time, in epoch seconds."""

    __tablename__ = "rate_buckets"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    next_slot: Mapped[float] = mapped_column(Float, default=0.0)
