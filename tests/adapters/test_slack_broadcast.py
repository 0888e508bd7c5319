"""Broadcasts and exports from Slack, sent now: preview, Confirm (once, even clicked twice),
Cancel, usage for a malformed command, the modal's field errors, a CSV that only ever goes to the
asking organizer's DM, the last broadcast's report in `stats`, and Stop sending on a confirmed
broadcast (or one the clock fired).

Scheduled and recurring broadcasts are in test_slack_broadcast_schedule.py; the `volunteers`
fixture (the audience) is in conftest.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import AuditEntry, Broadcast, Delivery
from tests.adapters.slack_harness import (
    ORGANIZER,
    STRANGER,
    SlackHarness,
    blocks_text,
    buttons,
    deliveries,
)
from tests.builders import make_shift
from tests.conftest import T0


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


def test_a_preview_that_reaches_nobody_says_why(slack: SlackHarness, engine, volunteers):
    typo = blocks_text(slack.ask('broadcast to=tag:canvas message="Canvass Saturday?"'))
    assert "0 volunteers" in typo
    assert "No volunteer has the tag 'canvas'. Did you mean tag:canvass?" in typo
    assert "Tags in use: canvass." in typo
    gone = blocks_text(slack.ask('broadcast to=zip:9 message="Canvass Saturday?"'))
    assert "Nobody in zip:9 can be texted now" in gone
    found = blocks_text(slack.ask('broadcast to=tag:canvass message="Canvass Saturday?"'))
    assert "3 volunteers" in found and "Nobody" not in found and "No volunteer" not in found
    assert deliveries(engine) == 0


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


# --- Stop sending: a confirmed broadcast (or one the clock fired) can still be stopped -----------


def stop_button(call) -> dict:
    (button,) = [
        element
        for block in call.json_param("blocks") or []
        for element in [*block.get("elements", []), block.get("accessory") or {}]
        if element.get("action_id") == "muster.broadcast.stop"
    ]
    return button


def statuses(engine) -> list[str]:
    with Session(bind=engine) as session:
        return sorted(session.scalars(select(Delivery.status)).all())


def audited(engine, action: str) -> list[tuple[str, dict]]:
    with Session(bind=engine) as session:
        rows = session.execute(
            select(AuditEntry.actor, AuditEntry.detail).where(AuditEntry.action == action)
        ).all()
    return [(actor, detail) for actor, detail in rows]


def confirmed(slack: SlackHarness, message: str = "Rally at 6") -> tuple[int, object]:
    """A broadcast to everyone, confirmed: (its id, the answer that replaced the preview)."""
    preview = slack.ask(f'broadcast to=all message="{message}"')
    token = buttons(preview)["muster.broadcast.confirm"]
    answer = slack.answer(slack.click("muster.broadcast.confirm", token))
    return int(token.removeprefix("b:")), answer


def test_the_confirmed_message_offers_stop_sending(slack: SlackHarness, engine, volunteers):
    broadcast_id, answer = confirmed(slack)
    assert "on its way to 3 volunteers" in blocks_text(answer)
    assert answer.params["replace_original"] in (True, "true")
    button = stop_button(answer)
    assert button["value"] == f"b:{broadcast_id}" and button["style"] == "danger"
    assert button["text"]["text"] == "Stop sending"
    assert {"title", "text", "confirm", "deny"} <= set(button["confirm"])
    # a second Confirm (its answer may land last and replace the first) keeps the button
    again = slack.answer(slack.click("muster.broadcast.confirm", f"b:{broadcast_id}"))
    assert "already sent" in blocks_text(again) and stop_button(again)["value"] == button["value"]


def test_stop_sending_stops_what_has_not_gone_and_says_how_many(
    slack: SlackHarness, engine, volunteers
):
    broadcast_id, answer = confirmed(slack)
    with Session(bind=engine) as session:
        first = session.scalars(select(Delivery).order_by(Delivery.id)).first()
        first.status = "sent"  # one text already handed to Twilio
        session.commit()

    stopped = slack.answer(slack.click("muster.broadcast.stop", stop_button(answer)["value"]))
    text = blocks_text(stopped)
    assert f"Broadcast #{broadcast_id} stopped" in text
    assert "2 texts not yet sent will not go; 1 had already gone" in text
    assert stopped.params["replace_original"] in (True, "true")
    assert "muster.broadcast.stop" not in json.dumps(stopped.json_param("blocks"))
    assert statuses(engine) == ["cancelled", "cancelled", "sent"]
    with Session(bind=engine) as session:
        broadcast = session.get(Broadcast, broadcast_id)
        assert (broadcast.status, broadcast.cancelled_by) == ("cancelled", ORGANIZER)
    assert audited(engine, "broadcast.cancel") == [(ORGANIZER, {"unsent_cancelled": 2})]

    # pressed again: a polite answer, and nothing changes
    again = slack.answer(slack.click("muster.broadcast.stop", f"b:{broadcast_id}"))
    assert "already stopped" in blocks_text(again)
    assert statuses(engine) == ["cancelled", "cancelled", "sent"]
    assert len(audited(engine, "broadcast.cancel")) == 1


def test_stop_sending_names_the_texts_in_flight(slack: SlackHarness, engine, volunteers):
    broadcast_id, answer = confirmed(slack)
    with Session(bind=engine) as session:
        first, second, _ = session.scalars(select(Delivery).order_by(Delivery.id)).all()
        first.status, second.status = "delivered", "claimed"  # one went, one a sender holds
        session.commit()
    stopped = slack.answer(slack.click("muster.broadcast.stop", stop_button(answer)["value"]))
    assert (
        "1 text not yet sent will not go; 1 had already gone. "
        "1 text in flight to Twilio just then may still go."
    ) in blocks_text(stopped)
    # the claimed row is the sender's, already past its checks: Stop leaves it alone
    assert statuses(engine) == ["cancelled", "claimed", "delivered"]
    with Session(bind=engine) as session:
        assert session.get(Broadcast, broadcast_id).status == "cancelled"


def test_stop_after_the_last_text_went_changes_nothing(slack: SlackHarness, engine, volunteers):
    broadcast_id, answer = confirmed(slack)
    with Session(bind=engine) as session:
        for delivery in session.scalars(select(Delivery)):
            delivery.status = "delivered"
        session.get(Broadcast, broadcast_id).status = "sent"
        session.commit()
    done = slack.answer(slack.click("muster.broadcast.stop", stop_button(answer)["value"]))
    assert "has finished: 3 texts went; there is nothing left to stop" in blocks_text(done)
    assert statuses(engine) == ["delivered"] * 3
    with Session(bind=engine) as session:
        assert session.get(Broadcast, broadcast_id).status == "sent"
    assert audited(engine, "broadcast.cancel") == []


def test_only_organizers_can_stop_a_broadcast(slack: SlackHarness, engine, volunteers):
    _, answer = confirmed(slack)
    refusal = slack.answer(
        slack.click("muster.broadcast.stop", stop_button(answer)["value"], user=STRANGER)
    )
    assert "only organizers" in blocks_text(refusal)
    assert refusal.params.get("replace_original") in (False, "false")  # the button stays
    assert statuses(engine) == ["pending"] * 3
    assert audited(engine, "broadcast.cancel") == []
    assert [actor for actor, _ in audited(engine, "denied")] == [STRANGER]


def test_a_broadcast_the_clock_fired_is_stopped_from_scheduled(
    slack: SlackHarness, engine, clock, volunteers
):
    from scheduler.jobs import fire_schedule

    preview = slack.ask('broadcast to=all at="2026-11-16 12:00" message="Lunch rally at noon"')
    slack.answer(
        slack.click("muster.broadcast.confirm", buttons(preview)["muster.broadcast.confirm"])
    )
    clock.set(datetime(2026, 11, 16, 17, 1, tzinfo=UTC))  # 12:01 in Boston
    c = slack.container
    fired = fire_schedule(c.uow(), clock, schedule_id=1, org=c.org)
    assert fired.recipients == 3 and statuses(engine) == ["pending"] * 3

    listed = slack.ask("scheduled")
    text = blocks_text(listed)
    assert "Going out now" in text and f"Broadcast #{fired.broadcast_id}" in text
    assert "from scheduled #1" in text and "3 of 3 not yet sent" in text
    button = stop_button(listed)
    assert button["value"] == f"b:{fired.broadcast_id}" and button["style"] == "danger"

    stopped = slack.answer(slack.click("muster.broadcast.stop", button["value"]))
    assert "3 texts not yet sent will not go; 0 had already gone" in blocks_text(stopped)
    assert statuses(engine) == ["cancelled"] * 3
    assert "Going out now" not in blocks_text(slack.ask("scheduled"))
