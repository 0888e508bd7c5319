"""Calls to action, broadcasts and their timetable: schedules planned ahead (once or recurring),
each broadcast going out to one audience, and the volunteers' bare YES / NO answers to them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, StrEnum, enum_column, utcnow


class ScheduleStatus(StrEnum):
    ACTIVE = "active"
    DONE = "done"
    CANCELLED = "cancelled"


class Schedule(Base):
    """A broadcast planned ahead: once (`run_at`) or recurring (`cron`, in `timezone`).

    Organizers write these rows; the clock alone turns them into APScheduler jobs.
    """

    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    audience: Mapped[str] = mapped_column(String(200))
    run_at: Mapped[datetime | None]
    cron: Mapped[str | None] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20), default="broadcast")  # broadcast, digest
    deadline_minutes: Mapped[int | None] = mapped_column(Integer)
    quiet_hours_override: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[ScheduleStatus] = mapped_column(
        enum_column(ScheduleStatus), default=ScheduleStatus.ACTIVE, index=True
    )
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)
    last_fired_at: Mapped[datetime | None]
    # When run_at / cron / timezone were last set: fire times before it belong to an older
    # timetable and are neither sent nor reported as missed.
    timing_set_at: Mapped[datetime | None]
    # A call to action's follow-ups, texted once in answer to a bare YES or NO (with fields).
    on_yes: Mapped[str | None] = mapped_column(Text)
    on_no: Mapped[str | None] = mapped_column(Text)


class BroadcastStatus(StrEnum):
    DRAFT = "draft"  # previewed, waiting for Confirm
    QUEUED = "queued"  # deliveries expanded into the outbox
    SENDING = "sending"
    SENT = "sent"
    CANCELLED = "cancelled"
    MISSED = "missed"  # a schedule fired too late to go out; reported, not sent


class Broadcast(Base):
    """One call to action going out to one audience (a firing of a schedule, or sent now)."""

    __tablename__ = "broadcasts"
    __table_args__ = (UniqueConstraint("schedule_id", "run_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("schedules.id", ondelete="SET NULL"))
    run_at: Mapped[datetime | None]  # the schedule's fire time this broadcast is for
    body: Mapped[str] = mapped_column(Text)
    audience: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="broadcast")
    status: Mapped[BroadcastStatus] = mapped_column(
        enum_column(BroadcastStatus), default=BroadcastStatus.DRAFT, index=True
    )
    is_call_to_action: Mapped[bool] = mapped_column(Boolean, default=True)
    deadline: Mapped[datetime | None]  # not sent after this
    quiet_hours_override: Mapped[bool] = mapped_column(Boolean, default=False)
    recipient_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str | None] = mapped_column(String(40))
    confirmed_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    cancelled_by: Mapped[str | None] = mapped_column(String(40))
    # Follow-ups texted once in answer to a bare YES or NO (fields rendered for the volunteer).
    on_yes: Mapped[str | None] = mapped_column(Text)
    on_no: Mapped[str | None] = mapped_column(Text)


class CtaResponse(Base):
    """A volunteer's bare YES / NO to the latest call to action sent to them."""

    __tablename__ = "cta_responses"
    __table_args__ = (UniqueConstraint("broadcast_id", "volunteer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"))
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="CASCADE"))
    answer: Mapped[str] = mapped_column(String(10))  # yes / no
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)
