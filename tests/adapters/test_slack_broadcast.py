"""Broadcasts and exports from Slack: preview, Confirm (once, even clicked twice), Cancel,
the modal's field errors, and a CSV that only ever goes to the asking organizer's DM."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import AuditEntry, Broadcast, Delivery, Schedule
from tests.adapters.slack_harness import (
    ORGANIZER,
    STRANGER,
    SlackHarness,
    blocks_text,
)
from tests.builders import make_shift, make_volunteer
from tests.conftest import T0


@pytest.fixture
def volunteers(engine) -> int:
    with Session(bind=engine) as session:
        for name in ("Maria", "Dev", "Sam"):
            make_volunteer(session, first_name=name, tags=["canvass"])
        make_volunteer(session, first_name="Gone", status="opted_out", tags=["canvass"])
        session.commit()
    return 3


def deliveries(engine) -> int:
    with Session(bind=engine) as session:
        return session.scalar(select(func.count()).select_from(Delivery)) or 0


def buttons(call) -> dict[str, str]:
    out = {}
    for block in call.json_param("blocks") or []:
        for element in block.get("elements", []):
            if element.get("type") == "button":
                out[element["action_id"]] = element["value"]
    return out


def test_preview_then_confirm_twice_sends_once(slack: SlackHarness, engine, volunteers):
    answer = slack.ask('broadcast to=tag:canvass message="Canvass Saturday 10am? Reply YES"')
    text = blocks_text(answer)
    assert "3 volunteers" in text and "nothing is sent until you confirm" in text
    assert "1 segment(s), gsm7" in text and "$0.02" in text
    assert "Maria" in text and "Gone" not in text
    assert deliveries(engine) == 0  # a preview sends nothing
    token = buttons(answer)["muster.broadcast.confirm"]

    first = slack.click("muster.broadcast.confirm", token)
    second = slack.click("muster.broadcast.confirm", token)
    replies = {blocks_text(slack.answer(first)), blocks_text(slack.answer(second))}
    assert any("on its way to 3 volunteers" in r for r in replies)
    assert any("already sent" in r for r in replies)
    assert slack.answer(first).params["replace_original"] in (True, "true")
    assert deliveries(engine) == 3
    with Session(bind=engine) as session:
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions.count("broadcast.confirm") == 1 and "broadcast.draft" in actions


def test_cancel_sends_nothing(slack: SlackHarness, engine, volunteers):
    answer = slack.ask('broadcast to=all message="Rally moved to 6pm"')
    token = buttons(answer)["muster.broadcast.cancel"]
    assert "cancelled" in blocks_text(slack.answer(slack.click("muster.broadcast.cancel", token)))
    # a late Confirm on the same preview still sends nothing
    slack.answer(slack.click("muster.broadcast.confirm", token))
    assert deliveries(engine) == 0
    with Session(bind=engine) as session:
        assert session.scalar(select(Broadcast.status)) == "cancelled"


def test_a_stranger_cannot_confirm(slack: SlackHarness, engine, volunteers):
    token = buttons(slack.ask('broadcast to=all message="hi"'))["muster.broadcast.confirm"]
    refusal = slack.answer(slack.click("muster.broadcast.confirm", token, user=STRANGER))
    assert "only organizers" in blocks_text(refusal)
    assert deliveries(engine) == 0


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ("to=all", "missing message"),
        ('message="hi"', "missing to"),
        ('to=planet:mars message="hi"', "to:"),
        ('to=all message="hi" at="2026-11-01 10:00"', "in the future"),
        ('to=all message="hi" at="soon"', "YYYY-MM-DD HH:MM"),
        ('to=all message="hi" every="whenever"', "cron"),
        ('to=all message="   "', "message"),
    ],
)
def test_malformed_broadcast_answers_usage_and_sends_nothing(
    slack: SlackHarness, engine, volunteers, args, reason
):
    text = blocks_text(slack.ask(f"broadcast {args}"))
    assert reason in text and "Usage: /muster broadcast to=AUDIENCE" in text
    with Session(bind=engine) as session:
        assert session.scalar(select(func.count()).select_from(Broadcast)) == 0


def test_broadcast_modal_errors_and_preview(slack: SlackHarness, engine, volunteers):
    slack.command("broadcast")
    view = slack.slack.wait_for("views.open")[0].json_param("view")
    assert view["callback_id"] == "muster.broadcast"
    bad = slack.submit(
        "muster.broadcast",
        {
            "to": {"type": "plain_text_input", "value": "zip:abc"},
            "message": {"type": "plain_text_input", "value": ""},
            "date": {"type": "datepicker", "selected_date": "2026-11-20"},
            "time": {"type": "timepicker", "selected_time": None},
            "every": {"type": "plain_text_input", "value": None},
        },
    ).json()
    assert bad["response_action"] == "errors"
    assert set(bad["errors"]) == {"to", "message", "time"}
    ok = slack.submit(
        "muster.broadcast",
        {
            "to": {"type": "plain_text_input", "value": "all"},
            "message": {"type": "plain_text_input", "value": "Phonebank tonight?"},
            "date": {"type": "datepicker", "selected_date": None},
            "time": {"type": "timepicker", "selected_time": None},
            "every": {"type": "plain_text_input", "value": None},
        },
    )
    assert ok.status_code == 200
    preview = slack.slack.wait_for("chat.postEphemeral")[0]
    assert preview.params["user"] == ORGANIZER and "3 volunteers" in blocks_text(preview)
    assert "muster.broadcast.confirm" in buttons(preview)


def test_export_volunteers_goes_to_the_organizers_dm_only(slack: SlackHarness, engine, volunteers):
    answer = slack.ask("export volunteers")
    assert "direct message" in blocks_text(answer)
    assert answer.params["response_type"] == "ephemeral"
    (opened,) = slack.slack.calls_to("conversations.open")
    assert opened.params["users"] == ORGANIZER
    (complete,) = slack.slack.calls_to("files.completeUploadExternal")
    assert complete.params["channel_id"] == "D" + ORGANIZER
    (upload,) = slack.slack.calls_to("upload")
    csv_text = upload.raw.decode()
    assert csv_text.splitlines()[0].startswith("phone,name,zip")
    assert "Maria" in csv_text and len(csv_text.splitlines()) == 5  # header + 4 volunteers
    assert not slack.slack.calls_to("chat.postMessage")  # nothing posted to any channel
    with Session(bind=engine) as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "export")).one()
    assert entry.actor == ORGANIZER and entry.detail == {"rows": 4}


def test_export_roster(slack: SlackHarness, engine):
    with Session(bind=engine) as session:
        shift = make_shift(session, starts_at=T0 + timedelta(days=1))
        session.commit()
        shift_id = shift.id
    assert "Roster of shift" in blocks_text(slack.ask(f"export roster {shift_id}"))
    assert slack.slack.calls_to("files.completeUploadExternal")
    assert "There is no shift 404" in blocks_text(slack.ask("export roster 404"))
    completed = slack.slack.calls_to("files.completeUploadExternal")
    assert json.loads(completed[0].params["files"])[0]["title"] == f"Roster of shift #{shift_id}"


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


def test_stats_show_the_last_broadcasts_report(slack: SlackHarness, engine, volunteers):
    token = buttons(slack.ask('broadcast to=all message="Rally at 6"'))["muster.broadcast.confirm"]
    slack.answer(slack.click("muster.broadcast.confirm", token))
    with Session(bind=engine) as session:
        rows = session.scalars(select(Delivery).order_by(Delivery.id)).all()
        rows[0].status, rows[1].status = "delivered", "sent"
        session.commit()
    text = blocks_text(slack.ask("stats"))
    assert "→ `all` (queued)" in text
    assert "3 recipients · 2 sent · 1 delivered · 0 replied" in text
