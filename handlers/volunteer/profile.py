"""The keywords a volunteer changes their own details with: NAME x, ZIP x (where onboarding
is waiting for that answer, it moves on to the next question) and EMAIL x (which releases the
Mobilize sign-ups that waited for it)."""

from __future__ import annotations

from handlers import geo
from handlers.emails import normalized_email
from handlers.errors import InvalidInput
from handlers.onboarding_answers import parse_name
from handlers.volunteer.onboarding import ask_zip, set_zip, to_interests
from handlers.volunteer.turn import Answer, Turn, shown
from storage.integrations import release_waiting
from storage.models import OnboardingStep


def set_name(t: Turn) -> Answer:
    v = t.volunteer
    assert v is not None
    name = parse_name(t.parsed.arg or "")
    if name is None:
        return t.say("name_usage"), "name_usage"
    if v.onboarding_step == OnboardingStep.NAME:
        t.update(first_name=name, onboarding_step=OnboardingStep.ZIP)
        return ask_zip(t), "name"
    t.update(first_name=name)
    return t.say("name_set", name=name), "name"


def set_zip_code(t: Turn) -> Answer:
    v = t.volunteer
    assert v is not None
    if not t.parsed.arg:
        return t.say("zip_usage"), "zip_usage"
    info = geo.zip_info(t.parsed.arg)
    if info is None:
        return t.say("bad_zip", zip=shown(t.parsed.arg)), "zip_invalid"
    set_zip(t, info)
    reply = t.say("zip_set", zip=info.zip, place=f"{info.city.title()}, {info.state}")
    if v.onboarding_step == OnboardingStep.ZIP:
        reply = f"{reply} {to_interests(t)}"
    return reply, "zip"


def set_email(t: Turn) -> Answer:
    v = t.volunteer
    assert v is not None
    try:
        email = normalized_email(t.parsed.arg)
    except InvalidInput:
        return t.say("email_usage"), "email_usage"
    t.update(email=email)
    release_waiting(t.session, volunteer_id=v.id, now=t.now)
    return t.say("email_set", email=email), "email"
