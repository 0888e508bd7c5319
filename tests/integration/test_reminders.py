"""The reminder ladder, walked with a fixed clock through restarts and a second clock."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from handlers.config import OrgConfig
from handlers.keywords import Intent, parse
from handlers.ports import FixedClock
from handlers.reminders import send_due_reminders
from handlers.segments import count_segments
from scheduler.jobs import run_reminder_sweep
from storage.db import make_engine, make_session_factory
from storage.models import (
    Commitment,
    CommitmentStatus,
    Delivery,
    Priority,
    Shift,
    SlackPost,
    VolunteerStatus,
)
from storage.uow import SqlAlchemyUnitOfWork
from tests.builders import AREA_CODES, make_shift, make_volunteer, random_phone
from tests.conftest import T0

ORG = OrgConfig(org_name="Mass Forward", default_timezone="America/New_York")
# Wednesday Nov 18, 6:00-8:00 PM in Boston.
START = datetime(2026, 11, 18, 23, 0, tzinfo=UTC)


def _uow(engine: Engine) -> SqlAlchemyUnitOfWork:
    return SqlAlchemyUnitOfWork(make_session_factory(engine))


def _commit(uow, *, shift_id: int, at: datetime, status=CommitmentStatus.COMMITTED, **vol) -> int:
    with uow:
        zone = vol.get("timezone", "America/New_York")
        volunteer = make_volunteer(uow.session, phone=random_phone(AREA_CODES[zone]), **vol)
        commitment = Commitment(
            volunteer_id=volunteer.id,
            shift_id=shift_id,
            status=status,
            created_at=at,
            committed_at=at,
        )
        uow.session.add(commitment)
        uow.session.flush()
        uow.commit()
        return commitment.id


def _shift(uow, **fields) -> int:
    with uow:
        shift = make_shift(uow.session, starts_at=fields.pop("starts_at", START), **fields)
        uow.commit()
        return shift.id


def _deliveries(uow) -> list[Delivery]:
    with uow:
        rows = uow.session.scalars(select(Delivery).order_by(Delivery.id)).all()
        uow.session.expunge_all()
        return list(rows)


def _sweep_concurrently(db_url: str, clock: FixedClock) -> None:
    """Two clocks in a hand-over both sweep the same minute."""
    engines = [make_engine(db_url) for _ in range(2)]
    barrier = threading.Barrier(2)

    def sweep(engine: Engine) -> None:
        barrier.wait()
        run_reminder_sweep(_uow(engine), clock, org=ORG)

    threads = [threading.Thread(target=sweep, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for e in engines:
        e.dispose()


def test_each_rung_goes_once_at_its_time_through_restarts_and_two_clocks(
    db_url: str, uow: SqlAlchemyUnitOfWork
) -> None:
    shift_id = _shift(uow)
    boston = _commit(uow, shift_id=shift_id, at=T0, first_name="Maria")
    chicago = _commit(uow, shift_id=shift_id, at=T0, first_name="Dee", timezone="America/Chicago")
    clock = FixedClock(T0)
    step = timedelta(minutes=20)
    engine = make_engine(db_url)
    n = 0
    while clock.now() < START + timedelta(hours=22):
        n += 1
        if n % 25 == 0:  # a restart: a new process, new engine and connections
            engine.dispose()
            engine = make_engine(db_url)
        if n % 40 == 0:
            _sweep_concurrently(db_url, clock)
        else:
            run_reminder_sweep(_uow(engine), clock, org=ORG)
        clock.advance(step)
    engine.dispose()

    sent = {(d.commitment_id, d.idempotency_key.rsplit(":", 1)[1]): d for d in _deliveries(uow)}
    assert sorted(sent) == sorted(
        (c, kind) for c in (boston, chicago) for kind in ("daybefore", "twohours", "checkin")
    )
    due = {
        # 11:00 the day before, each in the volunteer's own zone
        (boston, "daybefore"): datetime(2026, 11, 17, 16, 0, tzinfo=UTC),
        (chicago, "daybefore"): datetime(2026, 11, 17, 17, 0, tzinfo=UTC),
        (boston, "twohours"): START - timedelta(hours=2),
        (chicago, "twohours"): START - timedelta(hours=2),
        (boston, "checkin"): START + timedelta(hours=3),  # an hour after the end
        (chicago, "checkin"): START + timedelta(hours=3),
    }
    for key, delivery in sent.items():
        assert due[key] <= delivery.send_after < due[key] + step, key
        assert delivery.priority == int(Priority.REMINDER)
        assert delivery.kind == ("checkin" if key[1] == "checkin" else "reminder")
    assert sent[(boston, "daybefore")].deadline == START - timedelta(hours=2)
    assert sent[(boston, "twohours")].deadline == START
    assert sent[(boston, "checkin")].deadline == START + timedelta(hours=2 + 16)

    day_before = sent[(boston, "daybefore")].body
    assert day_before.startswith("Mass Forward: Hi Maria! Reminder: Phonebank")
    assert "tomorrow, Wed Nov 18, 6:00 PM at Dorchester office, 1 Main St." in day_before
    assert f"Reply C to confirm, DROP {shift_id} if you can't make it." in day_before
    assert "5:00 PM CST" in sent[(chicago, "daybefore")].body  # her own clock, zone named
    assert (
        "starts at 6:00 PM today at Dorchester office, 1 Main St" in sent[(boston, "twohours")].body
    )
    assert sent[(boston, "checkin")].body.endswith("Did you make it? Reply Y or N.")
    with uow:
        reminded = uow.session.get(Commitment, boston).reminded_at
    assert reminded == sent[(boston, "daybefore")].send_after


def test_a_late_sign_up_skips_the_rungs_already_past(uow: SqlAlchemyUnitOfWork) -> None:
    shift_id = _shift(uow)
    tuesday_3pm = datetime(2026, 11, 17, 20, 0, tzinfo=UTC)  # after Tuesday 11:00
    an_hour_before = START - timedelta(hours=1)
    late = _commit(uow, shift_id=shift_id, at=tuesday_3pm)
    clock = FixedClock(tuesday_3pm)
    first = run_reminder_sweep(uow, clock, org=ORG)
    assert (first.daybefore, first.skipped) == (0, 1)  # Tuesday 11:00 came before the sign-up
    last_minute = _commit(uow, shift_id=shift_id, at=an_hour_before)
    while clock.now() < START + timedelta(hours=4):
        run_reminder_sweep(uow, clock, org=ORG)
        clock.advance(timedelta(minutes=30))
    kinds = {(d.commitment_id, d.idempotency_key.rsplit(":", 1)[1]) for d in _deliveries(uow)}
    assert kinds == {
        (late, "twohours"),
        (late, "checkin"),
        (last_minute, "checkin"),
    }


def test_a_clock_down_through_a_rung_does_not_send_it_late(uow: SqlAlchemyUnitOfWork) -> None:
    shift_id = _shift(uow)
    cid = _commit(uow, shift_id=shift_id, at=T0)
    # The clock was down from before Tuesday 11:00 until 30 minutes before the start.
    result = run_reminder_sweep(uow, FixedClock(START - timedelta(minutes=30)), org=ORG)
    assert (result.daybefore, result.twohours) == (0, 1)
    assert [d.idempotency_key for d in _deliveries(uow)] == [f"rem:{cid}:twohours"]


def test_only_people_still_on_the_roster_and_reachable_are_reminded(
    uow: SqlAlchemyUnitOfWork,
) -> None:
    shift_id = _shift(uow)
    cancelled_shift = _shift(uow)
    with uow:
        uow.session.get(Shift, cancelled_shift).cancelled_at = T0
        uow.commit()
    keep = _commit(uow, shift_id=shift_id, at=T0, status=CommitmentStatus.CONFIRMED)
    _commit(uow, shift_id=shift_id, at=T0, status=CommitmentStatus.DROPPED)
    _commit(uow, shift_id=shift_id, at=T0, status=CommitmentStatus.WAITLISTED)
    _commit(uow, shift_id=shift_id, at=T0, first_name="Flo")
    _commit(uow, shift_id=cancelled_shift, at=T0)
    with uow:  # Flo opts out after signing up
        flo = uow.session.scalars(
            select(Commitment).where(Commitment.volunteer.has(first_name="Flo"))
        ).one()
        flo.volunteer.status = VolunteerStatus.OPTED_OUT
        uow.commit()
    run_reminder_sweep(uow, FixedClock(datetime(2026, 11, 17, 16, 5, tzinfo=UTC)), org=ORG)
    assert [d.commitment_id for d in _deliveries(uow)] == [keep]


def test_unconfirmed_volunteers_are_listed_once_per_shift_without_numbers(
    uow: SqlAlchemyUnitOfWork,
) -> None:
    shift_id = _shift(uow)
    _commit(uow, shift_id=shift_id, at=T0, first_name="Maria")
    _commit(uow, shift_id=shift_id, at=T0, first_name="Sam")
    _commit(uow, shift_id=shift_id, at=T0, first_name="Ana", status=CommitmentStatus.CONFIRMED)
    everyone_confirmed = _shift(uow)
    _commit(uow, shift_id=everyone_confirmed, at=T0, status=CommitmentStatus.CONFIRMED)
    clock = FixedClock(START - timedelta(hours=2))
    first = run_reminder_sweep(uow, clock, org=ORG)
    clock.advance(timedelta(minutes=1))
    again = run_reminder_sweep(uow, clock, org=ORG)
    assert (first.unconfirmed_posts, again.unconfirmed_posts) == (1, 0)
    with uow:
        posts = uow.session.execute(select(SlackPost.kind, SlackPost.text)).all()
        phones = [p for (p,) in uow.session.execute(select(Delivery.to_phone)).all()]
    assert [kind for kind, _ in posts] == ["unconfirmed"]
    text = posts[0][1]
    assert f"Shift {shift_id}" in text and "starts at 6:00 PM" in text
    assert "2 of 3 have not confirmed: Maria, Sam" in text
    assert not any(phone[-4:] in text for phone in phones)


def test_a_sweep_only_reads_due_rungs(uow: SqlAlchemyUnitOfWork) -> None:
    """Shifts weeks away are not touched: the sweep's work is the due reminders, not the
    timetable's size (the benchmark bench/clock.py measures it with 10,000 shifts)."""
    far = [_shift(uow, starts_at=START + timedelta(days=d)) for d in range(7, 12)]
    for shift_id in far:
        _commit(uow, shift_id=shift_id, at=T0)
    with uow:
        result = send_due_reminders(uow.session, now=T0, org=ORG)
    assert result.queued == 0 and result.skipped == 0


