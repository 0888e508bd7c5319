"""Telling the volunteers of a shift that it moved or was cancelled, once for each change.

Shared by the Mobilize sync (`handlers.mobilize`: the event changed in Mobilize) and the
organizers' `/muster shift edit` and `shift cancel` (`handlers.organizer.shift_edits`). Every
volunteer holding or waiting for a seat, and still textable, gets one text; its idempotency key
names the change itself, so the same move (or the cancellation) is told once however often it is
applied, and a later move is a new change, told again.
"""

from __future__ import annotations

import hashlib
from datetime import UTC

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers import sms_text
from handlers.audiences import reachable
from handlers.config import OrgConfig
from handlers.results import OutboundSms
from handlers.shifts import LIVE
from storage.models import Commitment, Priority, Shift, Volunteer


def tell_volunteers(
    session: Session, shift: Shift, *, org: OrgConfig, moved: bool, key_prefix: str, by: str
) -> list[OutboundSms]:
    """One text to each volunteer holding or waiting for a seat on `shift` (as it is now): it
    moved (`moved`) or was cancelled. `by` says who cancelled it ("the organizers")."""
    session.flush()
    rows = session.execute(
        select(Commitment.id, Volunteer.id, Volunteer.phone, Volunteer.timezone, Volunteer.language)
        .join(Volunteer, Volunteer.id == Commitment.volunteer_id)
        .where(Commitment.shift_id == shift.id, Commitment.status.in_(LIVE), reachable())
    ).all()
    change = (
        "moved:" + _digest(shift.starts_at.astimezone(UTC).isoformat(), shift.location or "")
        if moved
        else "cancelled"
    )
    out = []
    for commitment_id, volunteer_id, phone, zone, language in rows:
        when = sms_text.when(shift.starts_at, zone or shift.timezone, language)
        title = sms_text.short_title(shift.title)
        if moved:
            place = f" at {shift.location}" if shift.location else ""
            body = (
                f'{org.org_name}: "{title}" has changed: it is now {when}{place}. '
                f"Still coming? Nothing to do. Can't make it? Reply DROP {shift.id}."
            )
        else:
            body = (
                f'{org.org_name}: "{title}" on {when} has been cancelled by {by}. '
                "Reply SHIFTS for others."
            )
        out.append(
            OutboundSms(
                phone=phone,
                body=body,
                kind="shift_change",
                idempotency_key=f"{key_prefix}:{change}:{commitment_id}",
                volunteer_id=volunteer_id,
                # (no commitment_id: the sender would hold back a text about a cancelled shift)
                priority=int(Priority.REMINDER),
            )
        )
    return out


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
