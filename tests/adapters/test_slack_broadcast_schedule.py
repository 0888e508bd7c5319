"""Scheduled and recurring broadcasts from Slack: `at=` and `every=` previews, Confirm (once,
even clicked twice), `scheduled` and `unschedule`, cron that fires too often, long and non-Latin
messages whose button values must fit Slack's 2,000 characters, and Cancel against Confirm on a
scheduled preview.

Broadcasts sent now, exports and Stop sending are in test_slack_broadcast.py; the `volunteers`
fixture (the audience) is in conftest.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import AuditEntry, Schedule
from tests.adapters.slack_harness import ORGANIZER, SlackHarness, blocks_text, buttons, deliveries


def test_scheduled_broadcast_confirmed_twice_is_scheduled_once(
    slack: SlackHarness, engine, volunteers
):
    answer = slack.ask('broadcast to=all at="2026-11-20 18:00" message="Town hall tonight, 7pm"')
    text = blocks_text(answer)
    assert "Fri Nov 20, 18:00 EST" in text and "3 volunteers" in text
    token = buttons(answer)["muster.broadcast.confirm"]
    first = slack.click("muster.broadcast.confirm", token)
    second = slack.click("muster.broadcast.confirm", token)
    replies = {blocks_text(slack.answer(first)), blocks_text(slack.answer(second))}
    assert any("Scheduled as #1" in r for r in replies)
    assert any("already scheduled" in r for r in replies)
    with Session(bind=engine) as session:
        (schedule,) = session.scalars(select(Schedule)).all()
    assert schedule.run_at == datetime(2026, 11, 20, 23, 0, tzinfo=UTC)
    assert schedule.created_by == ORGANIZER and deliveries(engine) == 0

    listed = blocks_text(slack.ask("scheduled"))
    assert "#1" in listed and "Town hall tonight" in listed and "Fri Nov 20, 18:00 EST" in listed
    assert "is cancelled" in blocks_text(slack.ask("unschedule 1"))
    assert "No broadcasts are scheduled" in blocks_text(slack.ask("scheduled"))
    assert "There is no scheduled broadcast 99" in blocks_text(slack.ask("unschedule 99"))
    with Session(bind=engine) as session:
        actions = session.scalars(select(AuditEntry.action)).all()
    assert actions.count("schedule.create") == 1 and actions.count("schedule.cancel") == 1


def test_recurring_broadcast(slack: SlackHarness, engine, volunteers):
    answer = slack.ask('broadcast to=all every="0 9 * * MON" message="This week: phonebanks"')
    assert "every `0 9 * * MON`" in blocks_text(answer)
    slack.answer(
        slack.click("muster.broadcast.confirm", buttons(answer)["muster.broadcast.confirm"])
    )
    listed = blocks_text(slack.ask("scheduled"))
    assert "every `0 9 * * MON` (America/New_York), next Mon Nov 23, 09:00 EST" in listed
    too_often = blocks_text(slack.ask('broadcast to=all every="*/5 * * * *" message="spam"'))
    assert "more than once an hour" in too_often


def test_the_digest_is_listed_with_what_it_sends(slack: SlackHarness, engine) -> None:
    from handlers.schedules import schedule_digest

    with Session(bind=engine) as session:
        schedule_digest(
            session, cron="0 10 * * MON", timezone="America/New_York", created_by="seed",
            now=datetime(2026, 11, 19, tzinfo=UTC),
        )  # fmt: skip
        session.commit()
    listed = blocks_text(slack.ask("scheduled"))
    assert "`digest`" in listed and "the digest of open shifts, written when it goes out" in listed


# --- Long and non-Latin scheduled messages: every button value fits Slack's 2,000 ------------

SPANISH = (
    "¡Hola! Mañana a las diez habrá una reunión en la biblioteca pública de Dorchester. "
    "Vengan con sus vecinos: hablaremos de la campaña, de la energía limpia y de cómo "
    "organizarnos para la votación. ¿Pueden ayudar? Respondan SÍ o NO. "
)
CONFIRM, CANCEL = "muster.broadcast.confirm", "muster.broadcast.cancel"
CHINESE = "志愿者您好，本周六上午十点在图书馆举行社区会议，讨论清洁能源法案和投票安排，欢迎参加。"


def long_message(sentence: str, length: int) -> str:
    """`sentence` repeated to exactly `length` characters (ending on one that is not a space)."""
    text = (sentence * (length // len(sentence) + 1))[:length]
    assert text == text.strip()
    return text


def button_values(call) -> list[str]:
    return [
        element["value"]
        for block in call.json_param("blocks") or []
        for element in [*block.get("elements", []), block.get("accessory") or {}]
        if element.get("type") == "button"
    ]


@pytest.mark.parametrize(
    ("message", "when"),
    [
        (long_message(SPANISH, 1600), 'at="2026-11-20 18:00"'),
        (long_message(CHINESE, 600), 'at="2026-11-20 18:00"'),
        (long_message(SPANISH, 1600), 'every="0 9 * * MON"'),
        (long_message(CHINESE, 600), 'every="0 9 * * MON"'),
    ],
    ids=["spanish-at", "chinese-at", "spanish-every", "chinese-every"],
)
def test_a_long_scheduled_preview_fits_slack_and_schedules_exactly_the_message(
    slack: SlackHarness, engine, volunteers, message, when
):
    assert len(message) in (1600, 600) and '"' not in message
    preview = slack.ask(f'broadcast to=all {when} message="{message}"')
    assert "3 volunteers" in blocks_text(preview)
    values = button_values(preview)
    assert len(values) == 2 and all(len(v) < 2000 for v in values)

    done = slack.answer(slack.click("muster.broadcast.confirm", buttons(preview)[CONFIRM]))
    assert "Scheduled as #1" in blocks_text(done)
    with Session(bind=engine) as session:
        (schedule,) = session.scalars(select(Schedule)).all()
    assert schedule.body == message and schedule.audience == "all"
    if "every" in when:
        assert (schedule.cron, schedule.run_at) == ("0 9 * * MON", None)
    else:
        assert (schedule.cron, schedule.run_at) == (None, datetime(2026, 11, 20, 23, tzinfo=UTC))
    assert deliveries(engine) == 0  # a schedule's preview and Confirm text nobody yet


def test_a_long_message_from_the_modal_fits_too(slack: SlackHarness, engine, volunteers):
    message = long_message(CHINESE, 600)
    slack.submit(
        "muster.broadcast",
        {
            "to": {"type": "plain_text_input", "value": "all"},
            "message": {"type": "plain_text_input", "value": message},
            "date": {"type": "datepicker", "selected_date": "2026-11-20"},
            "time": {"type": "timepicker", "selected_time": "18:00"},
            "every": {"type": "plain_text_input", "value": None},
        },
    )
    preview = slack.slack.wait_for("chat.postEphemeral")[0]
    assert all(len(v) < 2000 for v in button_values(preview))
    slack.answer(slack.click("muster.broadcast.confirm", buttons(preview)[CONFIRM]))
    with Session(bind=engine) as session:
        assert session.scalars(select(Schedule.body)).all() == [message]


def test_a_cancelled_scheduled_preview_cannot_be_confirmed_later(
    slack: SlackHarness, engine, volunteers
):
    preview = slack.ask('broadcast to=all at="2026-11-20 18:00" message="Town hall at 7"')
    values = buttons(preview)
    cancelled = slack.answer(slack.click("muster.broadcast.cancel", values[CANCEL]))
    assert "nothing was scheduled or sent" in blocks_text(cancelled)
    late = slack.answer(slack.click("muster.broadcast.confirm", values[CONFIRM]))
    assert "was cancelled; nothing was scheduled" in blocks_text(late)
    with Session(bind=engine) as session:
        assert session.scalars(select(Schedule)).all() == []


def test_a_scheduled_preview_confirmed_then_cancelled_stays_scheduled(
    slack: SlackHarness, engine, volunteers
):
    preview = slack.ask('broadcast to=all every="0 9 * * MON" message="This week: phonebanks"')
    values = buttons(preview)
    slack.answer(slack.click("muster.broadcast.confirm", values[CONFIRM]))
    late = slack.answer(slack.click("muster.broadcast.cancel", values[CANCEL]))
    assert "already scheduled" in blocks_text(late) and "/muster unschedule ID" in blocks_text(late)
    with Session(bind=engine) as session:
        assert session.scalars(select(Schedule.status)).all() == ["active"]
