"""Helpers for tests that run the real sender against the fake Twilio API."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from sqlalchemy import func, select

from bot.bootstrap import Container
from bot.parts import sender_for
from storage.models import Delivery, DeliveryStatus


def outstanding(container: Container) -> int:
    """Rows the sender would still act on now (due and pending, or claimed)."""
    now = container.clock.now()
    with container.read_uow() as uow:
        return uow.session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(
                (Delivery.status == DeliveryStatus.CLAIMED)
                | ((Delivery.status == DeliveryStatus.PENDING) & (Delivery.send_after <= now))
            )
        )


class RunningSender:
    """A Sender on its own thread and event loop, stopped (as SIGTERM would) on exit."""

    def __init__(self, container: Container, **options: object):
        self.sender = sender_for(container, **options)  # type: ignore[arg-type]
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self.sender.run(self.stop))
        except BaseException as exc:
            self.error = exc

    def __enter__(self) -> RunningSender:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join(60)
        assert not self._thread.is_alive(), "the sender did not stop"
        if self.error is not None:
            raise self.error


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def drain(container: Container, timeout: float = 30.0, **options: object) -> None:
    """Run a sender until nothing is due or in flight, then stop it."""
    with RunningSender(container, **options):
        wait_until(lambda: outstanding(container) == 0, timeout)
