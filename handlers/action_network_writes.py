"""People and attendances written to Action Network, through the integration outbox.

Producers run inside the caller's unit of work, so the outbox row commits with the change that
caused it:

- `volunteer_joined`: a volunteer who finished onboarding (name, ZIP, interests asked), when
  Action Network is on (`OrgConfig.action_network`);
- `consent_changed`: every opt-in and opt-out in the consent ledger (`handlers.consent`), for a
  volunteer Action Network already knows (sent there before, or come from there), except the
  ones Action Network itself told us of (no echo);
- `enqueue_attendance` / `drop_attendance`: a seat on a shift tied to an Action Network event
  (`shifts.action_network_event_id`), and its DROP before the attendance went.

The body is built when the row is sent (`handlers.action_network.helper_body`), from the
volunteer as they are then, so one row not yet tried carries every change made since it was
queued: a producer finding one adds nothing. The drain (`drain_action_network_writes`, the
clock's leader, every 10 s) keeps to Action Network's 4 requests a second.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from handlers.action_network import SOURCE, ActionNetworkApi, helper_body
from handlers.config import OrgConfig
from handlers.integration_writes import DrainReport, Peer, drain
from handlers.peers import WriteOutcome
from handlers.ports import Clock
from storage.integrations import Integration, IntegrationWrite, WriteStatus, enqueue_write
from storage.models import Commitment, Shift, Volunteer
from storage.uow import UnitOfWork

PERSON = "action_network.person"
ATTEND = "action_network.attendance"
REQUESTS_PER_SECOND = 4.0  # Action Network's limit per key
# The drain's pace: a tenth under the limit, so the jitter between here and there (a request
# that left late reaching it with the next one close behind) never makes five in its second.
PACE_PER_SECOND = REQUESTS_PER_SECOND * 0.9

Request = tuple[str, dict[str, Any]]  # (kind, arguments)


def _rows(volunteer_id: int | None = None, commitment_id: int | None = None, *, kind: str) -> Any:
    where = [IntegrationWrite.kind == kind]
    if volunteer_id is not None:
        where.append(IntegrationWrite.volunteer_id == volunteer_id)
    if commitment_id is not None:
        where.append(IntegrationWrite.commitment_id == commitment_id)
    return where


def enqueue_person(session: Session, *, volunteer: Volunteer, now: datetime, cause: str) -> bool:
    """A person write owed to Action Network; True if a row was added (none is when one not yet
    tried is waiting: it will carry this change too)."""
    if volunteer.id is None:
        session.flush()
    where = _rows(volunteer.id, kind=PERSON)
    untried = session.scalar(
        select(
            exists().where(
                *where,
                IntegrationWrite.status == WriteStatus.PENDING,
                IntegrationWrite.attempts == 0,
            )
        )
    )
    if untried:
        return False
    n = session.scalar(select(func.count()).select_from(IntegrationWrite).where(*where)) or 0
    return enqueue_write(
        session,
        integration=Integration.ACTION_NETWORK,
        kind=PERSON,
        payload={"cause": cause},
        dedupe_key=f"an.person:{volunteer.id}:{n}",
        now=now,
        volunteer_id=volunteer.id,
    )


def volunteer_joined(
    session: Session, *, org: OrgConfig, volunteer: Volunteer, now: datetime
) -> None:
    """Onboarding is over: the new volunteer goes to Action Network (when it is on)."""
    if org.action_network and volunteer.source != SOURCE:
        enqueue_person(session, volunteer=volunteer, now=now, cause="joined")


def consent_changed(session: Session, *, volunteer: Volunteer, now: datetime, channel: str) -> None:
    """An opt-in or opt-out was recorded: Action Network hears of it, if it knows this person."""
    if channel == SOURCE or volunteer.id is None:
        return  # (Action Network told us: nothing to tell it back)
    known = volunteer.source == SOURCE or session.scalar(
        select(exists().where(*_rows(volunteer.id, kind=PERSON)))
    )
    if known:
        enqueue_person(session, volunteer=volunteer, now=now, cause="consent")


def enqueue_attendance(
    session: Session, *, volunteer: Volunteer, shift: Shift, commitment: Commitment, now: datetime
) -> bool:
    """A seat on a shift tied to an Action Network event: its attendance, once per seat."""
    if not shift.action_network_event_id:
        return False
    where = _rows(commitment_id=commitment.id, kind=ATTEND)
    live = session.scalar(
        select(
            exists().where(
                *where, IntegrationWrite.status.in_((WriteStatus.PENDING, WriteStatus.DONE))
            )
        )
    )
    if live:
        return False  # (already owed or recorded: Action Network has no cancellation to undo)
    n = session.scalar(select(func.count()).select_from(IntegrationWrite).where(*where)) or 0
    return enqueue_write(
        session,
        integration=Integration.ACTION_NETWORK,
        kind=ATTEND,
        payload={"event_id": shift.action_network_event_id},
        dedupe_key=f"an.att:{commitment.id}:{n}",
        now=now,
        volunteer_id=volunteer.id,
        commitment_id=commitment.id,
    )


def drop_attendance(session: Session, *, commitment: Commitment) -> int:
    """DROP: an attendance not yet tried is called off. One already recorded stays recorded
    (Action Network's API has no helper to withdraw an attendance; see docs/integrations.md)."""
    rows = session.scalars(
        select(IntegrationWrite)
        .where(
            *_rows(commitment_id=commitment.id, kind=ATTEND),
            IntegrationWrite.status == WriteStatus.PENDING,
            IntegrationWrite.attempts == 0,
        )
        .with_for_update()
    ).all()
    for row in rows:
        row.status = WriteStatus.CANCELLED
    return len(rows)


# --- the drain -------------------------------------------------------------------------------


def _prepare(session: Session, row: IntegrationWrite) -> Request | None:
    volunteer = session.get(Volunteer, row.volunteer_id) if row.volunteer_id else None
    if volunteer is None or not (volunteer.phone or volunteer.email):
        return None  # forgotten (`muster forget`): nothing of theirs is sent
    body = helper_body(session, volunteer)
    if row.kind == ATTEND:
        return ATTEND, {"event_id": str(row.payload["event_id"]), "body": body}
    return PERSON, {"body": body}


def _sender(api: ActionNetworkApi) -> Callable[[Request], WriteOutcome]:
    def send(request: Request) -> WriteOutcome:
        kind, args = request
        if kind == ATTEND:
            return api.record_attendance(event_id=args["event_id"], body=args["body"])
        return api.signup_person(args["body"])

    return send


def drain_action_network_writes(
    *,
    uow: UnitOfWork,
    clock: Clock,
    api: ActionNetworkApi,
    limit: int = 50,
    pace: Callable[[float], None] | None = None,
) -> DrainReport:
    """Send the due Action Network writes, under REQUESTS_PER_SECOND (with `pace`)."""
    peer = Peer(Integration.ACTION_NETWORK, PACE_PER_SECOND, _prepare, _sender(api))
    return drain(peer, uow=uow, clock=clock, limit=limit, pace=pace)
