"""The clock: Muster's APScheduler timetable (filled in by the timetable issue)."""

from __future__ import annotations

import logging
import threading

from bot.bootstrap import Container

log = logging.getLogger(__name__)


def run_clock(container: Container, stop: threading.Event) -> None:
    log.info("clock started")
    while not stop.wait(1.0):
        pass
    log.info("clock stopped")
