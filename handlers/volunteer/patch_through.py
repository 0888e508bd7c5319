"""Patch-through calls by text (TWILIO_VOICE=on): CALL's answer ends with "Or reply 1 to be
connected to State Rep. X now", and a bare digit picks whom Muster rings the volunteer to reach
(`handlers.patch_calls` places the call and follows it).

The digit rule: a bare `1`-`9` answers the most recent offer that is still live. A CALL offer is
live for `storage.calls.OFFER_LIVE` (15 minutes) until a digit picks from it; a ballot that opens
for this volunteer after the offer was made takes the digit back (it is the newer question), and
so does an offer that has run out. Otherwise the digit is a vote, as before (handlers.volunteer
.voting). No offer is made in quiet hours, and a digit that arrives in them places no call.
"""

from __future__ import annotations

from collections.abc import Sequence

from handlers import sms_text
from handlers.phones import display
from handlers.quiet_hours import in_quiet_hours
from handlers.volunteer import voting
from handlers.volunteer.turn import Answer, Turn
from storage.calls import CallStatus, PatchCall, active_call, live_offer
from storage.models import OnboardingStep

_TEXTS = {
    "offer_one": {
        "en": "Or reply 1 to be connected to {first} now.",
        "es": "O responde 1 y te conectamos por teléfono con {first} ahora.",
    },
    "offer_more": {
        "en": "Or reply 1 to be connected to {first} now ({others}).",
        "es": "O responde 1 y te conectamos por teléfono con {first} ahora ({others}).",
    },
    "ringing": {
        "en": "Calling you now from {number}. Pick up and we'll connect you to {person}'s office.",
        "es": "Te llamamos ahora desde {number}. Contesta y te conectamos con la oficina de "
        "{person}.",
    },
    "pick": {
        "en": "Reply 1-{last} to be connected (1 {first}), or DONE once you've called.",
        "es": "Responde 1-{last} para conectarte (1 {first}), o LISTO cuando hayas llamado.",
    },
    "already": {
        "en": "We're already calling you; pick up when your phone rings.",
        "es": "Ya te estamos llamando; contesta cuando suene tu teléfono.",
    },
    "quiet": {
        "en": "We don't place calls at this hour. Call {person} at {phone} when the office "
        "opens, then reply DONE.",
        "es": "No hacemos llamadas a esta hora. Llama a {person} al {phone} cuando abra la "
        "oficina y responde LISTO.",
    },
}


def _say(t: Turn, key: str, **values: object) -> str:
    return _TEXTS[key][sms_text.lang_of(t.lang)].format(**values)


def _quiet(t: Turn) -> bool:
    return in_quiet_hours(t.now, t.zone, t.org.quiet_hours, default=t.org.default_timezone)


def offer(t: Turn, options: Sequence[dict[str, str]], broadcast_id: int | None) -> str | None:
    """Record an offer of `options` ({"title", "name", "phone"}) and the line that makes it;
    None when calls are off, in quiet hours, or nobody has a number."""
    v = t.volunteer
    assert v is not None
    if t.org.voice_number is None or not options or _quiet(t):
        return None
    row = PatchCall(volunteer_id=v.id, broadcast_id=broadcast_id, options=list(options))
    row.status, row.offered_at, row.attempts, row.connected = CallStatus.OFFERED, t.now, 0, False
    t.session.add(row)
    t.session.flush()
    names = [f"{o['title']} {o['name']}" for o in options]
    if len(names) == 1:
        return _say(t, "offer_one", first=names[0])
    others = ", ".join(f"{k}: {name}" for k, name in enumerate(names[1:], start=2))
    return _say(t, "offer_more", first=names[0], others=others)


def answer_digit(t: Turn) -> Answer | None:
    """A bare digit: the pick of a live CALL offer, unless a newer ballot takes it (a vote)."""
    v = t.volunteer
    assert v is not None
    if v.onboarding_step != OnboardingStep.DONE:
        return None
    row = live_offer(t.session, v.id, now=t.now)
    if row is None or voting.ballot_opened_since(t, row.offered_at):
        return voting.vote_bare(t)
    return _pick(t, row)


def _pick(t: Turn, row: PatchCall) -> Answer:
    number = t.parsed.number
    assert number is not None and t.org.voice_number is not None
    options = row.options
    first = f"{options[0]['title']} {options[0]['name']}"
    if not 1 <= number <= len(options):
        return _say(t, "pick", last=len(options), first=first), "call_bad_choice"
    assert t.volunteer is not None
    if active_call(t.session, t.volunteer.id) is not None:
        return _say(t, "already"), "call_already"
    chosen = options[number - 1]
    person = f"{chosen['title']} {chosen['name']}"
    row.choice = number
    if _quiet(t):
        row.status, row.outcome, row.ended_at = CallStatus.CANCELLED, "quiet_hours", t.now
        return _say(t, "quiet", person=person, phone=display(chosen["phone"])), "call_quiet"
    row.status, row.requested_at = CallStatus.QUEUED, t.now
    number_shown = display(t.org.voice_number)
    return _say(t, "ringing", number=number_shown, person=person), "call_connect"
