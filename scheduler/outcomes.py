"""What a worker writes back once Twilio has answered its texts: each row's sid and status, or
its error and when to try again (honouring Retry-After), or its failure and what that means for
the volunteer (an unreachable number, an opt-out Twilio reported); then the broadcasts those
rows finish. `scheduler.sender` calls it, a batch of answers a transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam

from handlers.delivery_status import CALLBACK_STATUS
from handlers.ports import SendResult
from handlers.send_errors import MAX_ATTEMPTS, Effect, apply_volunteer_effect, backoff, effect_of
from handlers.sending import ClaimedDelivery
from storage.models import Delivery, DeliveryStatus
from storage.outbox import finish_broadcasts

AUTH_REFUSED = "20003"
AUTH_RETRY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Outcome:
    row: ClaimedDelivery
    result: SendResult


def record_outcomes(
    session: Any,
    outcomes: list[Outcome],
    *,
    worker: str,
    now: datetime,
    finish: set[int] | None = None,
) -> None:
    """Write a batch of answers back: one executemany, plus the volunteer effects of errors.
    Then the broadcasts of these rows with nothing left to send are marked sent; `finish`, when
    given, is the ones of them that may be (a broadcast of which the worker still holds a
    claimed row cannot be, so its check is skipped)."""
    params: list[dict[str, Any]] = []
    for outcome in outcomes:
        row, result = outcome.row, outcome.result
        # Refused credentials are our fault, not the text's: kept, not counted, retried later.
        refused = result.error_code == AUTH_REFUSED
        attempts = row.attempts if refused else row.attempts + 1
        values: dict[str, Any] = {
            "b_id": row.id,
            "b_worker": worker,
            "attempts": attempts,
            "provider_sid": None,
            "error_code": result.error_code,
            "error_message": result.error_message,
            "sent_at": None,
            "send_after": now,
        }
        if result.ok:
            values.update(
                status=CALLBACK_STATUS.get(result.status or "queued", DeliveryStatus.QUEUED).value,
                provider_sid=result.provider_sid,
                sent_at=now,
            )
        else:
            effect = effect_of(result.error_code, transient=result.transient)
            if effect is Effect.RETRY and attempts < MAX_ATTEMPTS:
                wait = AUTH_RETRY if refused else backoff(attempts, result.retry_after)
                retry_at = now + wait
                late = row.deadline is not None and retry_at >= row.deadline
                status = DeliveryStatus.EXPIRED if late else DeliveryStatus.PENDING
                values.update(status=status.value, send_after=retry_at)
            else:
                values.update(status=DeliveryStatus.FAILED.value)
                apply_volunteer_effect(
                    session,
                    effect=effect,
                    phone=row.to_phone,
                    volunteer_id=row.volunteer_id,
                    code=result.error_code or "",
                    now=now,
                )
        params.append(values)
    table = Delivery.__table__
    stmt = (
        table.update()
        .where(
            table.c.id == bindparam("b_id"),
            table.c.status == DeliveryStatus.CLAIMED.value,
            table.c.claimed_by == bindparam("b_worker"),
        )
        .values(
            status=bindparam("status"),
            attempts=bindparam("attempts"),
            provider_sid=bindparam("provider_sid"),
            error_code=bindparam("error_code"),
            error_message=bindparam("error_message"),
            sent_at=bindparam("sent_at"),
            send_after=bindparam("send_after"),
            claimed_by=None,
            claimed_at=None,
            updated_at=now,
        )
    )
    if params:
        session.connection().execute(stmt, params)
    if finish is None:
        finish = {o.row.broadcast_id for o in outcomes if o.row.broadcast_id}
    finish_broadcasts(session, finish)
