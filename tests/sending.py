"""Helpers for tests that run the real sender against the fake Twilio API."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine, func, select

from bot.bootstrap import Container, bootstrap
from bot.parts import sender_for
from handlers.broadcasts import confirm_broadcast, create_draft
from handlers.ports import FixedClock
from storage.models import Delivery, DeliveryStatus, Volunteer
from tests.builders import make_volunteer
from tests.conftest import make_settings
from tests.fakes.twilio_api import FakeTwilio


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


FAST = {"rate_mps": 10_000.0, "concurrency": 8}


def twilio_container(db_url: str, engine: Engine, clock: FixedClock, fake: FakeTwilio) -> Container:
    settings = make_settings(
        db_url,
        twilio_account_sid=fake.account_sid,
        twilio_auth_token=fake.auth_token,
        twilio_api_url=fake.url,
        twilio_from_number="+16175550100",
    )
    return bootstrap(settings, clock=clock, engine=engine)


def broadcast(c: Container, n: int = 0, *, body: str = "Canvass Sat 10am. Reply YES", **kw) -> int:
    """n new Boston volunteers (plus any already there) and a confirmed broadcast to all."""
    with c.uow() as uow:
        for _ in range(n):
            make_volunteer(uow.session)
        draft = create_draft(uow.session, body=body, audience="all", created_by="U1",
                             now=c.clock.now(), **kw)  # fmt: skip
        confirm_broadcast(uow.session, broadcast_id=draft.id, user_id="U1", now=c.clock.now())
        uow.commit()
        return draft.id


def deliveries(c: Container) -> list[Delivery]:
    with c.read_uow() as uow:
        rows = list(uow.session.scalars(select(Delivery).order_by(Delivery.id)))
        uow.session.expunge_all()
        return rows


def volunteer(c: Container, phone: str) -> Volunteer:
    with c.read_uow() as uow:
        found = uow.session.scalar(select(Volunteer).where(Volunteer.phone == phone))
        uow.session.expunge_all()
        return found
