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

from collections.abc import Callable
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.integration_writes import DrainReport, Peer, drain
from handlers.mobilize import MobilizeApi
from handlers.mobilize_outbox import ATTEND, CANCEL, enqueue_attendance, enqueue_cancellation
from handlers.peers import WriteOutcome
from handlers.ports import Clock
from storage.integrations import (
    Integration,
    IntegrationWrite,
    WriteStatus,
)
from storage.models import (
    ConsentAction,
    ConsentEvent,
    Volunteer,
)
from storage.uow import UnitOfWork

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


def drain_mobilize_writes(
    *,
    uow: UnitOfWork,
    clock: Clock,
    mobilize: MobilizeApi,
    limit: int = 50,
    pace: Callable[[float], None] | None = None,
) -> DrainReport:
    """Send due Mobilize writes through the integration outbox's drain (one short transaction to
    claim each and one to settle it; no lock held while Mobilize answers), under
    WRITES_PER_SECOND. A row whose volunteer has no email (any more) waits for one."""
    peer = Peer(
        integration=Integration.MOBILIZE,
        per_second=WRITES_PER_SECOND,
        prepare=_request,
        send=partial(_send, mobilize),
        when_nothing=WriteStatus.WAITING,
    )
    return drain(peer, uow=uow, clock=clock, limit=limit, pace=pace)


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
