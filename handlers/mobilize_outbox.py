"""What a sign-up on a Mobilize shift owes Mobilize, as integration outbox rows.

`enqueue_attendance` / `enqueue_cancellation` run inside the caller's unit of work (the YES or
DROP, the organizer's `signup`, the sync's promotion from a waitlist), so the outbox row commits
with the commitment; `handlers.mobilize_writes` sends the rows. Kept apart from it so that the
sync (`handlers.mobilize`) can owe writes too without the two importing each other.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from handlers.results import OutboundSms
from storage.integrations import (
    Integration,
    IntegrationWrite,
    WriteStatus,
    enqueue_write,
)
from storage.models import Commitment, Priority, Shift, ShiftSource, Volunteer

ATTEND = "mobilize.attendance"
CANCEL = "mobilize.cancel"


def _key(session: Session, commitment: Commitment) -> str:
    """One attendance per seat: a producer run twice finds the same key; a seat taken again
    after a DROP (the same commitment row, maybe in the same second) gets a new one."""
    stamp = int((commitment.committed_at or commitment.created_at).timestamp())
    ended = session.scalar(
        select(func.count())
        .select_from(IntegrationWrite)
        .where(
            IntegrationWrite.commitment_id == commitment.id,
            or_(
                IntegrationWrite.kind == CANCEL,
                (IntegrationWrite.kind == ATTEND)
                & (IntegrationWrite.status == WriteStatus.CANCELLED),
            ),
        )
    )
    return f"mob.att:{commitment.id}:{stamp}:{ended or 0}"


def enqueue_attendance(
    session: Session, *, volunteer: Volunteer, shift: Shift, commitment: Commitment, now: datetime
) -> tuple[OutboundSms, ...]:
    """An attendance owed to Mobilize for a seat on a Mobilize shift; the email question if due."""
    if shift.source != ShiftSource.MOBILIZE or shift.mobilize_event_id is None:
        return ()
    waiting = not volunteer.email
    enqueue_write(
        session,
        integration=Integration.MOBILIZE,
        kind=ATTEND,
        payload={"event_id": shift.mobilize_event_id, "timeslot_id": shift.mobilize_timeslot_id},
        dedupe_key=_key(session, commitment),
        now=now,
        volunteer_id=volunteer.id,
        commitment_id=commitment.id,
        status=WriteStatus.WAITING if waiting else WriteStatus.PENDING,
    )
    if not waiting or not volunteer.phone:
        return ()
    return (
        OutboundSms(
            phone=volunteer.phone,
            body=(
                "This shift is run on Mobilize, which needs your email to hold your spot. "
                "Reply EMAIL and your address, e.g. EMAIL me@example.org"
            ),
            kind="email_ask",
            idempotency_key=f"ask-email:{volunteer.id}",  # asked once, ever
            volunteer_id=volunteer.id,
            priority=int(Priority.TRANSACTIONAL),
        ),
    )


def enqueue_cancellation(session: Session, *, commitment: Commitment, now: datetime) -> None:
    """DROP: an attendance not yet sent is called off; one already written is cancelled."""
    row = session.scalars(
        select(IntegrationWrite)
        .where(IntegrationWrite.kind == ATTEND, IntegrationWrite.commitment_id == commitment.id)
        .order_by(IntegrationWrite.id.desc())
        .limit(1)
        .with_for_update()
    ).first()
    if row is None:
        return
    if row.status in (WriteStatus.PENDING, WriteStatus.WAITING) and row.attempts == 0:
        row.status = WriteStatus.CANCELLED
        return
    enqueue_write(
        session,
        integration=Integration.MOBILIZE,
        kind=CANCEL,
        payload={"event_id": row.payload["event_id"], "attendance_write": row.id},
        dedupe_key=f"mob.cancel:{row.id}",
        now=now,
        volunteer_id=row.volunteer_id,
        commitment_id=commitment.id,
    )
