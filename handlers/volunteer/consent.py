"""Consent, which comes before every other answer: HELP; the STOP family (opt out at once, one
confirmation ever); START, JOIN or a bare YES to opt in (or back in); what Twilio's Advanced
Opt-Out already answered (`OptOutType`: recorded, nothing sent); a number we do not know
texting something else; and a text that may mean "stop" (flagged for the organizers). Each
change goes in the consent ledger (`handlers.consent`) with the text's keyword and message id.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import func, select

from handlers import sms_text
from handlers.consent import opted_out_on_record, record_opt_in, record_opt_out
from handlers.keywords import Intent
from handlers.phones import zone_from_number
from handlers.volunteer.inbox import ACK_INTERVAL
from handlers.volunteer.onboarding import current_question
from handlers.volunteer.turn import Answer, Turn, storable
from storage.models import InboundMessage, OnboardingStep, Volunteer, VolunteerStatus

# "cancel my shift", "I have to cancel Saturday's canvass": a wish to drop, not (only) to stop.
_ABOUT_A_SHIFT = re.compile(
    r"\b(shifts?|spots?|sign ?ups?|canvass\w*|phone ?banks?\w*|text ?banks?|events?|"
    r"turnos?|eventos?|lugar)\b"
)


def help_reply(t: Turn) -> str:
    """HELP always answers; a number not signed up is told how to join, one that opted out how
    to come back."""
    v = t.volunteer
    if v is not None and v.status == VolunteerStatus.OPTED_OUT:
        subscribed: bool | None = False
    elif v is not None and v.status == VolunteerStatus.ACTIVE:
        subscribed = True
    else:  # no volunteer on file (erased after a STOP, perhaps), or one never opted in
        subscribed = False if opted_out(t) else None
    return sms_text.help_reply(
        t.lang, org=t.org.org_name, contact=t.org.org_contact, subscribed=subscribed
    )


def opted_out(t: Turn) -> bool:
    """The sender's number's latest consent ledger entry is an opt-out."""
    return opted_out_on_record(t.session, t.msg.phone)


def opted_out_stranger(t: Turn) -> Answer:
    """A number with no volunteer on file whose latest ledger entry is an opt-out (one erased by
    `muster forget` after its STOP, or before it): a STOP again is recorded, anything else is
    kept for the organizers; none is answered. No volunteer row is made for it."""
    if t.parsed.intent == Intent.OPT_OUT:
        _consent(t, record_opt_out, None)
        return None, "opt_out"
    t.post("inbox", "(opted out; texts to this number are not sent)")
    return None, "opted_out_text"


def advanced_opt_out(t: Turn, kind: str) -> tuple[None, str]:
    """Twilio already answered this STOP/START/HELP: record it, send nothing more."""
    v = t.volunteer
    if kind == "STOP":
        if v is None and opted_out(t):  # opted out on record, no volunteer on file: none made
            _consent(t, record_opt_out, None, detail="Twilio Advanced Opt-Out (OptOutType=STOP)")
            return None, "opt_out"
        v = v or _new_volunteer(t, status=VolunteerStatus.OPTED_OUT)
        _consent(t, record_opt_out, v, detail="Twilio Advanced Opt-Out (OptOutType=STOP)")
        return None, "opt_out"
    if kind == "START":
        new = v is None
        v = v or _new_volunteer(t)
        if new or v.status != VolunteerStatus.ACTIVE:
            _consent(t, record_opt_in, v, detail="Twilio Advanced Opt-Out (OptOutType=START)")
        if new:
            t.post("signup", "joined by text (Twilio answered START)")
        return None, "opt_in"
    return None, "help"


def opt_out(t: Turn) -> Answer:
    v = t.volunteer
    already = v is not None and v.status == VolunteerStatus.OPTED_OUT
    v = v or _new_volunteer(t, status=VolunteerStatus.OPTED_OUT)
    plain = not (t.parsed.keyword and t.parsed.normalized == t.parsed.keyword.lower())
    detail = "plain-language request" if plain else None
    _consent(t, record_opt_out, v, detail=detail)
    if already:
        return None, "opt_out"  # one confirmation only, ever
    if plain:
        t.post("optout", "opted out in their own words")
    return t.say("opted_out", org=t.org.org_name), "opt_out"


def opt_back_in(t: Turn) -> Answer:
    v = t.volunteer
    assert v is not None
    _consent(t, record_opt_in, v)
    reply = t.say("welcome_back", org=t.org.org_name)
    question = current_question(t)
    return (f"{reply} {question}" if question else reply), "opt_in"


def join(t: Turn) -> Answer:
    v = t.volunteer
    if v is not None and v.status == VolunteerStatus.UNREACHABLE:
        _consent(t, record_opt_in, v)
        t.post("signup", "subscribed by text (was on file without consent)")
        question = current_question(t)
        reply = t.say("subscribed", org=t.org.org_name)
        return (f"{reply} {question}" if question else reply), "opt_in"
    if v is not None:
        question = current_question(t)
        reply = t.say("already_joined", org=t.org.org_name)
        return (f"{reply} {question}" if question else reply), "opt_in"
    v = _new_volunteer(t)
    _consent(t, record_opt_in, v)
    t.post("signup", "joined by text")
    return t.say("welcome", org=t.org.org_name), "opt_in"


def stranger(t: Turn) -> Answer:
    """A number we do not know texted something other than JOIN, STOP or HELP."""
    if t.parsed.intent == Intent.MAYBE_OPT_OUT:
        t.flagged = True
        t.post("flagged", "may want to opt out (not a volunteer)")
        return t.say("maybe_opt_out", org=t.org.org_name), "maybe_opt_out"
    t.post("inbox", "(not signed up)")
    t.batch.write(t.session)  # this number's earlier texts in a batch count too
    recent = t.session.scalar(
        select(func.count())
        .select_from(InboundMessage)
        .where(
            InboundMessage.from_phone == t.msg.phone,
            InboundMessage.reply.is_not(None),
            InboundMessage.received_at > t.now - ACK_INTERVAL,
        )
    )
    if recent:
        return None, "other"
    return t.say("join_first", org=t.org.org_name), "other"


def maybe_opt_out(t: Turn) -> Answer:
    """A volunteer's text that may mean "stop" (or "drop", with a number): flagged, and asked."""
    t.flagged = True
    t.post("flagged", "may want to opt out; please check")
    reply = t.say("maybe_opt_out", org=t.org.org_name)
    if t.parsed.number is not None:
        reply = t.say("maybe_drop", n=t.parsed.number)
    elif _ABOUT_A_SHIFT.search(t.parsed.normalized or ""):
        reply = t.say("maybe_drop_which", org=t.org.org_name)
    return reply, "maybe_opt_out"


