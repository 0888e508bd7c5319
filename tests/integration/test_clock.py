"""The clock itself: APScheduler with its jobs in the database, one leader at a time.

Leadership is driven tick by tick (`Timetable.step`) with a fixed clock for the SQLite lease's
expiry. Where the scheduler's own timing is under test it runs for real, with run times a couple
of seconds ahead; every wait is bounded and polls the database.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select, text

from bot.bootstrap import Container, bootstrap
from bot.parts import timetable_for
from handlers.ports import Clock, FixedClock, SystemClock
from handlers.schedules import cancel_schedule, edit_schedule, schedule_broadcast
from scheduler.clock import Timetable
from scheduler.clock_schedules import schedule_job_id
from storage.db import make_engine
from storage.models import Broadcast, BroadcastStatus, Delivery, Schedule, ScheduleStatus, SlackPost
from tests.builders import make_volunteer
from tests.conftest import ON_POSTGRES, T0, make_settings
from tests.sending import wait_until

NY = "America/New_York"


@pytest.fixture
def clocks(db_url: str) -> Iterator[Callable[..., Timetable]]:
    """Make clocks as separate processes would have them: own engine, own container."""
    made: list[tuple[Timetable, Engine]] = []

    def make(clock: Clock | None = None, **settings: object) -> Timetable:
        engine = make_engine(db_url)
        container = bootstrap(
            make_settings(db_url, clock_lease_seconds=5, **settings),
            clock=clock or SystemClock(),
            engine=engine,
        )
        timetable = timetable_for(container)
        timetable.container = container  # type: ignore[attr-defined]  # (the tests' way in)
        made.append((timetable, engine))
        return timetable

    yield make
    for timetable, engine in made:
        timetable.close()
        engine.dispose()


def _add_volunteers(container: Container, n: int) -> None:
    with container.uow() as uow:
        for _ in range(n):
            make_volunteer(uow.session)
        uow.commit()


def _schedule(container: Container, *, run_at: datetime | None = None, cron: str | None = None,
              now: datetime | None = None) -> int:  # fmt: skip
    with container.uow() as uow:
        schedule = schedule_broadcast(
            uow.session,
            body="Rally at the State House at 6!",
            audience="all",
            created_by="U0ORGANIZER",
            now=now or datetime.now(UTC),
            run_at=run_at,
            cron=cron,
            timezone=NY,
        )
        uow.commit()
        return schedule.id


def _count(container: Container, model, *where) -> int:
    with container.read_uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _run(timetable: Timetable) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=timetable.run, args=(stop,), daemon=True)
    thread.start()
    return thread, stop


def _stored_job_ids(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(text("SELECT id FROM apscheduler_jobs"))]


# --- Leadership ------------------------------------------------------------------------------


def test_one_clock_leads_and_a_standby_takes_over_when_it_dies(clocks) -> None:
    lease_clock = FixedClock(T0)
    first, second = clocks(lease_clock), clocks(lease_clock)
    assert first.step() is True
    assert second.step() is False
    assert first.step() is True  # renewing keeps it

    first.abandon()  # killed: no clean shutdown, no hand-over
    if ON_POSTGRES:
        # The server drops a dead session's advisory lock as soon as it sees it gone.
        wait_until(second.step, timeout=10)
    else:
        assert second.step() is False  # the dead leader's lease still runs
        lease_clock.advance(timedelta(seconds=6))  # CLOCK_LEASE_SECONDS=5 later
        assert second.step() is True
    assert second.leading and not first.leading


def test_a_clean_shutdown_hands_over_at_once(clocks) -> None:
    lease_clock = FixedClock(T0)
    first, second = clocks(lease_clock), clocks(lease_clock)
    assert first.step() and not second.step()
    first.close()
    assert second.step() is True  # no waiting for an expiry


@pytest.mark.skipif(ON_POSTGRES, reason="the lease row is SQLite's leadership")
def test_a_stalled_leader_that_lost_its_lease_stops(clocks) -> None:
    lease_clock = FixedClock(T0)
    first, second = clocks(lease_clock), clocks(lease_clock)
    assert first.step()
    lease_clock.advance(timedelta(seconds=6))  # the leader stalled past its lease
    assert second.step() is True
    assert first.step() is False and not first.leading


@pytest.mark.skipif(not ON_POSTGRES, reason="the advisory lock is PostgreSQL's leadership")
def test_a_leader_whose_lock_session_was_killed_stops(clocks, engine: Engine) -> None:
    first, second = clocks(), clocks()
    assert first.step()
    with engine.connect() as conn:  # e.g. the server restarted, or an admin killed the session
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks "
                "WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()"
            )
        )
    wait_until(lambda: not first.step(), timeout=10)
    wait_until(second.step, timeout=10)


# --- The scheduler, for real -------------------------------------------------------------------


def test_two_clocks_fire_a_schedule_once(clocks) -> None:
    first, second = clocks(), clocks()
    _add_volunteers(first.container, 4)
    threads = [_run(first), _run(second)]
    try:
        wait_until(lambda: first.leading or second.leading)
        run_at = datetime.now(UTC) + timedelta(seconds=3)
        sid = _schedule(first.container, run_at=run_at)
        wait_until(lambda: _count(first.container, Broadcast) > 0)
        time.sleep(1.5)  # the other clock, and a second look by the leader, add nothing
    finally:
        for thread, stop in threads:
            stop.set()
            thread.join(timeout=30)
    assert first.leading is False and second.leading is False  # both stopped cleanly
    with first.container.read_uow() as uow:
        broadcast = uow.session.scalars(select(Broadcast)).one()
        assert (broadcast.schedule_id, broadcast.run_at) == (sid, run_at)
        assert broadcast.recipient_count == 4
        # Fired on time: well inside the grace window (the figure is in bench/clock.py).
        assert broadcast.created_at >= run_at
    assert _count(first.container, Delivery) == 4


def test_a_job_survives_a_restart_and_fires_once(clocks, engine: Engine) -> None:
    before = clocks()
    _add_volunteers(before.container, 2)
    assert before.step()
    run_at = datetime.now(UTC) + timedelta(seconds=3)
    sid = _schedule(before.container, run_at=run_at)
    assert before.sync_schedules() == 1
    before.close()  # the clock restarts before the broadcast is due
    assert schedule_job_id(sid) in _stored_job_ids(engine)

    after = clocks()
    assert after.step()
    assert after.sync_schedules() == 0  # the stored job is the one it runs, not a new copy
    job_id = schedule_job_id(sid)
    job = after.scheduler.get_job(job_id)
    assert job is not None and job.next_run_time == run_at
    wait_until(lambda: _count(after.container, Broadcast) > 0)
    wait_until(lambda: job_id not in _stored_job_ids(engine))
    after.step()
    assert _count(after.container, Broadcast) == 1
    assert _count(after.container, Delivery) == 2
    with after.container.read_uow() as uow:
        assert uow.session.get(Schedule, sid).status == ScheduleStatus.DONE


def test_a_run_missed_while_the_clock_was_down_goes_when_it_is_back(clocks) -> None:
    before = clocks()
    _add_volunteers(before.container, 1)
    assert before.step()
    run_at = datetime.now(UTC) + timedelta(seconds=1)
    _schedule(before.container, run_at=run_at)
    before.sync_schedules()
    before.close()
    time.sleep(max(0.0, (run_at - datetime.now(UTC)).total_seconds()) + 1.0)  # down at run_at

    after = clocks()
    assert after.step()
    wait_until(lambda: _count(after.container, Broadcast) > 0)
    with after.container.read_uow() as uow:
        broadcast = uow.session.scalars(select(Broadcast)).one()
        assert broadcast.status == BroadcastStatus.QUEUED and broadcast.run_at == run_at


def test_a_firing_that_fails_is_tried_again_from_its_row_and_goes_once(
    clocks, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database drops the firing's transaction; RETRY_SECONDS later the clock reads every
    schedule row again (this one was planned long ago, so the usual look at recent changes would
    never see it again), registers it anew, and the run goes, once, inside its grace window."""
    from sqlalchemy import update
    from sqlalchemy.exc import OperationalError

    from scheduler import clock as clock_module
    from scheduler import jobs

    monkeypatch.setattr(clock_module, "RETRY_SECONDS", 1.0)
    real_fire = jobs.fire_schedule
    attempts: list[int] = []

    def fire_once_the_database_is_back(*args, **kwargs):
        attempts.append(kwargs["schedule_id"])
        if len(attempts) == 1:
            raise OperationalError("INSERT ...", {}, Exception("server closed the connection"))
        return real_fire(*args, **kwargs)

    monkeypatch.setattr(jobs, "fire_schedule", fire_once_the_database_is_back)
    timetable = clocks()
    container = timetable.container
    _add_volunteers(container, 3)
    run_at = datetime.now(UTC) + timedelta(seconds=4)
    sid = _schedule(container, run_at=run_at)
    with container.uow() as uow:  # planned two minutes ago
        uow.session.execute(
            update(Schedule)
            .where(Schedule.id == sid)
            .values(updated_at=datetime.now(UTC) - timedelta(minutes=2))
        )
        uow.commit()
    _schedule(container, cron="0 9 * * MON")  # a recent change: where the usual look starts
    thread, stop = _run(timetable)
    try:
        wait_until(lambda: _count(container, Broadcast) > 0, timeout=30)
        time.sleep(1.5)  # no third attempt, no second broadcast
    finally:
        stop.set()
        thread.join(timeout=30)
    assert attempts == [sid, sid]
    with container.read_uow() as uow:
        broadcast = uow.session.scalars(select(Broadcast)).one()
        assert broadcast.run_at == run_at and broadcast.status == BroadcastStatus.QUEUED
        assert uow.session.get(Schedule, sid).status == ScheduleStatus.DONE
    assert _count(container, Delivery) == 3


