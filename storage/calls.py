"""Patch-through calls (TWILIO_VOICE=on): a volunteer put on the phone with a legislator's office.

One row per offer. `CALL` writes it OFFERED with the numbered choices it texted (`options`: the
title, name and office number of each); a bare digit within `OFFER_LIVE` picks one and makes it
QUEUED; the caller (`handlers.patch_calls.place_due`) claims it, DIALING, and asks Twilio to ring
the volunteer, PLACED with the call's sid; Twilio's webhooks then record that the volunteer
ANSWERED, whether the office was connected and for how long, and how the call ENDED (its final
`outcome`: completed, no-answer, busy, failed, canceled, voicemail).

A row ends CANCELLED (opted out, quiet hours) or EXPIRED (not placed in time) without a call; a
row claimed by a caller that died before Twilio's answer was written ends LOST rather than being
dialled again: ringing someone twice is worse than asking them to text CALL again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage.models import Base, StrEnum, enum_column, utcnow

OFFER_LIVE = timedelta(minutes=15)  # how long a bare digit picks from a CALL's offer


class CallStatus(StrEnum):
    OFFERED = "offered"
    QUEUED = "queued"
    DIALING = "dialing"
    PLACED = "placed"
    ANSWERED = "answered"
    ENDED = "ended"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    LOST = "lost"


ACTIVE = (CallStatus.QUEUED, CallStatus.DIALING, CallStatus.PLACED, CallStatus.ANSWERED)


class PatchCall(Base):
    __tablename__ = "patch_calls"
    __table_args__ = (
        Index("ix_patch_calls_volunteer_offered", "volunteer_id", "offered_at"),
        Index("ix_patch_calls_status_requested", "status", "requested_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="CASCADE"))
    # The call to action the volunteer had received when they asked: a connected call counts as
    # its DONE.
    broadcast_id: Mapped[int | None] = mapped_column(
        ForeignKey("broadcasts.id", ondelete="SET NULL"), index=True
    )
    options: Mapped[list[Any]] = mapped_column(JSON)  # [{"title", "name", "phone"}], from 1
    status: Mapped[CallStatus] = mapped_column(enum_column(CallStatus), default=CallStatus.OFFERED)
    offered_at: Mapped[datetime] = mapped_column(default=utcnow)
    choice: Mapped[int | None] = mapped_column(Integer)  # the option picked (1-based)
    requested_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claimed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    call_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    placed_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    connected: Mapped[bool] = mapped_column(Boolean, default=False)
    dial_status: Mapped[str | None] = mapped_column(String(20))  # Twilio's DialCallStatus
    dial_seconds: Mapped[int | None] = mapped_column(Integer)  # the talk with the office
    call_seconds: Mapped[int | None] = mapped_column(Integer)  # the whole call
    outcome: Mapped[str | None] = mapped_column(String(20))  # the final CallStatus, or why not
    error_code: Mapped[str | None] = mapped_column(String(20))
    ended_at: Mapped[datetime | None]

    def chosen(self) -> dict[str, str]:
        assert self.choice is not None
        return dict(self.options[self.choice - 1])


def live_offer(session: Session, volunteer_id: int, *, now: datetime) -> PatchCall | None:
    """This volunteer's latest offer, if it is still waiting for a digit."""
    latest = session.scalars(
        select(PatchCall)
        .where(PatchCall.volunteer_id == volunteer_id)
        .order_by(PatchCall.offered_at.desc(), PatchCall.id.desc())
        .limit(1)
    ).first()
    if latest is None or latest.status != CallStatus.OFFERED:
        return None
    return latest if latest.offered_at > now - OFFER_LIVE else None


def active_call(session: Session, volunteer_id: int) -> PatchCall | None:
    """A call of this volunteer's that is on its way or under way."""
    return session.scalars(
        select(PatchCall)
        .where(PatchCall.volunteer_id == volunteer_id, PatchCall.status.in_(ACTIVE))
        .limit(1)
    ).first()


def claim_queued(session: Session, *, limit: int) -> list[PatchCall]:
    """Queued calls, oldest request first, locked (SKIP LOCKED on PostgreSQL) until commit."""
    return list(
        session.scalars(
            select(PatchCall)
            .where(PatchCall.status == CallStatus.QUEUED)
            .order_by(PatchCall.requested_at, PatchCall.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


def lost_dialing(session: Session, *, before: datetime) -> list[PatchCall]:
    """Calls a caller claimed before `before` and never wrote Twilio's answer for."""
    return list(
        session.scalars(
            select(PatchCall)
            .where(
                PatchCall.status == CallStatus.DIALING,
                PatchCall.claimed_at < before,
                PatchCall.call_sid.is_(None),
            )
            .with_for_update(skip_locked=True)
        )
    )
