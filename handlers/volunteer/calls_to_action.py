"""A bare YES or NO: the answer to the latest call to action or check-in the volunteer received
(a YES with nothing to answer is told so; a NO with nothing to answer is free text)."""

from __future__ import annotations

from sqlalchemy import and_, func, or_, select

from handlers import shifts, sms_text
from handlers.keywords import Intent
from handlers.volunteer.turn import Answer, Turn
from storage.models import Broadcast, Commitment, CtaResponse, Delivery, DeliveryStatus

# Deliveries a volunteer has (or may have) received: what a bare YES/NO can be answering.
_RECEIVED = (
    DeliveryStatus.CLAIMED,
    DeliveryStatus.QUEUED,
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
)


def answer_yes_no(t: Turn) -> Answer | None:
    """A bare YES/NO answers the latest call to action or check-in this volunteer received."""
    v = t.volunteer
    assert v is not None
    yes = t.parsed.intent == Intent.YES
    latest = t.session.execute(
        select(Delivery.broadcast_id, Delivery.commitment_id, Delivery.kind)
        .outerjoin(Broadcast, Broadcast.id == Delivery.broadcast_id)
        .where(
            Delivery.volunteer_id == v.id,
            Delivery.status.in_(_RECEIVED),
            or_(
                and_(Delivery.kind == "checkin", Delivery.commitment_id.is_not(None)),
                and_(Delivery.broadcast_id.is_not(None), Broadcast.is_call_to_action),
            ),
        )
        .order_by(func.coalesce(Delivery.sent_at, Delivery.created_at).desc())
        .order_by(Delivery.id.desc())
        .limit(1)
    ).first()
    if latest is None:
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
    return t.say("cta_yes" if yes else "cta_no"), f"cta_{answer}"
