"""Twilio's status callbacks, applied to the outbox: queued -> sent -> delivered / undelivered /
failed, never backwards (callbacks can arrive twice or out of order).

An error reported later (`ErrorCode` on undelivered/failed) has the same effect as the same code
from the create call (handlers/send_errors.py): 21610 opts the volunteer out, 30005/30006 and
friends mark them unreachable, and a passing fault (30003 handset off, 30008 unknown) sends the
text again later, unless its deadline would make it late.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from handlers.send_errors import MAX_ATTEMPTS, Effect, apply_volunteer_effect, backoff, effect_of
from storage.models import Delivery, DeliveryStatus
from storage.uow import UnitOfWork

CALLBACK_STATUS = {
    "queued": DeliveryStatus.QUEUED,
    "accepted": DeliveryStatus.QUEUED,
    "scheduled": DeliveryStatus.QUEUED,
    "sending": DeliveryStatus.QUEUED,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.DELIVERED,
    "partially_delivered": DeliveryStatus.DELIVERED,
    "undelivered": DeliveryStatus.UNDELIVERED,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,
}
RANK = {
    DeliveryStatus.PENDING: 0,
    DeliveryStatus.CLAIMED: 0,
    DeliveryStatus.QUEUED: 1,
    DeliveryStatus.SENT: 2,
    DeliveryStatus.DELIVERED: 3,
    DeliveryStatus.UNDELIVERED: 3,
    DeliveryStatus.FAILED: 3,
}
RESEND_AFTER_AT_LEAST = timedelta(minutes=5)


def record_status_callback(
    uow: UnitOfWork, *, sid: str, status: str, error_code: str | None, now: datetime
) -> str:
    """Apply one callback; returns what was done (for the log): updated, ignored, unknown,
    retry."""
    new = CALLBACK_STATUS.get((status or "").lower())
    with uow:
        row = uow.session.scalar(
            select(Delivery).where(Delivery.provider_sid == sid).with_for_update()
        )
        if row is None:
            return "unknown"
        if new is None or RANK.get(new, 0) <= RANK.get(row.status, 3):
            return "ignored"
        row.status = new
        row.updated_at = now
        outcome = "updated"
        if new in (DeliveryStatus.UNDELIVERED, DeliveryStatus.FAILED) and error_code:
            row.error_code = error_code
            effect = effect_of(error_code)
            apply_volunteer_effect(
                uow.session, effect=effect, phone=row.to_phone, volunteer_id=row.volunteer_id,
                code=error_code, now=now, message_sid=sid,
            )  # fmt: skip
            retry_at = now + max(backoff(row.attempts, None), RESEND_AFTER_AT_LEAST)
            in_time = row.deadline is None or retry_at < row.deadline
            if effect is Effect.RETRY and row.attempts < MAX_ATTEMPTS and in_time:
                row.status = DeliveryStatus.PENDING
                row.send_after = retry_at
                row.provider_sid = None  # the next attempt gets its own sid
                outcome = "retry"
        uow.commit()
        return outcome
