"""The volunteer inbox from Slack's side: an organizer's reply in a volunteer's thread becomes a
text in the outbox (once, even when Slack retries the event); and the App Home dashboard."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import AuditEntry, Delivery, SlackReplyMark, Volunteer, VolunteerStatus
from tests.adapters.slack_harness import (
    INBOX,
    ORGANIZER,
    STRANGER,
    SlackHarness,
    blocks_text,
)
from tests.builders import make_shift, make_volunteer
from tests.conftest import T0

THREAD = "1763200000.000100"


@pytest.fixture
def maria(engine) -> int:
    with Session(bind=engine) as session:
        v = make_volunteer(
            session, first_name="Maria", phone="+16175550123", inbox_thread_ts=THREAD
        )
        session.commit()
        return v.id


def reply(text: str, *, user: str = ORGANIZER, thread_ts: str | None = THREAD, **extra) -> dict:
    event = {
        "type": "message",
        "channel": INBOX,
        "user": user,
        "text": text,
        "ts": "1763300001.000200",
        "channel_type": "channel",
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    event.update(extra)
    return event


def deliveries(engine) -> list[Delivery]:
    with Session(bind=engine) as session:
        return list(session.scalars(select(Delivery)))


def test_a_thread_reply_becomes_one_text_even_when_slack_retries(
    slack: SlackHarness, engine, maria
):
    event = reply("See you Saturday! Details: <https://massforward.org/sat|massforward.org/sat>")
    slack.event(event, event_id="Ev0001")
    reaction = slack.slack.wait_for("reactions.add")[0]
    assert reaction.params["channel"] == INBOX and reaction.params["name"] == "outbox_tray"
    assert reaction.params["timestamp"] == "1763300001.000200"
    slack.event(event, event_id="Ev0001", retry=1)  # Slack's retry of the same event
    slack.event(event, event_id="Ev0001", retry=2)
    (sms,) = deliveries(engine)
    assert sms.kind == "reply" and sms.to_phone == "+16175550123"
    assert sms.idempotency_key == "reply:Ev0001" and sms.volunteer_id == maria
    assert sms.body == "Mass Forward: See you Saturday! Details: https://massforward.org/sat"
    assert sms.priority == 0
    with Session(bind=engine) as session:
        mark = session.get_one(SlackReplyMark, "reply:Ev0001")
    assert (mark.channel, mark.message_ts, mark.outcome) == (INBOX, "1763300001.000200", None)
    with Session(bind=engine) as session:
        actions = session.scalars(select(AuditEntry.action)).all()
    assert actions == ["inbox.reply"]


def test_a_non_organizers_reply_is_not_texted(slack: SlackHarness, engine, maria):
    slack.event(reply("hi from me", user=STRANGER))
    refusal = slack.slack.wait_for("chat.postEphemeral")[0]
    assert refusal.params["user"] == STRANGER and "only organizers" in refusal.params["text"]
    assert deliveries(engine) == []


def test_a_reply_to_an_opted_out_volunteer_is_refused(slack: SlackHarness, engine, maria):
    with Session(bind=engine) as session:
        session.get_one(Volunteer, maria).status = VolunteerStatus.OPTED_OUT
        session.commit()
    slack.event(reply("are you coming?"))
    note = slack.slack.wait_for("chat.postEphemeral")[0]
    assert "Not sent" in note.params["text"] and "opted out" in note.params["text"]
    assert slack.slack.wait_for("reactions.add")[0].params["name"] == "no_entry_sign"
    assert deliveries(engine) == []


@pytest.mark.parametrize(
    "event",
    [
        reply("top-level chatter", thread_ts=None),
        reply("in another thread", thread_ts="1763200000.999999"),
        reply("elsewhere", channel="C0GENERAL"),
        reply("from a bot", bot_id="B1"),
        reply("edited", subtype="message_changed"),
    ],
)
def test_other_messages_are_left_alone(slack: SlackHarness, engine, maria, event):
    slack.event(event)
    slack.event(reply("the real one"))  # processed after the first: its reaction marks the end
    slack.slack.wait_for("reactions.add")
    assert [d.body for d in deliveries(engine)] == ["Mass Forward: the real one"]
    assert not slack.slack.calls_to("chat.postEphemeral")


def test_app_home_shows_the_drive_to_organizers_only(slack: SlackHarness, engine):
    with Session(bind=engine) as session:
        make_volunteer(session, created_at=T0 - timedelta(days=2))
        make_shift(session, starts_at=T0 + timedelta(days=1), title="Saturday canvass")
        session.commit()
    slack.event({"type": "app_home_opened", "user": ORGANIZER, "channel": "D1", "tab": "home"})
    call = slack.slack.wait_for("views.publish")[0]
    assert call.params["user_id"] == ORGANIZER
    view = call.json_param("view")
    assert view["type"] == "home"
    text = blocks_text(call) + str(view)
    assert "Saturday canvass" in text and "New this week" in text and "last 8 weeks" in text

    slack.event({"type": "app_home_opened", "user": STRANGER, "channel": "D2", "tab": "home"})
    call = slack.slack.wait_for("views.publish", 2)[1]
    assert call.params["user_id"] == STRANGER
    assert "organizers only" in str(call.json_param("view"))
    assert "Saturday canvass" not in str(call.json_param("view"))