def _keyword_for_ledger(t: Turn) -> str:
    """The keyword when the text was exactly one, else the text itself (the evidence)."""
    p = t.parsed
    if p.keyword and p.normalized == p.keyword.lower():
        return p.keyword
    return storable(t.msg.text.strip())[:160] or (p.keyword or "")


def _consent(
    t: Turn, record: Callable[..., object], volunteer: Volunteer | None, detail: str | None = None
) -> None:
    """`record_opt_out` / `record_opt_in` for this text, with its keyword and message id."""
    record(
        t.session,
        phone=t.msg.phone,
        volunteer=volunteer,
        keyword=_keyword_for_ledger(t),
        channel="sms",
        now=t.now,
        message_sid=t.msg.message_id,
        detail=detail,
    )


def _new_volunteer(t: Turn, status: VolunteerStatus = VolunteerStatus.ACTIVE) -> Volunteer:
    v = Volunteer(
        phone=t.msg.phone,
        language=t.lang,
        timezone=zone_from_number(t.msg.phone),
        status=status,
        onboarding_step=OnboardingStep.NAME,
        zip_attempts=0,
        source="sms",
        created_at=t.now,
        updated_at=t.now,
    )
    v.tags = []
    t.session.add(v)
    t.session.flush()
    t.volunteer = v
    t.batch.joined(v)
    return v
