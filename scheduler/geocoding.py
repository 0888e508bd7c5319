"""The address-lookup drain as a long-running part: `muster worker`'s (and `muster serve`'s
embedded parts') loop over `handlers.geocoding.drain_lookups` while GEOCODER is on."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from handlers.geocoding import Geocoder, drain_lookups
from handlers.ports import Clock

log = logging.getLogger(__name__)

IDLE_SECONDS = 2.0


def run_geocoder(
    stop: threading.Event,
    *,
    uow: Callable[[], Any],
    clock: Clock,
    geocoder: Geocoder,
    idle_seconds: float = IDLE_SECONDS,
) -> None:
    log.info("address lookups started")
    failures = 0
    while not stop.is_set():
        try:
            settled = drain_lookups(uow, geocoder, clock)
            failures = 0
        except Exception:
            failures += 1
            log.exception("address lookups: pass failed (%d in a row); retrying", failures)
            settled = 0
        if not settled:
            stop.wait(min(idle_seconds * 2**failures, 60.0))
    log.info("address lookups stopped")
