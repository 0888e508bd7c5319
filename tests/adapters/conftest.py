"""Fixtures for the adapter tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from tests.adapters.slack_harness import SlackHarness, slack_harness
from tests.builders import make_volunteer


@pytest.fixture
def slack(db_url, engine, clock) -> Iterator[SlackHarness]:
    """The app behind real `/slack/events` requests, with the fake Slack Web API around it."""
    with slack_harness(db_url, engine, clock) as harness:
        yield harness


@pytest.fixture
def volunteers(engine) -> int:
    """The broadcast tests' audience: three canvassers and one who opted out (the 3 returned)."""
    with Session(bind=engine) as session:
        for name in ("Maria", "Dev", "Sam"):
            make_volunteer(session, first_name=name, tags=["canvass"])
        make_volunteer(session, first_name="Gone", status="opted_out", tags=["canvass"])
        session.commit()
    return 3
