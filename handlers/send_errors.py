"""What a Twilio error code means for a text and for its volunteer, in one table.

Used by the sender (errors from the create call) and by the status callback (errors Twilio
reports later), so both paths treat a code the same way. PLATFORM.md B5/B6 is the source; Twilio
itself warns that code meanings drift, so the table lives here, in one place, to be edited.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.consent import record_opt_out
from storage.models import Volunteer, VolunteerStatus


class Effect(enum.Enum):
    RETRY = "retry"  # not acted on, or a passing fault: send again later
    OPT_OUT = "opt_out"  # the number replied STOP to our sender: consent ledger, never again
    UNREACHABLE = "unreachable"  # not a textable mobile number: the volunteer is unreachable
    FAIL = "fail"  # this text failed for good (policy, content, registration); others may go


OPT_OUT_CODES = frozenset({"21610"})
UNREACHABLE_CODES = frozenset({"21211", "21614", "30005", "30006"})
RETRY_CODES = frozenset({"20003", "20429", "20500", "20503", "21611", "30001", "30003", "30008"})
MAX_ATTEMPTS = 6
MAX_BACKOFF = timedelta(minutes=30)


def effect_of(code: str | None, *, transient: bool = False) -> Effect:
    if code in OPT_OUT_CODES:
        return Effect.OPT_OUT
    if code in UNREACHABLE_CODES:
        return Effect.UNREACHABLE
    if transient or code in RETRY_CODES or code == "network":
        return Effect.RETRY
    return Effect.FAIL


def backoff(attempts: int, retry_after: float | None) -> timedelta:
    """How long to wait before attempt `attempts + 1`: Twilio's Retry-After when it gave one,
    otherwise 2, 4, 8 ... seconds, capped."""
    if retry_after is not None:
        return min(timedelta(seconds=max(retry_after, 0.0)), MAX_BACKOFF)
    return min(timedelta(seconds=2 ** max(attempts, 1)), MAX_BACKOFF)


def apply_volunteer_effect(
    session: Session,
    *,
    effect: Effect,
    phone: str,
    volunteer_id: int | None,
    code: str,
    now: datetime,
    message_sid: str | None = None,
) -> None:
    """21610: the consent ledger records the opt-out. 21211/21614/...: unreachable."""
    if effect not in (Effect.OPT_OUT, Effect.UNREACHABLE):
        return
    volunteer = session.scalar(
        select(Volunteer).where(
            Volunteer.id == volunteer_id if volunteer_id is not None else Volunteer.phone == phone
        )
    )
    if effect is Effect.OPT_OUT:
        if volunteer is not None and volunteer.status == VolunteerStatus.OPTED_OUT:
            return
        record_opt_out(
            session,
            phone=phone,
            volunteer=volunteer,
            keyword=None,
            channel="twilio_error",
            now=now,
            message_sid=message_sid,
            detail=f"Twilio error {code}: the recipient had unsubscribed from our number",
        )
    elif volunteer is not None and volunteer.status == VolunteerStatus.ACTIVE:
        volunteer.status = VolunteerStatus.UNREACHABLE
