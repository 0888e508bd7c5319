"""Consent: a volunteer's opt-in state and the append-only ledger that proves it.

Every change of consent goes through `record_opt_out` / `record_opt_in`, from any channel (an SMS
keyword, Twilio's Advanced Opt-Out, a 21610 error from the API, an import, the console). Both run
inside the caller's unit of work: the volunteer's status and the ledger row commit together.

An opt-out also marks the number's pending outbox rows `skipped` in the same transaction, so a text
queued a moment before the STOP (a broadcast held for quiet hours, a reminder) never goes out; the
sender checks the volunteer's status again when it claims a row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from storage.models import (
    ConsentAction,
    ConsentEvent,
    Delivery,
    DeliveryStatus,
    Volunteer,
    VolunteerStatus,
)


def _append(
    session: Session,
    *,
    action: ConsentAction,
    phone: str,
    volunteer: Volunteer | None,
    keyword: str | None,
    channel: str,
    now: datetime,
    message_sid: str | None,
    detail: str | None,
) -> ConsentEvent:
    event = ConsentEvent(
        phone=phone,
        volunteer_id=volunteer.id if volunteer is not None else None,
        action=action,
        keyword=(keyword or None) and keyword[:160],
        channel=channel,
        message_sid=message_sid,
        detail=detail,
        occurred_at=now,
    )
    session.add(event)
    return event


def record_opt_out(
    session: Session,
    *,
    phone: str,
    volunteer: Volunteer | None,
    keyword: str | None,
    channel: str,
    now: datetime,
    message_sid: str | None = None,
    detail: str | None = None,
) -> ConsentEvent:
    """The number opts out now: status, ledger row, and its pending texts skipped."""
    if volunteer is not None:
        if volunteer.id is None:
            session.flush()
        volunteer.status = VolunteerStatus.OPTED_OUT
        volunteer.opted_out_at = now
    session.execute(
        update(Delivery)
        .where(Delivery.to_phone == phone, Delivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.SKIPPED, error_message="opted out", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return _append(
        session,
        action=ConsentAction.OPT_OUT,
        phone=phone,
        volunteer=volunteer,
        keyword=keyword,
        channel=channel,
        now=now,
        message_sid=message_sid,
        detail=detail,
    )


def record_opt_in(
    session: Session,
    *,
    phone: str,
    volunteer: Volunteer | None,
    keyword: str | None,
    channel: str,
    now: datetime,
    message_sid: str | None = None,
    detail: str | None = None,
) -> ConsentEvent:
    """The number opts in now (a JOIN, START, bare YES after STOP, an import with consent)."""
    if volunteer is not None:
        if volunteer.id is None:
            session.flush()
        volunteer.status = VolunteerStatus.ACTIVE
        volunteer.opted_in_at = now
    return _append(
        session,
        action=ConsentAction.OPT_IN,
        phone=phone,
        volunteer=volunteer,
        keyword=keyword,
        channel=channel,
        now=now,
        message_sid=message_sid,
        detail=detail,
    )


def is_opted_out(volunteer: Volunteer | None) -> bool:
    return volunteer is not None and volunteer.status == VolunteerStatus.OPTED_OUT


# The number's latest ledger entry (by when it happened, then by id), built once.
_LATEST_ACTION = (
    select(ConsentEvent.action)
    .where(ConsentEvent.phone == bindparam("phone"))
    .order_by(ConsentEvent.occurred_at.desc(), ConsentEvent.id.desc())
    .limit(1)
)


def opted_out_on_record(session: Session, phone: str) -> bool:
    """Whether the number's latest consent ledger entry is an opt-out, whether or not a
    volunteer row holds the number (after `muster forget`, none does)."""
    return session.scalar(_LATEST_ACTION, {"phone": phone}) == ConsentAction.OPT_OUT
