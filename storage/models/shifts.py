"""Shifts and commitments: the slots volunteers sign up for (made in Muster or kept from Mobilize)
and each volunteer's place on a shift's roster or waitlist. Capacity and one commitment per
volunteer and shift are enforced by the database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import Base, StrEnum, enum_column, utcnow
from storage.models.volunteers import Volunteer


class ShiftSource(StrEnum):
    MUSTER = "muster"  # made by an organizer in Muster
    MOBILIZE = "mobilize"  # one timeslot of a Mobilize event, kept by `sync_mobilize`


class Shift(Base):
    __tablename__ = "shifts"
    __table_args__ = (
        CheckConstraint("capacity >= 0", name="capacity_nonneg"),
        CheckConstraint("committed_count >= 0 AND committed_count <= capacity", name="within_cap"),
        UniqueConstraint("mobilize_event_id", "mobilize_timeslot_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str | None] = mapped_column(String(40))  # phonebank, canvass, textbank, testify
    location: Mapped[str | None] = mapped_column(String(300))
    zip: Mapped[str | None] = mapped_column(String(5), index=True)
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime] = mapped_column(index=True)  # the check-in sweep's range
    timezone: Mapped[str] = mapped_column(String(64))  # the zone it was entered in
    capacity: Mapped[int] = mapped_column(Integer)
    # Committed + confirmed seats, kept by conditional UPDATEs so capacity holds under load.
    committed_count: Mapped[int] = mapped_column(Integer, default=0)
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    cancelled_at: Mapped[datetime | None]
    # Where the shift comes from; a Mobilize shift is edited in Mobilize, never in Muster.
    source: Mapped[ShiftSource] = mapped_column(
        enum_column(ShiftSource), default=ShiftSource.MUSTER, server_default="muster"
    )
    mobilize_event_id: Mapped[int | None] = mapped_column(BigInteger)
    mobilize_timeslot_id: Mapped[int | None] = mapped_column(BigInteger)
    url: Mapped[str | None] = mapped_column(String(500))  # the event's page (Mobilize browser_url)
    # The Action Network event whose attendances this shift's sign-ups are recorded as (its id).
    action_network_event_id: Mapped[str | None] = mapped_column(String(80))
    # The district the shift works for (short OCD id, `ma/sldl:10th_bristol`), if any.
    district: Mapped[str | None] = mapped_column(String(120), index=True)

    @property
    def spots_left(self) -> int:
        return max(self.capacity - self.committed_count, 0)


class CommitmentStatus(StrEnum):
    COMMITTED = "committed"
    WAITLISTED = "waitlisted"
    CONFIRMED = "confirmed"
    DROPPED = "dropped"
    ATTENDED = "attended"
    NO_SHOW = "no_show"


class Commitment(Base):
    __tablename__ = "commitments"
    __table_args__ = (
        UniqueConstraint("volunteer_id", "shift_id"),
        Index("ix_commitments_shift_status", "shift_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="CASCADE"))
    shift_id: Mapped[int] = mapped_column(ForeignKey("shifts.id", ondelete="CASCADE"))
    status: Mapped[CommitmentStatus] = mapped_column(enum_column(CommitmentStatus))
    channel: Mapped[str] = mapped_column(String(20), default="sms")
    # Waitlist order: lower first. Set from a sequence-like max()+1 inside the shift's lock.
    waitlist_position: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    committed_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    confirmed_at: Mapped[datetime | None]
    dropped_at: Mapped[datetime | None]
    checked_in_at: Mapped[datetime | None]  # attended / no-show recorded
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    volunteer: Mapped[Volunteer] = relationship(lazy="joined")
    shift: Mapped[Shift] = relationship(lazy="joined")
