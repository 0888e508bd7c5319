"""The clock's leader, and only it, drains the Action Network writes (every 10 s) when
ACTION_NETWORK_API_KEY is set; without it there is no such job."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from bot.bootstrap import bootstrap
from bot.parts import timetable_for
from handlers.action_network_writes import enqueue_person
from handlers.consent import record_opt_in
from handlers.ports import SystemClock
from scheduler.clock import ACTION_NETWORK_WRITES_JOB_ID, Timetable
from storage.db import make_engine
from tests.builders import make_volunteer
from tests.conftest import make_settings
from tests.fakes.action_network_api import FakeActionNetwork
from tests.sending import wait_until


@pytest.fixture
def fake() -> Iterator[FakeActionNetwork]:
    with FakeActionNetwork() as server:
        yield server


def test_only_the_leader_drains_action_network_writes(db_url: str, fake: FakeActionNetwork) -> None:
    made: list[Timetable] = []
    engines = []
    try:
        for with_key in (True, True, False):
            engine = make_engine(db_url)
            engines.append(engine)
            keys = {k.lower(): v for k, v in fake.environment().items()} if with_key else {}
            container = bootstrap(
                make_settings(db_url, clock_lease_seconds=5, **keys),
                clock=SystemClock(),
                engine=engine,
            )
            made.append(timetable_for(container))
        first, second, keyless = made
        with first.uow() as uow:
            v = make_volunteer(uow.session)
            now = first.clock.now()
            record_opt_in(uow.session, phone=v.phone, volunteer=v, keyword="JOIN", channel="sms",
                          now=now)  # fmt: skip
            enqueue_person(uow.session, volunteer=v, now=now, cause="joined")
            uow.commit()
        assert first.step() is True and second.step() is False
        wait_until(lambda: len(fake.signups) >= 1, timeout=10)
        assert first.scheduler is not None and second.scheduler is None
        job = first.scheduler.get_job(ACTION_NETWORK_WRITES_JOB_ID)
        assert job.trigger.interval == timedelta(seconds=10)
        assert len(fake.signups) == 1
        assert keyless.action_network is None
    finally:
        for timetable in made:
            timetable.close()
        for engine in engines:
            engine.dispose()
