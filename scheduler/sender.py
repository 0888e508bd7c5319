"""The sender: drains the outbox to Twilio or the console (filled in by the sending issue)."""

from __future__ import annotations

import logging
import threading

from bot.bootstrap import Container

log = logging.getLogger(__name__)


def run_sender(container: Container, stop: threading.Event) -> None:
    log.info("sender started")
    while not stop.wait(1.0):
        pass
    log.info("sender stopped")
