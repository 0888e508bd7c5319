"""Onboarding: the questions a new volunteer is asked in turn (name, ZIP, interests), and the
answers to them. A keyword in the middle of onboarding is obeyed, not taken as an answer."""

from __future__ import annotations

from handlers import geo
from handlers.action_network_writes import volunteer_joined
from handlers.chapters import follow_zip
from handlers.district_crosswalk import ZipDistricts, apply_zip
from handlers.keywords import Intent
from handlers.onboarding_answers import is_a_message, is_small_talk, parse_interests, parse_name
from handlers.volunteer.districts import address_question, answer_address, awaiting_address
from handlers.volunteer.turn import Answer, Turn, place, shown
from storage.models import OnboardingStep, VolunteerTag

ZIP_TRIES = 3  # the first ask and at most two more; then the question is skipped
INTEREST_TRIES = 2


def current_question(t: Turn) -> str | None:
    v = t.volunteer
    assert v is not None
    if v.onboarding_step == OnboardingStep.NAME:
        return t.say("ask_name")
    if v.onboarding_step == OnboardingStep.ZIP:
        return t.say("ask_zip")
    if v.onboarding_step == OnboardingStep.INTERESTS:
        return t.say("ask_interests")
    return None


def answer_question(t: Turn) -> Answer | None:
    """The answer to the pending onboarding question, or None when the text is a keyword or
    not an answer (then it is handled as any other text)."""
    v, p = t.volunteer, t.parsed
    assert v is not None
    if p.intent not in (Intent.OTHER, Intent.SKIP, Intent.NUMBER):  # a bare 3 answers it too
        return None  # a keyword in the middle of onboarding is obeyed, not taken as a name
    skip = p.intent == Intent.SKIP
    if not skip and is_small_talk(p.normalized) and (question := current_question(t)):
        return question, "onboarding_again"  # "hi", "ok thanks": the question again, no try used
    if v.onboarding_step == OnboardingStep.NAME:
        name = None if skip else parse_name(t.msg.text)
        if name is None and not skip:
            return None
        t.update(
            first_name=name or v.first_name, onboarding_step=OnboardingStep.ZIP, zip_attempts=0
        )
        return ask_zip(t), "onboarding_name"
    if v.onboarding_step == OnboardingStep.ZIP and awaiting_address(t):
        taken = answer_address(t, skip=skip)
        if taken is None and not skip:
            return None
        reply = f"{taken} {to_interests(t)}" if taken else to_interests(t)
        return reply, "onboarding_address"
    if v.onboarding_step == OnboardingStep.ZIP:
        if skip:
            return to_interests(t), "onboarding_zip"
        if is_a_message(t.msg.text):
            return None  # a question mid-sign-up: for the organizers, and the ZIP asked again
        info = geo.zip_info(t.msg.text.strip())
        if info is None:
            t.update(zip_attempts=v.zip_attempts + 1)
            if v.zip_attempts >= ZIP_TRIES:
                skipped = t.say("zip_skipped")
                return f"{skipped} {to_interests(t)}", "onboarding_zip"
            return t.say("bad_zip", zip=shown(t.msg.text)), "onboarding_zip"
        question = address_question(t, set_zip(t, info))
        if question is not None:
            return question, "onboarding_zip"  # the step stays ZIP until the address or SKIP
        return to_interests(t), "onboarding_zip"
    if v.onboarding_step == OnboardingStep.INTERESTS:
        tags = [] if skip else parse_interests(t.msg.text)
        if tags is None and is_a_message(t.msg.text):
            return None  # kept for the organizers, and the question asked again
        if tags is None:
            t.update(zip_attempts=v.zip_attempts + 1)
            if v.zip_attempts < INTEREST_TRIES:
                return t.say("ask_interests"), "onboarding_interests"
            _finish(t)
            return None  # not an answer: handled as any other text
        _set_tags(t, tags)
        _finish(t)
        name = f", {v.first_name}" if v.first_name else ""
        return t.say("onboarded", name=name), "onboarding_interests"
    return None


def ask_zip(t: Turn) -> str:
    v = t.volunteer
    assert v is not None
    thanks = t.say("thanks_name", name=v.first_name) if v.first_name else t.say("thanks")
    return f"{thanks} {t.say('ask_zip')}"


def to_interests(t: Turn) -> str:
    # (zip_attempts from here on: attempts at the interests question)
    t.update(onboarding_step=OnboardingStep.INTERESTS, zip_attempts=0)
    return t.say("ask_interests")


def set_zip(t: Turn, info: geo.ZipInfo) -> ZipDistricts:
    v = t.volunteer
    assert v is not None
    t.update(
        zip=info.zip,
        state=info.state or v.state,
        timezone=info.timezone or v.timezone,
        zip_attempts=0,
    )
    follow_zip(t.session, v.id, info.zip, now=t.now)
    return apply_zip(t.session, v.id, info.zip, now=t.now)


def _finish(t: Turn) -> None:
    v = t.volunteer
    assert v is not None
    t.update(onboarding_step=OnboardingStep.DONE, zip_attempts=0)
    where = place(v.zip) if v.zip else "no ZIP"
    interests = ", ".join(v.tag_names) or "no interests given"
    t.post("signup", f"finished sign-up: {where}; {interests}")
    volunteer_joined(t.session, org=t.org, volunteer=v, now=t.now)


def _set_tags(t: Turn, tags: list[str]) -> None:
    v = t.volunteer
    assert v is not None
    have = {tag.tag for tag in v.tags}
    for tag in tags:
        if tag not in have:
            v.tags.append(VolunteerTag(tag=tag))
