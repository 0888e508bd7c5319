"""Shifts from `/muster` through the real `/slack/events` route, answered through the fake Slack
Web API: `shift add` inline and in its modal, with its usage errors; `shifts` with fill and
waitlist; `roster N` with the waitlist places and, once the shift has started, the attendance
buttons. Editing and cancelling a shift are in test_slack_shift_edits.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from handlers.organizer.parsing import USAGE
from storage.models import (
    Commitment,
    CommitmentStatus,
    Shift,
    Volunteer,
    VolunteerStatus,
)
from tests.adapters.slack_harness import (
    ORGANIZER,
    STRANGER,
    SlackHarness,
    audit_actions,
    blocks_text,
    count,
)
from tests.builders import make_shift, make_volunteer
from tests.conftest import T0


def test_shift_add_inline_creates_the_shift_and_audits_it(slack: SlackHarness, engine):
    answer = slack.ask(
        'shift add title="Phonebank for the bill" start="2026-11-21 10:00" '
        'end="2026-11-21 12:00" capacity=12 zip=02124 location="1 Main St" tags=phonebank,spanish'
    )
    text = blocks_text(answer)
    assert "Phonebank for the bill" in text and "0/12 filled" in text
    assert "Sat Nov 21, 10:00-12:00 EST" in text
    with engine.connect() as conn:
        shift = conn.execute(select(Shift)).one()
    assert shift.capacity == 12 and shift.zip == "02124" and shift.created_by == ORGANIZER
    assert shift.starts_at.hour == 15  # 10:00 in Boston is 15:00 UTC in November
    assert shift.tags == ["phonebank", "spanish"]
    assert (ORGANIZER, "shift.create") in audit_actions(engine)


def test_shift_add_with_curly_quotes_from_the_slack_client(slack: SlackHarness, engine):
    slack.ask(
        "shift add title=“Door knock” start=“2026-11-22 09:30” end=“2026-11-22 12:00” capacity=5"
    )
    assert count(engine, Shift) == 1


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ('title="x" start="2026-11-21 10:00" end="2026-11-21 12:00"', "missing capacity"),
        ('title="x" start="tomorrow" end="2026-11-21 12:00" capacity=3', "start: use YYYY-MM-DD"),
        ('title="x" start="2026-11-21 10:00" end="2026-11-21 09:00" capacity=3', "end: must be"),
        ('title="x" start="2026-11-01 10:00" end="2026-11-01 12:00" capacity=3', "in the future"),
        ('title="x" start="2026-11-21 10:00" end="2026-11-21 12:00" capacity=lots', "capacity"),
        ('title="x" start="2026-11-21 10:00" end="2026-11-21 12:00" capacity=3 zip=00000', "ZIP"),
        ('title="x start="2026-11-21 10:00"', "quote is not closed"),
        ('title="x" colour=red', "`colour` is not one of"),
        ("banana", "`banana` is not key=value"),
    ],
)
def test_shift_add_malformed_answers_usage_and_changes_nothing(
    slack: SlackHarness, engine, args, reason
):
    text = blocks_text(slack.ask(f"shift add {args}"))
    assert reason in text
    assert f"Usage: {USAGE['shift add']}" in text
    assert count(engine, Shift) == 0


def test_shifts_show_fill_and_waitlist(slack: SlackHarness, engine):
    with engine.begin() as conn:
        from sqlalchemy.orm import Session

        session = Session(bind=conn)
        shift = make_shift(session, starts_at=T0 + timedelta(days=2), capacity=4, title="Canvass")
        shift.committed_count = 3
        waiting = make_volunteer(session)
        session.add(
            Commitment(
                volunteer_id=waiting.id,
                shift_id=shift.id,
                status=CommitmentStatus.WAITLISTED,
                waitlist_position=1,
            )
        )
        make_shift(session, starts_at=T0 - timedelta(days=2), title="Old one")
        session.commit()
    text = blocks_text(slack.ask("shifts"))
    assert "Canvass" in text and "3/4 filled" in text and "1 waiting" in text
    assert "▓" in text
    assert "Old one" not in text


def _shift_with_roster(engine, *, starts_in: timedelta) -> tuple[int, list[int]]:
    from sqlalchemy.orm import Session

    with Session(bind=engine) as session:
        shift = make_shift(session, starts_at=T0 + starts_in, capacity=2, title="Phonebank")
        ids = []
        for i, (name, status) in enumerate(
            [("Maria", "committed"), ("Dev", "confirmed"), ("Sam", "waitlisted")]
        ):
            v = make_volunteer(session, first_name=name, phone=f"+1617555{2000 + i:04d}")
            c = Commitment(
                volunteer_id=v.id,
                shift_id=shift.id,
                status=CommitmentStatus(status),
                waitlist_position=1 if status == "waitlisted" else None,
                committed_at=T0,
            )
            session.add(c)
            session.flush()
            ids.append(c.id)
        shift.committed_count = 2
        session.commit()
        return shift.id, ids


def test_roster_shows_names_masked_numbers_and_waitlist(slack: SlackHarness, engine):
    shift_id, _ = _shift_with_roster(engine, starts_in=timedelta(days=1))
    answer = slack.ask(f"roster {shift_id}")
    text = blocks_text(answer)
    assert "Maria" in text and "Dev" in text and "Sam" in text
    assert "***-***-2000" in text and "617" not in text.replace("(617)", "")
    assert "2 coming (1 confirmed), 1 waitlisted" in text
    assert "waitlist #1" in text
    assert answer.params["response_type"] == "ephemeral"
    assert "Attended" not in text  # no attendance before the shift starts


def test_the_roster_gives_each_waitlisted_volunteer_the_place_they_were_told(
    slack: SlackHarness, engine
):
    """Ticket 1 opted out: promotion passes them over, so ticket 2 is first in line, as the
    volunteer's own MY says, and the roster says so too."""
    from sqlalchemy.orm import Session

    shift_id, _ = _shift_with_roster(engine, starts_in=timedelta(days=1))
    with Session(bind=engine) as session:
        sam = session.scalars(select(Volunteer).where(Volunteer.first_name == "Sam")).one()
        sam.status = VolunteerStatus.OPTED_OUT
        lee = make_volunteer(session, first_name="Lee", phone="+16175552009")
        session.add(
            Commitment(volunteer_id=lee.id, shift_id=shift_id, committed_at=T0,
                       status=CommitmentStatus.WAITLISTED, waitlist_position=2)
        )  # fmt: skip
        session.commit()
    text = blocks_text(slack.ask(f"roster {shift_id}"))
    lee_line = next(line for line in text.splitlines() if "Lee" in line)
    assert "waitlist #1" in lee_line, text
    assert "waitlist #2" not in text


