"""The Slack poster: delivers `slack_posts` rows to Slack (filled in by the Slack issue)."""

from __future__ import annotations

import logging
import threading

from bot.bootstrap import Container

log = logging.getLogger(__name__)


def run_slack_poster(container: Container, stop: threading.Event) -> None:
    if not container.settings.slack_enabled:
        return
    while not stop.wait(1.0):
        pass
