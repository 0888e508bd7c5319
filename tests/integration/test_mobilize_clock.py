"""The clock's leader, and only it, syncs Mobilize every 15 minutes and drains the write-backs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.bootstrap import bootstrap
from bot.parts import timetable_for
from handlers.ports import SystemClock
from scheduler.clock import MOBILIZE_SYNC_JOB_ID, MOBILIZE_WRITES_JOB_ID, Timetable
from storage.db import make_engine
from storage.integrations import SyncRun
from tests.conftest import T0, make_settings
from tests.fakes.mobilize_api import FakeMobilize
from tests.sending import wait_until


@pytest.fixture
def fake() -> Iterator[FakeMobilize]:
    with FakeMobilize(now=int(T0.timestamp())) as server:
        yield server


def test_only_the_leader_syncs_mobilize_every_15_minutes(db_url: str, fake: FakeMobilize) -> None:
    made: list[Timetable] = []
    engines = []
    try:
        for _ in range(2):
            engine = make_engine(db_url)
            engines.append(engine)
            container = bootstrap(
                make_settings(
                    db_url,
                    clock_lease_seconds=5,
                    mobilize_organization_id=str(fake.organization_id),
                    mobilize_api_url=fake.url,
                    mobilize_api_key=fake.api_key,
                ),
                clock=SystemClock(),
                engine=engine,
            )
            made.append(timetable_for(container))
        fake.add_event(
            title="Canvass",
            timeslots=[(int(T0.timestamp()) + 86_400, int(T0.timestamp()) + 90_000)],
        )
        first, second = made
        assert first.step() is True and second.step() is False

        def synced() -> int:
            with container.read_uow() as uow:
                return uow.session.scalar(select(func.count()).select_from(SyncRun)) or 0

        wait_until(lambda: synced() >= 1, timeout=10)
        assert first.scheduler is not None and second.scheduler is None
        job = first.scheduler.get_job(MOBILIZE_SYNC_JOB_ID)
        assert job.trigger.interval == timedelta(minutes=15)
        assert first.scheduler.get_job(MOBILIZE_WRITES_JOB_ID) is not None
        assert synced() == 1  # one run, by the leader
    finally:
        for timetable in made:
            timetable.close()
        for engine in engines:
            engine.dispose()