def test_a_run_two_days_old_is_reported_when_the_clock_comes_back(clocks) -> None:
    timetable = clocks()
    _add_volunteers(timetable.container, 1)
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    sid = _schedule(
        timetable.container,
        run_at=two_days_ago + timedelta(minutes=1),
        now=two_days_ago,  # planned back then; the clock was down ever since
    )
    assert timetable.step()
    wait_until(lambda: _count(timetable.container, SlackPost) > 0)
    with timetable.container.read_uow() as uow:
        broadcast = uow.session.scalars(select(Broadcast)).one()
        post = uow.session.scalars(select(SlackPost)).one()
        assert broadcast.status == BroadcastStatus.MISSED and broadcast.schedule_id == sid
        assert post.kind == "alert" and "NOT sent" in post.text
    assert _count(timetable.container, Delivery) == 0


def test_new_changed_and_cancelled_schedules_are_picked_up_within_seconds(clocks) -> None:
    timetable = clocks()
    thread, stop = _run(timetable)
    try:
        wait_until(lambda: timetable.leading)
        now = datetime.now(UTC)
        weekly = _schedule(timetable.container, cron="0 9 * * MON")
        once = _schedule(timetable.container, run_at=now + timedelta(hours=5))

        def job(sid: int):
            return timetable.scheduler.get_job(schedule_job_id(sid)) if timetable.leading else None

        wait_until(lambda: job(weekly) is not None and job(once) is not None, timeout=8)
        with timetable.container.uow() as uow:
            edit_schedule(uow.session, schedule_id=weekly, user_id="U0ORGANIZER",
                          now=datetime.now(UTC), cron="0 18 * * FRI")  # fmt: skip
            cancel_schedule(uow.session, schedule_id=once, user_id="U0ORGANIZER",
                            now=datetime.now(UTC))  # fmt: skip
            uow.commit()
        wait_until(lambda: job(once) is None, timeout=8)
        wait_until(
            lambda: (
                job(weekly)
                .next_run_time.astimezone(job(weekly).trigger.timezone)
                .strftime("%a %H:%M")
                == "Fri 18:00"
            ),
            timeout=8,
        )
    finally:
        stop.set()
        thread.join(timeout=30)


def test_the_clocks_cron_jobs_run_at_local_time_across_daylight_saving(clocks) -> None:
    timetable = clocks(FixedClock(datetime(2026, 10, 20, 12, tzinfo=UTC)))
    sid = _schedule(timetable.container, cron="0 9 * * MON", now=datetime(2026, 10, 20, tzinfo=UTC))
    assert timetable.step()
    trigger = timetable.scheduler.get_job(schedule_job_id(sid)).trigger
    runs, previous = [], datetime(2026, 10, 27, tzinfo=UTC)
    for _ in range(2):
        previous = trigger.get_next_fire_time(None, previous + timedelta(seconds=1))
        runs.append(previous.astimezone(UTC))
    assert runs == [datetime(2026, 11, 2, 14, tzinfo=UTC), datetime(2026, 11, 9, 14, tzinfo=UTC)]
