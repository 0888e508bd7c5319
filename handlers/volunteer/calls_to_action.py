"""A bare YES or NO: the answer to the latest call to action or check-in the volunteer received
(a YES with nothing to answer is told so; a NO with nothing to answer is free text); the call to
action's follow-up (`on_yes` / `on_no`, with fields) texted once in answer. DONE: the latest call
to action reported done ("I called"), counted once."""

from __future__ import annotations

from sqlalchemy import and_, func, or_, select

from handlers import shifts, sms_text
from handlers.fields import render
from handlers.keywords import Intent
from handlers.recipient_fields import values_for
from handlers.results import OutboundSms
from handlers.volunteer.onboarding import current_question
from handlers.volunteer.turn import Answer, Turn
from storage.legislators import record_call
from storage.models import Broadcast, Commitment, CtaResponse, Delivery, DeliveryStatus

# Deliveries a volunteer has (or may have) received: what a bare YES/NO can be answering.
_RECEIVED = (
    DeliveryStatus.CLAIMED,
    DeliveryStatus.QUEUED,
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
)


def _latest(t: Turn, *, check_ins: bool):
    """The latest call to action (or, with `check_ins`, check-in) this volunteer received."""
    v = t.volunteer
    assert v is not None
    cta = and_(Delivery.broadcast_id.is_not(None), Broadcast.is_call_to_action)
    which = (
        or_(and_(Delivery.kind == "checkin", Delivery.commitment_id.is_not(None)), cta)
        if check_ins
        else cta
    )
    return t.session.execute(
        select(Delivery.broadcast_id, Delivery.commitment_id, Delivery.kind)
        .outerjoin(Broadcast, Broadcast.id == Delivery.broadcast_id)
        .where(Delivery.volunteer_id == v.id, Delivery.status.in_(_RECEIVED), which)
        .order_by(func.coalesce(Delivery.sent_at, Delivery.created_at).desc())
        .order_by(Delivery.id.desc())
        .limit(1)
    ).first()


def latest_call_to_action(t: Turn) -> int | None:
    """The broadcast id of the latest call to action this volunteer received (what DONE, or a
    connected patch-through call, reports done)."""
    latest = _latest(t, check_ins=False)
    return latest.broadcast_id if latest is not None else None


def answer_yes_no(t: Turn) -> Answer | None:
    """A bare YES/NO answers the latest call to action or check-in this volunteer received."""
    v = t.volunteer
    assert v is not None
    yes = t.parsed.intent == Intent.YES
    latest = _latest(t, check_ins=True)
    if latest is None:
        question = current_question(t) if yes else None  # "yes" to "What's your first name?"
        if question is not None:
            return question, "onboarding_again"
        return (t.say("yes_without_question"), "yes") if yes else None
    if latest.kind == "checkin" and latest.commitment_id is not None:
        c = t.session.get(Commitment, latest.commitment_id)
        if c is not None:
            shifts.record_check_in(c, attended=yes, now=t.now)
            if yes:
                title = sms_text.short_title(c.shift.title)
                return t.say("checkin_yes", title=title), "checkin_yes"
            return t.say("checkin_no"), "checkin_no"
    if latest.broadcast_id is None:
        return None
    answer = "yes" if yes else "no"
    cta = t.session.scalars(
        select(CtaResponse).where(
            CtaResponse.broadcast_id == latest.broadcast_id,
            CtaResponse.volunteer_id == v.id,
        )
    ).first() or CtaResponse(broadcast_id=latest.broadcast_id, volunteer_id=v.id)
    cta.answer, cta.answered_at = answer, t.now  # the latest answer counts
    t.cta = cta
    if _follow_up(t, latest.broadcast_id, answer) and yes:
        return t.say("cta_yes_follow_up"), f"cta_{answer}"
    return t.say("cta_yes" if yes else "cta_no"), f"cta_{answer}"


def _follow_up(t: Turn, broadcast_id: int, answer: str) -> bool:
    """Queue the call to action's follow-up for this answer, rendered for the volunteer: once
    per broadcast, volunteer and answer (its key), held in quiet hours and never sent after an
    opt-out like any outbox text. False when there is none (or a field has no value)."""
    v = t.volunteer
    assert v is not None and v.phone is not None
    b = t.session.get(Broadcast, broadcast_id)
    template = (b.on_yes if answer == "yes" else b.on_no) if b is not None else None
    if not template:
        return False
    body = render(template, values_for(t.session, v))
    if body is None:
        return False
    t.sms.append(
        OutboundSms(
            phone=v.phone,
            body=body,
            kind="follow_up",
            idempotency_key=f"cta:{broadcast_id}:{v.id}:{answer}",
            volunteer_id=v.id,
            send_after=t.now,
        )
    )
    return True


def report_done(t: Turn) -> Answer:
    """DONE: the latest call to action this volunteer received is done (counted once)."""
    v = t.volunteer
    assert v is not None
    latest = _latest(t, check_ins=False)
    if latest is None or latest.broadcast_id is None:
        return t.say("done_nothing"), "done_nothing"
    if record_call(t.session, broadcast_id=latest.broadcast_id, volunteer_id=v.id, now=t.now):
        return t.say("done_thanks"), "done"
    return t.say("done_again"), "done_again"
