"""The organizers' inbox: an organizer's reply in a volunteer's thread, and the thread's header."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers import views
from handlers.config import OrgConfig
from handlers.messages import OrganizerAction
from handlers.organizer.display import local_when, volunteer_name
from handlers.organizer.rights import OutsideChapter, refuse, require_organizer
from handlers.phones import masked
from handlers.ports import Clock
from handlers.results import OutboundSms, Result
from handlers.sending import record_effects
from storage.audit import audit
from storage.models import (
    Commitment,
    CommitmentStatus,
    ProcessedEvent,
    Shift,
    SlackReplyMark,
    Volunteer,
    VolunteerStatus,
)
from storage.outbox import insert_ignoring_conflicts
from storage.uow import UnitOfWork


def reply_in_inbox(
    action: OrganizerAction, *, uow: UnitOfWork, org: OrgConfig, clock: Clock
) -> Result:
    """Text an organizer's thread reply to the volunteer, once per Slack event."""
    values, now = action.values, clock.now()
    text = values.get("text", "").strip()
    event_key = f"slack-event:{action.action_id}"
    thread = Volunteer.inbox_thread_ts == values.get("thread_ts")
    with uow:
        volunteer_id = uow.session.scalar(select(Volunteer.id).where(thread))
    if volunteer_id is None or not text:
        return Result(intent="ignored")  # not a volunteer's thread: people talking
    scope = require_organizer(
        action.user_id, action.name, uow=uow, org=org, clock=clock, leaders=True
    )
    if not scope.whole:
        with uow:
            mine = uow.session.scalar(
                select(Volunteer.id).where(Volunteer.id == volunteer_id, scope.volunteers())
            )
        if mine is None:
            refuse(action.user_id, f"inbox.reply volunteer:{volunteer_id}", uow=uow, clock=clock)
            raise OutsideChapter(
                f"You lead {scope.names}: you can answer your chapter's volunteers only."
            )
    with uow:
        volunteer = uow.session.get(Volunteer, volunteer_id)
        if volunteer is None:
            return Result(intent="ignored")
        fresh = insert_ignoring_conflicts(
            uow.session, ProcessedEvent.__table__, [{"key": event_key, "at": now}]
        )
        if not fresh:
            return Result(intent="duplicate")
        if volunteer.status != VolunteerStatus.ACTIVE or not volunteer.phone:
            uow.commit()
            why = "opted out" if volunteer.status == VolunteerStatus.OPTED_OUT else "unreachable"
            name = volunteer_name(volunteer)
            return Result(
                reply=f"Not sent: {name} is {why}, so Muster will not text them.",
                intent="reply.refused",
            )
        body = text if text.startswith(org.org_name) else f"{org.org_name}: {text}"
        sms = OutboundSms(
            phone=volunteer.phone,
            body=body,
            kind="reply",
            idempotency_key=f"reply:{action.action_id}",
            volunteer_id=volunteer.id,
        )
        result = record_effects(uow.session, Result(sms=(sms,), intent="reply.queued"))
        if values.get("channel") and values.get("ts"):
            uow.session.add(
                SlackReplyMark(
                    delivery_key=sms.idempotency_key,
                    channel=values["channel"],
                    message_ts=values["ts"],
                    created_at=now,
                )
            )
        audit(
            uow.session,
            actor=action.user_id,
            action="inbox.reply",
            target=f"volunteer:{volunteer.id}",
            detail={"chars": len(body)},
            at=now,
        )
        uow.commit()
    return result


def inbox_header(
    session: Session, *, volunteer_id: int, now: datetime, org: OrgConfig
) -> views.InboxHeaderView | None:
    """What the parent message of a volunteer's inbox thread says about them."""
    volunteer = session.get(Volunteer, volunteer_id)
    if volunteer is None:
        return None
    rows = session.execute(
        select(Commitment.status, Shift)
        .join(Shift, Shift.id == Commitment.shift_id)
        .where(
            Commitment.volunteer_id == volunteer_id,
            Commitment.status != CommitmentStatus.DROPPED,
            Shift.ends_at > now,
        )
        .order_by(Shift.starts_at)
        .limit(5)
    ).all()
    commitments = tuple(
        f"#{shift.id} {shift.title}, "
        f"{local_when(shift.starts_at, shift.ends_at, ZoneInfo(shift.timezone))} ({status})"
        for status, shift in rows
    )
    return views.InboxHeaderView(
        volunteer_id=volunteer.id,
        name=volunteer_name(volunteer),
        phone=masked(volunteer.phone),
        zip=volunteer.zip,
        status=str(volunteer.status),
        tags=tuple(volunteer.tag_names),
        commitments=commitments,
    )
