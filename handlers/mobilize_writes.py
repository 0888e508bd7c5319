"""Sign-ups on Mobilize shifts written back to Mobilize, through the integration outbox.

`enqueue_attendance` / `enqueue_cancellation` run inside the caller's unit of work (the YES or
DROP that caused them), so the outbox row commits with the commitment. The attendance's body is
built when it is sent, from the volunteer as they are then: an email given later is used, and
`sms_opt_in_status` is what the consent ledger says at that moment. Without an email (Mobilize
matches people by it) the row waits and the volunteer is asked once; Muster never invents one.
Called from YES N and DROP N (`handlers.volunteer.shift_keywords`), alone or in a batch, from an
organizer's `/muster signup` and from the sync's promotions; the enqueueing half is
`handlers.mobilize_outbox` (re-exported here), this module builds and sends the writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from handlers.mobilize import MobilizeApi
from handlers.mobilize_outbox import ATTEND, CANCEL, enqueue_attendance, enqueue_cancellation
from handlers.peers import WriteOutcome
from handlers.ports import Clock
from storage.integrations import (
    Integration,
    IntegrationWrite,
    WriteStatus,
    backoff,
)
from storage.models import (
    ConsentAction,
    ConsentEvent,
    Volunteer,
)
from storage.uow import UnitOfWork

CLAIM_LEASE_SECONDS = 120
WRITES_PER_SECOND = 5.0  # Mobilize's limit on writes

__all__ = ["ATTEND", "CANCEL", "enqueue_attendance", "enqueue_cancellation"]


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
