"""Patch-through calls (TWILIO_VOICE=on): placing the call a volunteer asked for, and what Twilio's
voice webhooks report about it. The texting side (the offer in CALL's answer, the digit that
picks) is `handlers.volunteer.patch_through`; the rows are `storage.calls.PatchCall`.

Placing (`place_due`, the worker's caller loop): a QUEUED row is claimed (SKIP LOCKED on
PostgreSQL), checked once more (still subscribed, outside quiet hours in the volunteer's zone,
asked for less than `PLACE_WITHIN` ago: a call that comes late is a surprise, not a help), and
Twilio is asked to ring the volunteer. A refusal that may pass (429, 5xx, the network) is asked
again after `RETRY_WAIT`, `MAX_ATTEMPTS` in all. A row a dead caller claimed and never wrote
Twilio's answer for is LOST after `LOST_AFTER`, never dialled again: Twilio may have rung already.

The call (`answered`, `dialed`, `ended`): when the volunteer picks up, Twilio asks what to do and
gets a `VoicePlan`: a short script, then the office dialled with the volunteer's own number as the
caller ID (offices listen to constituents); an answering machine is hung up on. When the office
leg ends, a connected call counts as the volunteer's DONE for the call to action they had
received (once, as a texted DONE does). The final status callback records how the call ended.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update

from handlers import sms_text
from handlers.config import OrgConfig
from handlers.phones import display, masked
from handlers.ports import Clock, VoiceCaller
from handlers.quiet_hours import in_quiet_hours
from storage.calls import CallStatus, PatchCall, claim_queued, lost_dialing
from storage.legislators import record_call
from storage.models import Volunteer, VolunteerStatus

log = logging.getLogger(__name__)

PLACE_WITHIN = timedelta(minutes=5)
RETRY_WAIT = timedelta(seconds=5)
LOST_AFTER = timedelta(minutes=2)
MAX_ATTEMPTS = 3
RING_SECONDS = 25  # how long the volunteer's phone rings before Twilio gives up
CONNECTED = frozenset({"completed", "answered"})  # DialCallStatus values with a conversation
FINAL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})

_SPOKEN = {
    "script": {
        "en": "Hello{name}. This is {org}. We are connecting you to the office of {person}. "
        "When they answer, say your name, that you live in the district, and why you are "
        "calling. Connecting you now.",
        "es": "Hola{name}. Le habla {org}. Le estamos conectando con la oficina de {person}. "
        "Cuando contesten, diga su nombre, que vive en el distrito y por qué llama. "
        "Le conectamos ahora.",
    },
    "thanks": {
        "en": "Thank you for making this call. You can hang up now. Goodbye.",
        "es": "Gracias por hacer esta llamada. Ya puede colgar. Adiós.",
    },
    "no_office": {
        "en": "The office did not pick up. You can call them yourself at {phone}. Goodbye.",
        "es": "La oficina no contestó. Puede llamarles usted al {phone}. Adiós.",
    },
}


@dataclass(frozen=True, slots=True)
class VoicePlan:
    """What to tell Twilio to do on the call (bot/twilio_voice.py writes it as TwiML)."""

    say: tuple[str, ...] = ()
    language: str = "en-US"
    dial: str | None = None  # the office to connect, E.164
    caller_id: str | None = None  # the number the office sees
    hang_up: bool = True


HANG_UP = VoicePlan()


def _spoken(key: str, lang: str, **values: object) -> str:
    return _SPOKEN[key][sms_text.lang_of(lang)].format(**values)


def _voice_language(lang: str) -> str:
    return "es-US" if sms_text.lang_of(lang) == "es" else "en-US"


# --- placing --------------------------------------------------------------------------------


def _why_not(row: PatchCall, v: Volunteer | None, org: OrgConfig, now: datetime) -> str | None:
    if v is None or v.phone is None or v.status != VolunteerStatus.ACTIVE:
        return "opted_out"
    if row.requested_at is None or row.requested_at < now - PLACE_WITHIN:
        return "too_late"
    zone = v.timezone or org.default_timezone
    if in_quiet_hours(now, zone, org.quiet_hours, default=org.default_timezone):
        return "quiet_hours"
    return None


def _claim(uow: Callable[[], Any], org: OrgConfig, now: datetime, worker: str, limit: int):
    """Claim the due rows; settle on the way those that must not be placed. [(id, phone)]"""
    todo: list[tuple[int, str]] = []
    with uow() as u:
        s = u.session
        for row in lost_dialing(s, before=now - LOST_AFTER):
            row.status, row.outcome, row.ended_at = CallStatus.LOST, "lost", now
            log.warning(
                "patch call %s: its caller stopped before Twilio answered; not redialled", row.id
            )
        for row in claim_queued(s, limit=limit):
            if row.claimed_at is not None and row.claimed_at > now - RETRY_WAIT:
                continue  # a retry, not yet
            v = s.get(Volunteer, row.volunteer_id)
            reason = _why_not(row, v, org, now)
            if reason is not None:
                status = CallStatus.EXPIRED if reason == "too_late" else CallStatus.CANCELLED
                row.status, row.outcome, row.ended_at = status, reason, now
                continue
            assert v is not None and v.phone is not None
            row.status, row.claimed_by, row.claimed_at = CallStatus.DIALING, worker, now
            row.attempts += 1
            todo.append((row.id, v.phone))
        u.commit()
    return todo


def place_due(
    uow: Callable[[], Any],
    caller: VoiceCaller,
    clock: Clock,
    org: OrgConfig,
    *,
    urls: Callable[[int], tuple[str, str]],
    worker: str,
    limit: int = 10,
) -> int:
    """Place the queued calls that may go now; the number asked of Twilio. `urls(id)` gives a
    call's webhook URLs: (what to do when answered, where its final status goes)."""
    if org.voice_number is None:
        return 0
    todo = _claim(uow, org, clock.now(), worker, limit)
    for call_id, phone in todo:
        answer_url, status_url = urls(call_id)
        result = caller.place(
            to=phone,
            from_=org.voice_number,
            url=answer_url,
            status_callback=status_url,
            timeout=RING_SECONDS,
        )
        now = clock.now()
        table = PatchCall.__table__
        with uow() as u:
            conn = u.session.connection()
            if result.ok:
                conn.execute(
                    update(table)
                    .where(table.c.id == call_id)
                    .values(call_sid=result.call_sid, placed_at=now)
                )
                conn.execute(
                    update(table)
                    .where(table.c.id == call_id, table.c.status == CallStatus.DIALING.value)
                    .values(status=CallStatus.PLACED.value)
                )
                log.info("patch call %s placed to %s", call_id, masked(phone))
            else:
                row = u.session.get(PatchCall, call_id)
                assert row is not None
                again = result.transient and row.attempts < MAX_ATTEMPTS
                row.error_code = result.error_code
                if again:
                    row.status, row.claimed_at = CallStatus.QUEUED, now
                else:
                    row.status, row.outcome, row.ended_at = CallStatus.ENDED, "failed", now
                log.warning(
                    "patch call %s to %s refused by Twilio (%s)%s",
                    call_id,
                    masked(phone),
                    result.error_code,
                    "; again soon" if again else "",
                )
            u.commit()
    return len(todo)


