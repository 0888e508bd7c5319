"""What the peer-service adapters share: a rate limiter, and reading an HTTP failure in words."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx

from handlers.peers import WriteOutcome


class RateLimiter:
    """At most `per_second` starts a second in this process: each start waits for its slot.

    The peer's limit is per API key; Muster reads and writes a peer from one place at a time (the
    clock's leader syncs and drains), so a limiter per process keeps the key within it.
    """

    def __init__(
        self,
        per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.interval = 1.0 / per_second
        self._clock, self._sleep = clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            self._sleep(start - now)


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def failure(response: httpx.Response, peer: str) -> WriteOutcome:
    """A refused write: transient (429, 5xx) or for good (any other 4xx), with the reason."""
    transient = response.status_code == 429 or response.status_code >= 500
    reason = _reason(response)
    return WriteOutcome(
        ok=False,
        error=f"{peer} answered {response.status_code}" + (f": {reason}" if reason else ""),
        transient=transient,
        retry_after=retry_after(response),
    )


def unreachable(exc: httpx.HTTPError, peer: str) -> WriteOutcome:
    return WriteOutcome(ok=False, error=f"{peer} could not be reached ({type(exc).__name__})",
                        transient=True)  # fmt: skip


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or ""
    if isinstance(body, dict):
        error = body.get("error") or body.get("errors") or body.get("detail")
        if error:
            return str(error)[:300]
    return response.reason_phrase or ""
