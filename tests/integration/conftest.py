"""Fixtures for the integration tests: the fake Twilio and a container that sends to it, for the
sender tests (test_sender_*.py) and the broadcast-fields tests. A module that needs another
`fake` or `app` defines its own, which takes precedence."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from bot.bootstrap import Container
from handlers.ports import FixedClock
from tests.fakes.twilio_api import FakeTwilio
from tests.sending import twilio_container


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


@pytest.fixture
def app(db_url: str, engine: Engine, clock: FixedClock, fake: FakeTwilio) -> Container:
    return twilio_container(db_url, engine, clock, fake)