# --- the call's webhooks --------------------------------------------------------------------


def _row(session: Any, call_id: int, call_sid: str) -> PatchCall | None:
    """The call, if this CallSid is its own (or it has none written yet)."""
    row = session.scalars(
        select(PatchCall)
        .where(
            PatchCall.id == call_id,
            or_(PatchCall.call_sid.is_(None), PatchCall.call_sid == call_sid),
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if row is not None and row.call_sid is None:
        row.call_sid = call_sid  # Twilio's webhook came before our write of its answer
    return row


def answered(
    uow: Callable[[], Any],
    *,
    call_id: int,
    call_sid: str,
    answered_by: str | None,
    org: OrgConfig,
    now: datetime,
) -> VoicePlan:
    """The volunteer picked up: the script, then the office; or nothing, to a machine or to a
    number that opted out meanwhile."""
    with uow() as u:
        s = u.session
        row = _row(s, call_id, call_sid)
        if row is None or row.status not in (CallStatus.DIALING, CallStatus.PLACED):
            u.commit()
            return HANG_UP
        v = s.get(Volunteer, row.volunteer_id)
        if answered_by and (answered_by.startswith("machine") or answered_by == "fax"):
            row.outcome = "voicemail"
            u.commit()
            return HANG_UP
        if v is None or v.status != VolunteerStatus.ACTIVE:
            row.status, row.outcome, row.ended_at = CallStatus.ENDED, "opted_out", now
            u.commit()
            return HANG_UP
        row.status, row.answered_at = CallStatus.ANSWERED, now
        office = row.chosen()
        lang = v.language or "en"
        name = f" {v.first_name}" if v.first_name else ""
        person = f"{office['title']} {office['name']}"
        script = _spoken("script", lang, name=name, org=org.org_name, person=person)
        u.commit()
        return VoicePlan(
            say=(script,),
            language=_voice_language(lang),
            dial=office["phone"],
            caller_id=v.phone,
            hang_up=False,
        )


def dialed(
    uow: Callable[[], Any],
    *,
    call_id: int,
    call_sid: str,
    dial_status: str,
    dial_seconds: int | None,
    now: datetime,
) -> VoicePlan:
    """The office leg ended: connected or not, recorded; a connected call counts as DONE."""
    with uow() as u:
        s = u.session
        row = _row(s, call_id, call_sid)
        if row is None:
            u.commit()
            return HANG_UP
        connected = dial_status in CONNECTED
        row.dial_status, row.dial_seconds = dial_status, dial_seconds
        row.connected = row.connected or connected
        v = s.get(Volunteer, row.volunteer_id)
        lang = (v.language if v is not None else None) or "en"
        if connected and row.broadcast_id is not None:
            record_call(s, broadcast_id=row.broadcast_id, volunteer_id=row.volunteer_id, now=now)
        office = row.chosen()
        u.commit()
    if connected:
        return VoicePlan(say=(_spoken("thanks", lang),), language=_voice_language(lang))
    spoken = _spoken("no_office", lang, phone=display(office["phone"]))
    return VoicePlan(say=(spoken,), language=_voice_language(lang))


def ended(
    uow: Callable[[], Any],
    *,
    call_id: int,
    call_sid: str,
    call_status: str,
    call_seconds: int | None,
    now: datetime,
) -> str:
    """Twilio's final status callback: how the call ended (the outcome, as recorded)."""
    with uow() as u:
        row = _row(u.session, call_id, call_sid)
        if row is None or call_status not in FINAL:
            u.commit()
            return "ignored"
        if row.status != CallStatus.ENDED or row.ended_at is None:
            row.status, row.ended_at = CallStatus.ENDED, now
        row.outcome = row.outcome or call_status
        row.call_seconds = call_seconds
        outcome = row.outcome
        u.commit()
    return outcome
