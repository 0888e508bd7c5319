"""A true emergency from Slack (issue 13): `deadline=` / `valid=` and `quiet_hours=override`,
inline and in the broadcast modal. The preview says so in words; the texts carry the deadline
and the override; the audit log records who overrode."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import AuditEntry, Broadcast, Delivery, Schedule
from tests.adapters.slack_harness import ORGANIZER, SlackHarness, blocks_text, buttons
from tests.builders import make_volunteer

NIGHT = datetime(2026, 11, 17, 3, 0, tzinfo=UTC)  # Mon Nov 16, 22:00 in Boston: quiet hours
FLOOD = "Flooding on Elm St: shelter open at Lincoln School NOW"


@pytest.fixture
def volunteers(engine) -> None:
    with Session(bind=engine) as session:
        for name in ("Maria", "Dev", "Sam"):
            make_volunteer(session, first_name=name, timezone="America/New_York")
        session.commit()


def _utc(at: datetime) -> datetime:
    """SQLite gives naive UTC, PostgreSQL an aware datetime."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _confirm(slack: SlackHarness, answer) -> str:
    token = buttons(answer)["muster.broadcast.confirm"]
    return blocks_text(slack.answer(slack.click("muster.broadcast.confirm", token)))


def test_an_emergency_overrides_quiet_hours_with_a_deadline_and_is_audited(
    slack: SlackHarness, engine, clock, volunteers
) -> None:
    clock.set(NIGHT)
    held = blocks_text(slack.ask(f'broadcast to=all message="{FLOOD}"'))
    assert "3 are in quiet hours now: theirs wait until morning" in held

    answer = slack.ask(f'broadcast to=all quiet_hours=override valid=2h message="{FLOOD}"')
    text = blocks_text(answer)
    assert "Quiet hours OVERRIDDEN" in text and "even the 3 in quiet hours now" in text
    assert "audit log records that you overrode" in text
    assert "valid for 2h: not sent after Tue Nov 17, 00:00 EST" in text
    assert "in quiet hours too" in json.dumps(answer.json_param("blocks"))  # the Confirm dialog
    assert "on its way to 3 volunteers" in _confirm(slack, answer)

    with Session(bind=engine) as session:
        rows = session.scalars(select(Delivery).where(Delivery.kind == "broadcast")).all()
        assert len(rows) == 3
        assert {(r.quiet_hours_override, _utc(r.deadline)) for r in rows} == {
            (True, NIGHT + timedelta(hours=2))
        }
        overrides = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "broadcast.quiet_hours_override")
        ).all()
        assert [(e.actor, e.detail["stage"]) for e in overrides] == [
            (ORGANIZER, "draft"),
            (ORGANIZER, "confirm"),
        ]


def test_a_deadline_as_a_date_is_shown_and_kept(slack: SlackHarness, engine, volunteers) -> None:
    answer = slack.ask('broadcast to=all deadline="2026-11-16 18:00" message="Rally at 6 today"')
    text = blocks_text(answer)
    assert "not sent after Mon Nov 16, 18:00 EST" in text and "OVERRIDDEN" not in text
    _confirm(slack, answer)
    with Session(bind=engine) as session:
        (broadcast,) = session.scalars(select(Broadcast)).all()
        assert _utc(broadcast.deadline) == datetime(2026, 11, 16, 23, 0, tzinfo=UTC)
        assert not broadcast.quiet_hours_override


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ('deadline="2026-11-01 10:00"', "must be in the future"),
        ('deadline="soonish"', "YYYY-MM-DD HH:MM, or a length like 2h"),
        ("valid=forever", "a length like 2h"),
        ("valid=30d", "between 1m and 7d"),
        ('valid=2h deadline="2026-11-20 10:00"', "not both"),
        ("quiet_hours=ignore", "quiet_hours takes only `override`"),
        ('every="0 9 * * MON" deadline="2026-11-20 10:00"', "takes valid=LENGTH"),
        ('at="2026-11-20 18:00" deadline="2026-11-20 17:00"', "after the time it is sent"),
    ],
)
def test_a_wrong_deadline_or_override_is_refused_in_words(
    slack: SlackHarness, engine, volunteers, args: str, reason: str
) -> None:
    text = blocks_text(slack.ask(f'broadcast to=all {args} message="hi"'))
    assert reason in text and "quiet_hours=override" in text  # the usage line names them
    with Session(bind=engine) as session:
        assert session.scalars(select(Broadcast)).all() == []


def test_a_scheduled_broadcast_carries_its_validity_and_override(
    slack: SlackHarness, engine, volunteers
) -> None:
    once = slack.ask(
        'broadcast to=all at="2026-11-20 18:00" deadline="2026-11-20 19:30" '
        'quiet_hours=override message="Storm drill tonight"'
    )
    assert "not sent after Fri Nov 20, 19:30 EST" in blocks_text(once)
    assert "Scheduled as #1" in _confirm(slack, once)
    weekly = slack.ask('broadcast to=all every="0 9 * * MON" valid=90m message="This week"')
    assert "valid for 1h 30m each time it runs" in blocks_text(weekly)
    _confirm(slack, weekly)
    with Session(bind=engine) as session:
        first, second = session.scalars(select(Schedule).order_by(Schedule.id)).all()
        assert (first.deadline_minutes, first.quiet_hours_override) == (90, True)
        assert (second.deadline_minutes, second.quiet_hours_override) == (90, False)
        created = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "schedule.create").order_by(AuditEntry.id)
        ).all()
        assert created[0].actor == ORGANIZER and created[0].detail["quiet_hours_override"]


def test_the_modal_takes_a_deadline_and_the_override(
    slack: SlackHarness, engine, clock, volunteers
) -> None:
    clock.set(NIGHT)
    slack.command("broadcast")
    view = slack.slack.wait_for("views.open")[0].json_param("view")
    blocks = {b["block_id"]: b for b in view["blocks"]}
    assert blocks["quiet_hours"]["element"]["type"] == "checkboxes"
    assert blocks["until"]["optional"] and blocks["quiet_hours"]["optional"]

    def state(until: str | None, override: bool) -> dict:
        return {
            "to": {"type": "plain_text_input", "value": "all"},
            "message": {"type": "plain_text_input", "value": FLOOD},
            "date": {"type": "datepicker", "selected_date": None},
            "time": {"type": "timepicker", "selected_time": None},
            "every": {"type": "plain_text_input", "value": None},
            "until": {"type": "plain_text_input", "value": until},
            "quiet_hours": {
                "type": "checkboxes",
                "selected_options": [{"value": "override"}] if override else [],
            },
        }

    bad = slack.submit("muster.broadcast", state("whenever", True)).json()
    assert bad["response_action"] == "errors" and set(bad["errors"]) == {"until"}
    assert slack.submit("muster.broadcast", state("90m", True)).status_code == 200
    preview = blocks_text(slack.slack.wait_for("chat.postEphemeral")[0])
    assert (
        "Quiet hours OVERRIDDEN" in preview
        and "valid for 1h 30m: not sent after Mon Nov 16, 23:30 EST" in preview
    )
    with Session(bind=engine) as session:
        (draft,) = session.scalars(select(Broadcast)).all()
        assert draft.quiet_hours_override and draft.created_by == ORGANIZER
        assert _utc(draft.deadline) == NIGHT + timedelta(minutes=90)