def test_each_volunteer_is_reminded_in_their_own_language(uow: SqlAlchemyUnitOfWork) -> None:
    shift_id = _shift(uow)
    lucia = _commit(uow, shift_id=shift_id, at=T0, first_name="Lucía", language="es")
    maria = _commit(uow, shift_id=shift_id, at=T0, first_name="Maria", language="en")
    clock = FixedClock(T0)
    while clock.now() < START + timedelta(hours=4):
        run_reminder_sweep(uow, clock, org=ORG)
        clock.advance(timedelta(minutes=30))
    body = {
        (d.commitment_id, d.idempotency_key.rsplit(":", 1)[1]): d.body for d in _deliveries(uow)
    }

    # Spanish wording, in GSM-7 (í becomes i: UCS-2 would cost a third segment).
    assert body[(lucia, "daybefore")] == (
        "Mass Forward: ¡Hola, Lucia! Recordatorio: Phonebank for the Clean Energy bill es mañana, "
        f"mié 18/11 18:00 en Dorchester office, 1 Main St. Responde C para confirmar o DROP "
        f"{shift_id} si no puedes ir."
    )
    assert body[(maria, "daybefore")].startswith("Mass Forward: Hi Maria! Reminder: Phonebank")
    assert (
        f"Reply C to confirm, DROP {shift_id} if you can't make it." in body[(maria, "daybefore")]
    )
    assert "empieza a las 18:00 hoy en Dorchester office" in body[(lucia, "twohours")]
    assert body[(lucia, "twohours")].endswith(f"DROP {shift_id} si no puedes ir.")
    assert body[(lucia, "checkin")].endswith("el mié 18/11. ¿Pudiste ir? Responde SI o NO.")
    assert body[(maria, "checkin")].endswith("Did you make it? Reply Y or N.")
    # What each text asks for is what the keyword parser understands, in either language.
    assert parse("C").intent == Intent.CONFIRM
    assert parse(f"DROP {shift_id}").intent == Intent.DROP
    assert (parse("SI").intent, parse("NO").intent) == (Intent.YES, Intent.NO)
    assert all(count_segments(text).segments <= 3 for text in body.values())
