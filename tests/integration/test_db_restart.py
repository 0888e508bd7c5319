"""A PostgreSQL restart under a running sender and clock: both carry on by themselves."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from bot.bootstrap import bootstrap
from handlers.ports import SystemClock
from handlers.results import OutboundSms
from handlers.sending import enqueue_sms
from storage.migrate import upgrade
from tests.builders import random_phone
from tests.conftest import ON_POSTGRES, make_settings
from tests.fakes.twilio_api import FakeTwilio
from tests.sending import RunningSender, wait_until

pytestmark = pytest.mark.skipif(
    not ON_POSTGRES, reason="stops and restarts a private PostgreSQL server: PostgreSQL pass only"
)


@pytest.fixture
def pg() -> Iterator[object]:
    from tests.soak.private_postgres import PrivatePostgres

    server = PrivatePostgres()
    server.start_fresh()
    upgrade(server.url)
    yield server
    server.destroy()


def _enqueue(container, n: int, tag: str) -> None:
    with container.uow() as uow:
        enqueue_sms(
            uow.session,
            [
                OutboundSms(
                    phone=random_phone(),
                    body=f"{tag} {i}",
                    kind="reply",
                    idempotency_key=f"{tag}{i}",
                )
                for i in range(n)
            ],
        )
        uow.commit()


def test_the_sender_and_the_clock_survive_a_postgresql_restart(pg) -> None:
    from bot.parts import timetable_for

    with FakeTwilio() as fake:
        settings = make_settings(
            pg.url,
            twilio_account_sid=fake.account_sid,
            twilio_auth_token=fake.auth_token,
            twilio_api_url=fake.url,
            twilio_from_number="+16175550100",
            quiet_hours="off",
        )
        container = bootstrap(settings, clock=SystemClock())
        timetable = timetable_for(container)
        stop_clock = threading.Event()
        clock_thread = threading.Thread(target=timetable.run, args=(stop_clock,), daemon=True)
        clock_thread.start()
        with RunningSender(container, rate_mps=10_000.0, concurrency=4) as running:
            _enqueue(container, 5, "before")
            fake.wait_for(5)
            wait_until(lambda: timetable.leading)

            pg.stop()
            time.sleep(2)  # the sender's claims and the clock's ticks fail meanwhile
            pg.start()

            _enqueue(container, 5, "after")
            fake.wait_for(10, timeout=60)
            wait_until(lambda: timetable.leading, timeout=60)
            assert running._thread.is_alive() and running.error is None
        stop_clock.set()
        clock_thread.join(30)
        assert not clock_thread.is_alive()
        bodies = sorted(m["Body"] for m in fake.sent())
        assert bodies == sorted(
            [f"before {i}" for i in range(5)] + [f"after {i}" for i in range(5)]
        )
        container.close()
