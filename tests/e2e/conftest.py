"""What the tests of real `muster` processes share: the fake Twilio they send to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.twilio_api import FakeTwilio


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    """The fake Twilio in this process, answering each message after 50 ms."""
    with FakeTwilio(latency=0.05) as server:
        yield server
