"""Which answer a text gets: consent first (a number whose latest consent ledger entry is an
opt-out, with or without a volunteer on file, gets nothing but HELP's answer and the confirmation
of its opt-in), then the pending onboarding question, then the
keyword table, and free text when nothing else takes it.

A new keyword is one function of a `Turn` returning an `Answer` (or None: not for it, so free
text) in the module named after what it does, and one row in `KEYWORDS` (its `Intent` comes
from `handlers.keywords`, which reads the text).
"""

from __future__ import annotations

from collections.abc import Callable

from handlers import sms_fitting
from handlers.keywords import Intent, parse
from handlers.volunteer import (
    calls_to_action,
    consent,
    districts,
    inbox,
    legislators,
    onboarding,
    patch_through,
    profile,
    shift_keywords,
    voting,
)
from handlers.volunteer.turn import MAX_SEGMENTS, Answer, Turn
from storage.models import OnboardingStep, VolunteerStatus

# The keywords of a volunteer who is signed up (after consent and onboarding have had their say).
KEYWORDS: dict[Intent, Callable[[Turn], Answer | None]] = {
    Intent.SHIFTS: shift_keywords.list_shifts,
    Intent.COMMIT: shift_keywords.commit,
    Intent.DROP: shift_keywords.drop,
    Intent.MY: shift_keywords.my_shifts,
    Intent.CONFIRM: shift_keywords.confirm,
    Intent.NAME: profile.set_name,
    Intent.ZIP: profile.set_zip_code,
    Intent.ADDRESS: districts.set_address,
    Intent.DISTRICTS: districts.my_districts,
    Intent.EMAIL: profile.set_email,
    Intent.CALL: legislators.call_my_legislators,
    Intent.DONE: calls_to_action.report_done,
    Intent.YES: calls_to_action.answer_yes_no,
    Intent.NO: calls_to_action.answer_yes_no,
    Intent.MAYBE_OPT_OUT: consent.maybe_opt_out,
    Intent.NUMBER: patch_through.answer_digit,
    Intent.VOTE: voting.vote_named,
}


def answer(t: Turn) -> Answer:
    """Read the text and answer it (the reply fitted to its segments, or None)."""
    t.parsed = parse(t.msg.text)
    t.lang = t.parsed.language or (t.volunteer.language if t.volunteer else "en")
    if t.volunteer is not None and t.volunteer.language != t.lang:
        t.update(language=t.lang)
    reply, intent = _route(t)
    return (sms_fitting.fit(reply, MAX_SEGMENTS) if reply else None), intent


def _route(t: Turn) -> Answer:
    p, v = t.parsed, t.volunteer
    if t.msg.opt_out_type:
        return consent.advanced_opt_out(t, t.msg.opt_out_type.strip().upper())
    if p.intent == Intent.HELP:
        return consent.help_reply(t), "help"
    # A number with no volunteer on file (erased by `muster forget`, say) whose latest ledger
    # entry is an opt-out is as opted out as a volunteer who is: nothing but HELP's answer and,
    # when it opts in again, the confirmation.
    if v is None and p.intent not in (Intent.OPT_IN, Intent.YES) and consent.opted_out(t):
        return consent.opted_out_stranger(t)
    if p.intent == Intent.OPT_OUT:
        return consent.opt_out(t)
    if v is not None and v.status == VolunteerStatus.OPTED_OUT:
        if p.intent in (Intent.OPT_IN, Intent.YES):
            return consent.opt_back_in(t)
        t.post("inbox", "(opted out; texts to this number are not sent)")
        return None, "opted_out_text"
    # A number we do not know, or one on file without consent (imported without evidence of
    # it, or once found unreachable), subscribes with JOIN, START or a bare YES.
    unsubscribed = v is None or v.status == VolunteerStatus.UNREACHABLE
    if p.intent == Intent.OPT_IN or (unsubscribed and p.intent == Intent.YES):
        return consent.join(t)
    if v is None:
        return consent.stranger(t)
    if v.onboarding_step != OnboardingStep.DONE:
        answered = onboarding.answer_question(t)
        if answered is not None:
            return answered
    keyword = KEYWORDS.get(p.intent)
    if keyword is not None:
        answered = keyword(t)
        if answered is not None:
            return answered
    return inbox.keep_free_text(t)
