"""`/muster shift add ... action_network_event=ID` through the real Slack route: the shift's
sign-ups are then recorded on that Action Network event; a malformed id is refused."""

from __future__ import annotations

from sqlalchemy import select

from storage.integrations import Integration, IntegrationWrite, WriteStatus
from storage.models import ProcessedEvent, Shift
from tests.adapters.slack_harness import SlackHarness, blocks_text
from tests.conftest import T0

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


def test_sync_shows_the_last_webhook_and_the_last_write_error(slack: SlackHarness) -> None:
    with slack.container.uow() as uow:
        uow.session.add(ProcessedEvent(key="an.webhook:abc", at=T0))
        error = "Action Network answered 401: API Key invalid"
        row = IntegrationWrite(
            integration=Integration.ACTION_NETWORK,
            kind="action_network.person",
            payload={},
            dedupe_key="an.person:1:0",
            status=WriteStatus.FAILED,
            attempts=1,
            next_attempt_at=T0,
            created_at=T0,
            last_error=error,
        )
        uow.session.add(row)
        uow.commit()
    text = blocks_text(slack.ask("sync"))
    assert "Action Network: never ran" in text
    assert "1 failed" in text
    assert "last write-back error: Action Network answered 401: API Key invalid" in text
    assert "last webhook: Mon Nov 16, 10:00 EST" in text
