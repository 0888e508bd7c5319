"""The patch-through caller as a long-running part (TWILIO_VOICE=on): `muster worker`'s (and
`muster serve`'s embedded parts') loop over `handlers.patch_calls.place_due`. A volunteer who
replied 1 is waiting with the phone in hand, so the loop looks every half second."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from handlers.config import OrgConfig
from handlers.patch_calls import place_due
from handlers.ports import Clock, VoiceCaller

log = logging.getLogger(__name__)

IDLE_SECONDS = 0.5


def run_caller(
    stop: threading.Event,
    *,
    uow: Callable[[], Any],
    clock: Clock,
    org: OrgConfig,
    caller: VoiceCaller,
    urls: Callable[[int], tuple[str, str]],
    worker: str,
    idle_seconds: float = IDLE_SECONDS,
) -> None:
    log.info("patch-through caller started")
    failures = 0
    while not stop.is_set():
        try:
            placed = place_due(uow, caller, clock, org, urls=urls, worker=worker)
            failures = 0
        except Exception:
            failures += 1
            log.exception("patch-through caller: pass failed (%d in a row); retrying", failures)
            placed = 0
        if not placed:
            stop.wait(min(idle_seconds * 2**failures, 30.0))
    log.info("patch-through caller stopped")
