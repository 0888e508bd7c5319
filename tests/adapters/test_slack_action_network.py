"""`/muster shift add ... action_network_event=ID` through the real Slack route: the shift's
sign-ups are then recorded on that Action Network event; a malformed id is refused."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import Shift
from tests.adapters.slack_harness import SlackHarness, blocks_text

EVENT = "8a625981-67a4-4457-8b55-2e30b267b2c2"


def test_shift_add_takes_an_action_network_event(slack: SlackHarness) -> None:
    text = blocks_text(
        slack.ask(
            'shift add title="Town hall" start="2026-11-25 18:00" end="2026-11-25 20:00" '
            f"capacity=40 action_network_event=https://actionnetwork.org/api/v2/events/{EVENT}"
        )
    )
    assert "Town hall" in text
    bad = blocks_text(
        slack.ask(
            'shift add title="X" start="2026-11-25 10:00" end="2026-11-25 12:00" capacity=10 '
            "action_network_event=town-hall"
        )
    )
    assert "the event's id on Action Network" in bad
    with slack.container.read_uow() as uow:
        (shift,) = uow.session.scalars(select(Shift)).all()
        assert shift.action_network_event_id == EVENT
