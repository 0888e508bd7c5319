"""Parity: a shift sign-up made in Slack (`/muster signup N PHONE`, through the real route) and
the same sign-up texted by the volunteer (`YES N`, through `receive_text`) leave the same rows:
the same commitment and seat count, the same waitlist when the shift is full."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.messages import Channel, InboundText
from handlers.volunteer.receive import receive_text
from storage.models import Commitment, Delivery, Shift
from tests.adapters.slack_harness import SlackHarness, blocks_text
from tests.builders import make_shift, make_volunteer
from tests.conftest import T0


def world(engine) -> tuple[dict[str, int], dict[str, str]]:
    """Two identical one-seat shifts and two volunteers for each path."""
    with Session(bind=engine) as session:
        shifts = {
            path: make_shift(session, starts_at=T0 + timedelta(days=3), capacity=1).id
            for path in ("sms", "slack")
        }
        phones = {
            f"{path}{i}": make_volunteer(session, first_name=f"{path}{i}").phone
            for path in ("sms", "slack")
            for i in (1, 2)
        }
        session.commit()
    return shifts, phones


def rows_of(engine, shift_id: int) -> tuple[int, list[tuple], set[str]]:
    with Session(bind=engine) as session:
        seats = session.get_one(Shift, shift_id).committed_count
        commitments = [
            (c.status, c.waitlist_position, c.committed_at, c.created_at, c.dropped_at)
            for c in session.scalars(
                select(Commitment).where(Commitment.shift_id == shift_id).order_by(Commitment.id)
            )
        ]
        channels = set(
            session.scalars(select(Commitment.channel).where(Commitment.shift_id == shift_id))
        )
    return seats, commitments, channels


def test_signup_through_slack_and_sms_leaves_the_same_rows(slack: SlackHarness, engine, clock):
    shifts, phones = world(engine)
    c = slack.container
    for i in (1, 2):
        text = InboundText(
            channel=Channel.SMS,
            phone=phones[f"sms{i}"],
            text=f"YES {shifts['sms']}",
            received_at=clock.now(),
            message_id=f"SM{i:032d}",
        )
        receive_text(text, uow=c.uow(), org=c.org, clock=clock)
    first = blocks_text(slack.ask(f"signup {shifts['slack']} {phones['slack1']}"))
    second = blocks_text(slack.ask(f"signup {shifts['slack']} {phones['slack2']}"))
    assert "is signed up for shift" in first and "will get a text" in first
    assert "is #1 on its waitlist" in second

    sms_seats, sms_rows, sms_channels = rows_of(engine, shifts["sms"])
    slack_seats, slack_rows, slack_channels = rows_of(engine, shifts["slack"])
    assert sms_seats == slack_seats == 1
    assert sms_rows == slack_rows
    assert [r[0] for r in slack_rows] == ["committed", "waitlisted"]
    assert (sms_channels, slack_channels) == ({"sms"}, {"slack"})

    # The Slack path tells the volunteer by text, in the SMS side's own words.
    with Session(bind=engine) as session:
        texts = session.scalars(select(Delivery).order_by(Delivery.id)).all()
    assert [t.to_phone for t in texts] == [phones["slack1"], phones["slack2"]]
    assert "You're signed up" in texts[0].body and f"DROP {shifts['slack']}" in texts[0].body
    assert "waitlist" in texts[1].body

    # Asking again changes nothing.
    again = blocks_text(slack.ask(f"signup {shifts['slack']} {phones['slack1']}"))
    assert "already on shift" in again
    assert rows_of(engine, shifts["slack"])[1] == slack_rows


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("", "Usage: /muster signup N PHONE"),
        ("12", "Usage: /muster signup N PHONE"),
        ("x (617) 555-0100", "Usage: /muster signup N PHONE"),
        ("1 12345", "not a valid phone number"),
        ("1 (617) 264-9999", "No volunteer has the number"),
    ],
)
def test_signup_errors(slack: SlackHarness, args, expected):
    assert expected in blocks_text(slack.ask(f"signup {args}"))