def test_roster_of_an_unknown_shift(slack: SlackHarness):
    assert "There is no shift 999." in blocks_text(slack.ask("roster 999"))


def test_attendance_buttons_after_the_shift(slack: SlackHarness, engine, clock):
    shift_id, ids = _shift_with_roster(engine, starts_in=timedelta(hours=-1))
    text = blocks_text(slack.ask(f"roster {shift_id}"))
    assert "Attended" in text and "No-show" in text
    name = slack.click("muster.roster.attended", str(ids[0]))
    assert "Maria attended" in blocks_text(slack.answer(name))
    name = slack.click("muster.roster.no_show", str(ids[1]))
    assert "Dev was a no-show" in blocks_text(slack.answer(name))
    name = slack.click("muster.roster.attended", str(ids[2]))  # waitlisted: not on the roster
    assert "no longer on this shift" in blocks_text(slack.answer(name))
    with engine.connect() as conn:
        statuses = dict(conn.execute(select(Commitment.id, Commitment.status)).all())
    assert statuses[ids[0]] == "attended" and statuses[ids[1]] == "no_show"
    assert statuses[ids[2]] == "waitlisted"
    assert (ORGANIZER, "roster.attended") in audit_actions(engine)
    # a stranger cannot press the buttons either
    name = slack.click("muster.roster.no_show", str(ids[0]), user=STRANGER)
    assert "only organizers" in blocks_text(slack.answer(name))


def test_shift_add_without_arguments_opens_the_modal(slack: SlackHarness):
    slack.command("shift add")
    call = slack.slack.wait_for("views.open")[0]
    view = call.json_param("view")
    assert call.params["trigger_id"].startswith("trig-")
    assert view["callback_id"] == "muster.shift_add"
    block_ids = [b["block_id"] for b in view["blocks"]]
    assert block_ids == [
        "title",
        "date",
        "start_time",
        "end_time",
        "capacity",
        "location",
        "zip",
        "tags",
    ]


def _shift_state(**overrides):
    state = {
        "title": {"type": "plain_text_input", "value": "Canvass Dorchester"},
        "date": {"type": "datepicker", "selected_date": "2026-11-21"},
        "start_time": {"type": "timepicker", "selected_time": "10:00"},
        "end_time": {"type": "timepicker", "selected_time": "13:00"},
        "capacity": {"type": "plain_text_input", "value": "8"},
        "location": {"type": "plain_text_input", "value": None},
        "zip": {"type": "plain_text_input", "value": "02124"},
        "tags": {"type": "plain_text_input", "value": "canvass"},
    }
    for key, value in overrides.items():
        state[key] = {**state[key], **value}
    return state


def test_modal_with_invalid_fields_answers_errors_in_the_modal(slack: SlackHarness, engine):
    state = _shift_state(
        title={"value": ""},
        capacity={"value": "0"},
        zip={"value": "99999"},
        end_time={"selected_time": "09:00"},
    )
    response = slack.submit("muster.shift_add", state)
    assert response.status_code == 200
    body = response.json()
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {"title", "capacity", "zip", "end_time"}
    assert "1 to 10,000" in body["errors"]["capacity"]
    # a valid one afterwards: its answer is the only message, so the invalid one sent none
    slack.submit("muster.shift_add", _shift_state())
    (only,) = slack.slack.wait_for("chat.postEphemeral")
    assert "Canvass Dorchester" in blocks_text(only)
    assert count(engine, Shift) == 1


def test_modal_submission_creates_the_shift(slack: SlackHarness, engine):
    response = slack.submit("muster.shift_add", _shift_state())
    assert response.status_code == 200 and response.content in (b"", b"null")
    call = slack.slack.wait_for("chat.postEphemeral")[0]
    assert call.params["user"] == ORGANIZER
    assert "Canvass Dorchester" in blocks_text(call)
    assert count(engine, Shift) == 1
