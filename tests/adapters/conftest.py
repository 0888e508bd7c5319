"""Fixtures for the adapter tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.adapters.slack_harness import SlackHarness, slack_harness


@pytest.fixture
def slack(db_url, engine, clock) -> Iterator[SlackHarness]:
    """The app behind real `/slack/events` requests, with the fake Slack Web API around it."""
    with slack_harness(db_url, engine, clock) as harness:
        yield harness
