"""Sign-ups on Mobilize shifts written back to Mobilize, through the integration outbox.

`enqueue_attendance` / `enqueue_cancellation` run inside the caller's unit of work (the YES or
DROP that caused them), so the outbox row commits with the commitment. The attendance's body is
built when it is sent, from the volunteer as they are then: an email given later is used, and
`sms_opt_in_status` is what the consent ledger says at that moment. Without an email (Mobilize
matches people by it) the row waits and the volunteer is asked once; Muster never invents one.
Called from YES N and DROP N (`handlers.volunteer.shift_keywords`), alone or in a batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from handlers.mobilize import MobilizeApi
from handlers.peers import WriteOutcome
from handlers.ports import Clock
from handlers.results import OutboundSms
from storage.integrations import (
    Integration,
    IntegrationWrite,
    WriteStatus,
    backoff,
    enqueue_write,
)
from storage.models import (
    Commitment,
    ConsentAction,
    ConsentEvent,
    Priority,
    Shift,
    ShiftSource,
    Volunteer,
)
from storage.uow import UnitOfWork

ATTEND = "mobilize.attendance"
CANCEL = "mobilize.cancel"
CLAIM_LEASE_SECONDS = 120
WRITES_PER_SECOND = 5.0  # Mobilize's limit on writes


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


def attendance_body(session: Session, volunteer: Volunteer, timeslot_id: int) -> dict[str, object]:
    """The JSON Mobilize's create-attendance endpoint takes, from the volunteer as they are now."""
    latest = session.scalars(
        select(ConsentEvent.action)
        .where(ConsentEvent.phone == volunteer.phone)
        .order_by(ConsentEvent.occurred_at.desc(), ConsentEvent.id.desc())
        .limit(1)
    ).first()
    given, _, family = (volunteer.first_name or "").strip().partition(" ")
    person: dict[str, object] = {
        "given_name": given,
        "family_name": family.strip(),
        "email_address": volunteer.email,
        "postal_code": volunteer.zip or "",
    }
    if volunteer.phone:
        person["phone_number"] = volunteer.phone.removeprefix("+1")
    return {
        "person": person,
        "sms_opt_in_status": "OPT_IN" if latest == ConsentAction.OPT_IN else "UNSPECIFIED",
        "timeslots": [{"timeslot_id": timeslot_id}],
        "referrer": {"utm_source": "muster", "utm_medium": "sms"},
    }


@dataclass
class DrainReport:
    done: int = 0
    retried: int = 0
    failed: int = 0


def drain_mobilize_writes(
    *,
    uow: UnitOfWork,
    clock: Clock,
    mobilize: MobilizeApi,
    limit: int = 50,
    pace: Callable[[float], None] | None = None,
) -> DrainReport:
    """Send due Mobilize writes, one short transaction to claim each and one to settle it (no
    lock is held while Mobilize answers). Run from one place (the clock's leader); `pace`
    (time.sleep there) keeps the requests under WRITES_PER_SECOND."""
    report = DrainReport()
    last_sent = float("-inf")
    now = clock.now()
    with uow:
        ids = list(
            uow.session.scalars(
                select(IntegrationWrite.id)
                .where(
                    IntegrationWrite.integration == Integration.MOBILIZE,
                    IntegrationWrite.status == WriteStatus.PENDING,
                    IntegrationWrite.next_attempt_at <= now,
                )
                .order_by(IntegrationWrite.next_attempt_at, IntegrationWrite.id)
                .limit(limit)
            )
        )
    for write_id in ids:
        with uow:
            s = uow.session
            claimed = s.execute(
                update(IntegrationWrite)
                .where(
                    IntegrationWrite.id == write_id,
                    IntegrationWrite.status == WriteStatus.PENDING,
                    IntegrationWrite.next_attempt_at <= now,
                )
                .values(
                    attempts=IntegrationWrite.attempts + 1,
                    next_attempt_at=now + backoff(1, CLAIM_LEASE_SECONDS),
                )
            ).rowcount
            if claimed != 1:
                continue
            row = s.get_one(IntegrationWrite, write_id)
            request = _request(s, row)
            uow.commit()
        if pace is not None and request is not None:
            wait = last_sent + 1 / WRITES_PER_SECOND - time.monotonic()
            if wait > 0:
                pace(wait)
            last_sent = time.monotonic()
        outcome = _send(mobilize, request) if request is not None else None
        with uow:
            row = uow.session.get_one(IntegrationWrite, write_id)
            _settle(row, outcome, now=clock.now(), report=report)
            uow.commit()
    return report


def _request(session: Session, row: IntegrationWrite) -> tuple[str, dict[str, object]] | None:
    if row.kind == ATTEND:
        volunteer = session.get(Volunteer, row.volunteer_id) if row.volunteer_id else None
        if volunteer is None or not volunteer.email:
            return None
        body = attendance_body(session, volunteer, int(row.payload["timeslot_id"]))
        return ATTEND, {"event_id": int(row.payload["event_id"]), "body": body}
    attended = session.get(IntegrationWrite, int(row.payload["attendance_write"]))
    ids = (attended.result or {}).get("attendance_ids", []) if attended is not None else []
    return CANCEL, {"event_id": int(row.payload["event_id"]), "attendance_ids": ids}


def _send(mobilize: MobilizeApi, request: tuple[str, dict[str, object]]) -> WriteOutcome:
    kind, args = request
    if kind == ATTEND:
        return mobilize.create_attendance(event_id=args["event_id"], body=args["body"])  # type: ignore[arg-type]
    outcome = WriteOutcome(ok=True)
    for attendance_id in args["attendance_ids"]:  # type: ignore[attr-defined]
        outcome = mobilize.cancel_attendance(
            event_id=args["event_id"],  # type: ignore[arg-type]
            attendance_id=int(attendance_id),
        )
        if not outcome.ok:
            return outcome
    return outcome


def _settle(
    row: IntegrationWrite, outcome: WriteOutcome | None, *, now: datetime, report: DrainReport
) -> None:
    if outcome is None:  # (its email went missing: wait for one again)
        row.status = WriteStatus.WAITING
        return
    if outcome.ok:
        row.status, row.result, row.done_at, row.last_error = (
            WriteStatus.DONE, outcome.result, now, None
        )  # fmt: skip
        report.done += 1
        return
    row.last_error = outcome.error
    if outcome.transient:
        row.next_attempt_at = now + backoff(row.attempts, outcome.retry_after)
        report.retried += 1
    else:
        row.status = WriteStatus.FAILED
        report.failed += 1
