"""Scheduled and recurring broadcasts: the organizers' rows, and firing them exactly once.

The job functions are called directly with a fixed clock (no scheduler, no sleeping): what
APScheduler adds on top is tested in test_clock.py.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from handlers.config import OrgConfig
from handlers.errors import InvalidInput, UnknownBroadcast, UnknownShift, UsageError
from handlers.ports import FixedClock
from handlers.schedule_times import parse_run_at
from handlers.schedules import cancel_schedule, edit_schedule, list_schedules, schedule_broadcast
from scheduler.jobs import digest_text, ensure_digest_schedule, fire_schedule
from storage.db import make_engine, make_session_factory
from storage.models import (
    AuditEntry,
    Broadcast,
    BroadcastStatus,
    Delivery,
    Schedule,
    ScheduleStatus,
    SlackPost,
)
from storage.uow import SqlAlchemyUnitOfWork
from tests.builders import make_shift, make_volunteer
from tests.conftest import T0

NY = "America/New_York"
ORG = OrgConfig(org_name="Mass Forward", default_timezone=NY)


def _volunteers(uow: SqlAlchemyUnitOfWork, n: int = 3, **fields) -> None:
    with uow:
        for _ in range(n):
            make_volunteer(uow.session, **fields)
        uow.commit()


def _schedule(uow: SqlAlchemyUnitOfWork, now: datetime, **fields) -> int:
    values = {"body": "Rally at the State House!", "audience": "all", "timezone": NY}
    values.update(fields)
    with uow:
        schedule = schedule_broadcast(uow.session, created_by="U0ORGANIZER", now=now, **values)
        uow.commit()
        return schedule.id


def _count(uow: SqlAlchemyUnitOfWork, model, *where) -> int:
    with uow:
        return uow.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


# --- The organizers' side ------------------------------------------------------------------


def test_schedule_list_edit_cancel_are_audited(uow: SqlAlchemyUnitOfWork) -> None:
    once = _schedule(uow, T0, run_at=parse_run_at("2026-11-19 18:00", timezone=NY))
    weekly = _schedule(uow, T0, cron="0 9 * * 1", body="This week's shifts: text SHIFTS")
    with uow:
        views = list_schedules(uow.session, now=T0)
    assert [v.id for v in views] == [once, weekly]  # Thu 18:00 before Mon 9:00 next week
    assert views[0].next_run_local().strftime("%a %b %d %H:%M") == "Thu Nov 19 18:00"
    assert views[1].recurring and views[1].next_run_at == datetime(2026, 11, 23, 14, tzinfo=UTC)

    with uow:
        edit_schedule(
            uow.session,
            schedule_id=once,
            user_id="U0ORGANIZER",
            now=T0,
            body="Rally moved inside: Room 428",
            run_at=parse_run_at("2026-11-19 17:30", timezone=NY),
        )
        cancel_schedule(uow.session, schedule_id=weekly, user_id="U0ORGANIZER", now=T0)
        uow.commit()
    with uow:
        views = list_schedules(uow.session, now=T0)
        actions = uow.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert [(v.id, v.body) for v in views] == [(once, "Rally moved inside: Room 428")]
    assert views[0].next_run_at == datetime(2026, 11, 19, 22, 30, tzinfo=UTC)
    assert actions == ["schedule.create", "schedule.create", "schedule.edit", "schedule.cancel"]


def test_bad_requests_get_a_clear_answer_and_change_nothing(uow: SqlAlchemyUnitOfWork) -> None:
    cases = [
        ({"run_at": T0 - timedelta(minutes=1)}, UsageError, "already passed"),
        ({"run_at": T0 + timedelta(days=400)}, UsageError, "a year ahead"),
        ({}, UsageError, "either at="),
        ({"run_at": T0 + timedelta(days=1), "cron": "0 9 * * 1"}, UsageError, "either at="),
        ({"cron": "* * * * *"}, UsageError, "once an hour"),
        ({"cron": "0 9 * * 1", "audience": "tag:"}, UsageError, "audience"),
        ({"cron": "0 9 * * 1", "audience": "shift:999"}, UnknownShift, "no shift 999"),
        ({"cron": "0 9 * * 1", "body": "   "}, InvalidInput, "empty"),
        ({"cron": "0 9 * * 1", "timezone": "Boston"}, UsageError, "IANA"),
    ]
    for fields, error, words in cases:
        with pytest.raises(error, match=words):
            _schedule(uow, T0, **fields)
    assert _count(uow, Schedule) == 0
    assert _count(uow, AuditEntry) == 0


def test_unknown_and_finished_schedules_are_named(uow: SqlAlchemyUnitOfWork) -> None:
    with uow, pytest.raises(UnknownBroadcast, match="no scheduled broadcast 42"):
        cancel_schedule(uow.session, schedule_id=42, user_id="U0ORGANIZER", now=T0)
    sid = _schedule(uow, T0, run_at=T0 + timedelta(hours=1))
    for _ in range(2):  # cancelling twice answers the same
        with uow:
            cancel_schedule(uow.session, schedule_id=sid, user_id="U0ORGANIZER", now=T0)
            uow.commit()
    with uow, pytest.raises(UsageError, match="was cancelled"):
        edit_schedule(uow.session, schedule_id=sid, user_id="U0ORGANIZER", now=T0, body="x")
    assert _count(uow, AuditEntry, AuditEntry.action == "schedule.cancel") == 1


# --- Firing --------------------------------------------------------------------------------


def test_a_one_off_fires_once_with_its_deliveries(uow: SqlAlchemyUnitOfWork) -> None:
    _volunteers(uow, 3)
    run_at = T0 + timedelta(hours=3)
    sid = _schedule(uow, T0, run_at=run_at)
    clock = FixedClock(run_at - timedelta(seconds=1))
    assert fire_schedule(uow, clock, schedule_id=sid, org=ORG).sent_run_at is None  # not yet

    clock.set(run_at + timedelta(seconds=1))
    outcome = fire_schedule(uow, clock, schedule_id=sid, org=ORG)
    assert outcome.sent_run_at == run_at and outcome.recipients == 3
    again = fire_schedule(uow, clock.advance(60) and clock, schedule_id=sid, org=ORG)
    assert again.sent_run_at is None
    with uow:
        broadcast = uow.session.scalars(select(Broadcast)).one()
        schedule = uow.session.get(Schedule, sid)
        assert (broadcast.schedule_id, broadcast.run_at) == (sid, run_at)
        assert broadcast.status == BroadcastStatus.QUEUED and broadcast.recipient_count == 3
        assert broadcast.created_by == "U0ORGANIZER"
        assert schedule.status == ScheduleStatus.DONE
        broadcast_id = broadcast.id
    assert _count(uow, Delivery, Delivery.broadcast_id == broadcast_id) == 3


def test_five_minutes_late_still_goes(uow: SqlAlchemyUnitOfWork) -> None:
    _volunteers(uow, 2)
    run_at = T0 + timedelta(hours=3)
    sid = _schedule(uow, T0, run_at=run_at)
    clock = FixedClock(run_at + timedelta(minutes=5))  # the clock was down for a deploy
    outcome = fire_schedule(uow, clock, schedule_id=sid, org=ORG)
    assert outcome.sent_run_at == run_at and outcome.recipients == 2 and not outcome.missed
    assert _count(uow, SlackPost) == 0


def test_two_days_late_is_reported_not_sent(uow: SqlAlchemyUnitOfWork) -> None:
    _volunteers(uow, 2)
    run_at = T0 + timedelta(hours=3)
    sid = _schedule(uow, T0, run_at=run_at)
    clock = FixedClock(run_at + timedelta(days=2))
    outcome = fire_schedule(uow, clock, schedule_id=sid, org=ORG)
    assert outcome.sent_run_at is None and outcome.missed == [run_at]
    assert fire_schedule(uow, clock, schedule_id=sid, org=ORG).missed == []  # reported once
    with uow:
        broadcast = uow.session.scalars(select(Broadcast)).one()
        post = uow.session.scalars(select(SlackPost)).one()
        assert broadcast.status == BroadcastStatus.MISSED and broadcast.run_at == run_at
        assert uow.session.get(Schedule, sid).status == ScheduleStatus.DONE
        kind, text = post.kind, post.text
    assert _count(uow, Delivery) == 0
    assert kind == "alert"
    assert f"Scheduled broadcast {sid}" in text and "NOT sent" in text
    assert "Mon Nov 16 at 1:00 PM" in text and "2 days late" in text


def test_a_weekly_broadcast_keeps_9am_across_the_clock_change(uow: SqlAlchemyUnitOfWork) -> None:
    _volunteers(uow, 1)
    created = datetime(2026, 10, 20, 12, tzinfo=UTC)
    sid = _schedule(uow, created, cron="0 9 * * MON")
    clock = FixedClock(created)
    fired = []
    # Walk the clock every 30 minutes through three Mondays around Nov 1 (clocks fall back).
    while clock.now() < datetime(2026, 11, 10, tzinfo=UTC):
        clock.advance(timedelta(minutes=30))
        outcome = fire_schedule(uow, clock, schedule_id=sid, org=ORG)
        if outcome.sent_run_at:
            fired.append((outcome.sent_run_at, clock.now()))
    assert [run for run, _ in fired] == [
        datetime(2026, 10, 26, 13, tzinfo=UTC),  # 9:00 EDT
        datetime(2026, 11, 2, 14, tzinfo=UTC),  # 9:00 EST
        datetime(2026, 11, 9, 14, tzinfo=UTC),
    ]
    assert _count(uow, Broadcast) == 3


def test_a_recurring_schedule_after_an_outage_sends_the_current_run_and_reports_the_rest(
    uow: SqlAlchemyUnitOfWork,
) -> None:
    _volunteers(uow, 1)
    created = datetime(2026, 11, 1, 16, tzinfo=UTC)  # Sunday 11:00 Boston
    sid = _schedule(uow, created, cron="0 9 * * *")  # daily 9:00
    # Down from Nov 2 morning until 9:10 on Nov 5: runs of Nov 2, 3, 4 missed; Nov 5 on time.
    clock = FixedClock(datetime(2026, 11, 5, 14, 10, tzinfo=UTC))
    outcome = fire_schedule(uow, clock, schedule_id=sid, org=ORG)
    assert outcome.sent_run_at == datetime(2026, 11, 5, 14, tzinfo=UTC)
    assert len(outcome.missed) == 3
    with uow:
        statuses = uow.session.execute(
            select(Broadcast.run_at, Broadcast.status).order_by(Broadcast.run_at)
        ).all()
        text = uow.session.scalars(select(SlackPost.text)).one()
    assert statuses == [
        (datetime(2026, 11, 4, 14, tzinfo=UTC), BroadcastStatus.MISSED),
        (datetime(2026, 11, 5, 14, tzinfo=UTC), BroadcastStatus.QUEUED),
    ]
    assert "3 runs missed in all" in text


def test_editing_the_time_forgets_the_old_timetable(uow: SqlAlchemyUnitOfWork) -> None:
    _volunteers(uow, 1)
    sid = _schedule(uow, T0 - timedelta(days=3), cron="0 11 * * *")
    edited = T0 - timedelta(hours=1)  # 9:00 Boston: after the 11:00 run of two days ago
    with uow:
        edit_schedule(uow.session, schedule_id=sid, user_id="U0ORGANIZER", now=edited,
                      cron="0 8 * * *")  # fmt: skip
        uow.commit()
    # 10:00 Boston: the new 8:00 run has not come yet today, the old 11:00 runs do not count.
    outcome = fire_schedule(uow, FixedClock(T0), schedule_id=sid, org=ORG)
    assert outcome.sent_run_at is None and outcome.missed == []
    assert _count(uow, SlackPost) == 0


def test_a_cancelled_schedule_does_not_fire(uow: SqlAlchemyUnitOfWork) -> None:
    _volunteers(uow, 1)
    sid = _schedule(uow, T0, run_at=T0 + timedelta(hours=1))
    with uow:
        cancel_schedule(uow.session, schedule_id=sid, user_id="U0ORGANIZER", now=T0)
        uow.commit()
    outcome = fire_schedule(uow, FixedClock(T0 + timedelta(hours=1)), schedule_id=sid, org=ORG)
    assert outcome.sent_run_at is None
    assert _count(uow, Broadcast) == 0


def test_a_schedule_whose_shift_is_gone_alerts_the_organizers(uow: SqlAlchemyUnitOfWork) -> None:
    with uow:
        shift = make_shift(uow.session, starts_at=T0 + timedelta(days=3))
        uow.commit()
    sid = _schedule(uow, T0, run_at=T0 + timedelta(hours=1), audience=f"shift:{shift.id}")
    with uow:
        uow.session.delete(uow.session.get(type(shift), shift.id))
        uow.commit()
    outcome = fire_schedule(uow, FixedClock(T0 + timedelta(hours=1)), schedule_id=sid, org=ORG)
    assert outcome.problem and "no shift" in outcome.problem
    with uow:
        kind, text = uow.session.execute(select(SlackPost.kind, SlackPost.text)).one()
    assert kind == "alert" and "could not go" in text


def test_two_clocks_firing_at_once_make_one_broadcast(db_url: str, uow: SqlAlchemyUnitOfWork):
    """Belt and braces under leadership: even two concurrent firings insert one broadcast."""
    _volunteers(uow, 5)
    run_at = T0 + timedelta(hours=1)
    sid = _schedule(uow, T0, run_at=run_at)
    engines = [make_engine(db_url) for _ in range(2)]
    barrier = threading.Barrier(2)
    outcomes = []

    def fire(engine) -> None:
        one_uow = SqlAlchemyUnitOfWork(make_session_factory(engine))
        barrier.wait()
        outcomes.append(fire_schedule(one_uow, FixedClock(run_at), schedule_id=sid, org=ORG))

    threads = [threading.Thread(target=fire, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for e in engines:
        e.dispose()
    assert sorted(o.recipients for o in outcomes) == [0, 5]
    assert _count(uow, Broadcast) == 1
    assert _count(uow, Delivery) == 5


# --- The digest ----------------------------------------------------------------------------


def test_the_weekly_digest_goes_to_those_who_opted_in(uow: SqlAlchemyUnitOfWork) -> None:
    _volunteers(uow, 2, digest_opt_in=True)
    _volunteers(uow, 3)  # not opted in
    with uow:
        make_shift(uow.session, starts_at=T0 + timedelta(days=1), title="Phonebank")
        make_shift(uow.session, starts_at=T0 + timedelta(days=2), title="Canvass", capacity=2,
                   committed_count=2)  # full: not listed  # fmt: skip
        make_shift(uow.session, starts_at=T0 + timedelta(days=9), title="Next month")
        uow.commit()
    clock = FixedClock(T0 - timedelta(days=1))
    sid = ensure_digest_schedule(uow, clock, org=ORG)
    assert sid is not None
    assert ensure_digest_schedule(uow, clock, org=ORG) is None  # only ever created once
    with uow:
        text = digest_text(uow.session, now=T0, org=ORG)
    assert text is not None and "Phonebank, Tue Nov 17 at 10:00 AM" in text
    assert "Canvass" not in text and "Next month" not in text

    clock.set(datetime(2026, 11, 16, 15, 0, 30, tzinfo=UTC))  # Monday 10:00:30 Boston
    outcome = fire_schedule(uow, clock, schedule_id=sid, org=ORG)
    assert outcome.recipients == 2
    with uow:
        broadcast = uow.session.get(Broadcast, outcome.broadcast_id)
        assert broadcast.kind == "digest" and not broadcast.is_call_to_action
        kinds = set(uow.session.scalars(select(Delivery.kind)).all())
    assert kinds == {"digest"}
