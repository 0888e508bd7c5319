"""Free text: kept and shown to the organizers in their inbox, with one short acknowledgment an
hour at most."""

from __future__ import annotations

from datetime import timedelta

from handlers.volunteer.onboarding import current_question
from handlers.volunteer.turn import Answer, Turn

ACK_INTERVAL = timedelta(hours=1)


def keep_free_text(t: Turn) -> Answer:
    """Kept and shown to the organizers; one short acknowledgment an hour at most (and the
    pending onboarding question, so a volunteer mid-sign-up knows what we still need)."""
    v = t.volunteer
    assert v is not None
    t.post("inbox", "")
    question = current_question(t)
    if v.last_ack_at is not None and t.now - v.last_ack_at < ACK_INTERVAL:
        return question, "other"
    t.update(last_ack_at=t.now)
    ack = t.say("ack", org=t.org.org_name)
    return (f"{ack} {question}" if question else ack), "other"
