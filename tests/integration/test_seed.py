"""`muster seed --demo`: a believable organization, the same every time, only into an empty
database."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.bootstrap import Container, bootstrap
from bot.seed import fill_demo, seed_demo
from handlers.phones import to_e164
from handlers.schedules import DIGEST_AUDIENCE, ScheduleKind
from scheduler.jobs import ensure_digest_schedule
from storage.models import (
    Commitment,
    CommitmentStatus,
    ConsentAction,
    ConsentEvent,
    Schedule,
    Shift,
    Volunteer,
    VolunteerStatus,
)
from tests.builders import make_volunteer
from tests.conftest import T0, make_settings


def test_demo_data_is_a_believable_organization(
    container: Container, capsys: pytest.CaptureFixture[str]
) -> None:
    assert seed_demo(container) == 0
    assert "24 volunteers" in capsys.readouterr().out
    with container.read_uow() as uow:
        session = uow.session
        people = list(session.scalars(select(Volunteer)))
        # Valid numbers, all in the 555-01XX block kept for fiction; several zones and ZIPs.
        assert all(to_e164(v.phone) == v.phone and v.phone[5:10] == "55501" for v in people)
        assert len({v.timezone for v in people}) == 4 and len({v.zip for v in people}) >= 6
        assert sum(1 for v in people if v.tag_names) >= 15
        # Two texted STOP: opted out, and the ledger shows their opt-in then their opt-out.
        gone = [v for v in people if v.status == VolunteerStatus.OPTED_OUT]
        assert len(gone) == 2
        for volunteer in gone:
            actions = session.scalars(
                select(ConsentEvent.action)
                .where(ConsentEvent.phone == volunteer.phone)
                .order_by(ConsentEvent.occurred_at)
            ).all()
            assert actions == [ConsentAction.OPT_IN, ConsentAction.OPT_OUT]
        # Shifts this week, ahead of now: phonebank, canvass and hearing testimony.
        shifts = list(session.scalars(select(Shift)))
        assert {s.kind for s in shifts} == {"phonebank", "canvass", "testify"}
        assert all(T0 < s.starts_at < T0 + timedelta(days=7) for s in shifts)
        # Commitments agree with each shift's count; one shift is full with a waitlist.
        for shift in shifts:
            statuses = Counter(
                session.scalars(select(Commitment.status).where(Commitment.shift_id == shift.id))
            )
            assert statuses[CommitmentStatus.COMMITTED] == shift.committed_count
            assert shift.committed_count <= shift.capacity
        assert session.scalar(
            select(func.count()).where(Commitment.status == CommitmentStatus.WAITLISTED)
        )
        opted_out_ids = {v.id for v in gone}
        assert not session.scalar(
            select(func.count()).where(Commitment.volunteer_id.in_(opted_out_ids))
        )
        # A call to action is scheduled ahead.
        schedules = list(session.scalars(select(Schedule)))
        assert any(s.run_at and s.run_at > T0 for s in schedules)
        # The weekly digest goes to those who opted into it, active volunteers among them.
        readers = [v for v in people if v.digest_opt_in]
        assert 0 < len(readers) < len(people)
        assert any(v.status == VolunteerStatus.ACTIVE for v in readers)


def test_demo_volunteers_get_one_weekly_digest_when_the_clock_starts(
    container: Container,
) -> None:
    def recurring() -> list[tuple[str, str | None]]:
        with container.read_uow() as uow:
            rows = uow.session.scalars(select(Schedule).where(Schedule.cron.is_not(None)))
            return [(s.kind, s.audience) for s in rows]

    assert seed_demo(container) == 0
    assert recurring() == [(ScheduleKind.DIGEST, DIGEST_AUDIENCE)]
    # The clock, leading for the first time, finds the seed's digest and adds no second one.
    assert ensure_digest_schedule(container.uow(), container.clock, org=container.org) is None
    assert recurring() == [(ScheduleKind.DIGEST, DIGEST_AUDIENCE)]
    with container.read_uow() as uow:
        one_off = uow.session.scalars(select(Schedule.audience).where(Schedule.run_at.is_not(None)))
        assert list(one_off) == ["tag:testify"]  # the call to action is kept


def test_the_same_data_every_time(container: Container) -> None:
    def snapshot() -> list[tuple]:
        with container.uow() as uow:
            fill_demo(uow.session, now=T0, zone=container.org.zone)
            rows = [
                (v.phone, v.first_name, v.zip, v.status, tuple(v.tag_names))
                for v in uow.session.scalars(select(Volunteer).order_by(Volunteer.phone))
            ]
            rows += [
                (c.volunteer.phone, c.shift.title, c.status)
                for c in uow.session.scalars(select(Commitment).order_by(Commitment.id))
            ]
            return rows  # rolled back on leaving the block

    assert snapshot() == snapshot()


def test_if_empty_makes_a_second_run_a_no_op(
    container: Container, capsys: pytest.CaptureFixture[str]
) -> None:
    assert seed_demo(container, if_empty=True) == 0
    assert seed_demo(container, if_empty=True) == 0
    assert "nothing to do" in capsys.readouterr().out
    with container.read_uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Volunteer)) == 24
    # Without --if-empty a database with data is refused, never mixed with demo data.
    assert seed_demo(container) == 1


def test_never_seeds_into_an_organizations_real_data(
    container: Container, capsys: pytest.CaptureFixture[str]
) -> None:
    with container.uow() as uow:
        make_volunteer(uow.session)
        uow.commit()
    assert seed_demo(container) == 1
    assert "already has data" in capsys.readouterr().err
    with container.read_uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Volunteer)) == 1


def test_refuses_when_twilio_is_configured(db_url: str, engine, clock) -> None:
    settings = make_settings(db_url, twilio_account_sid="AC123", twilio_auth_token="secret")
    twilio_container = bootstrap(settings, clock=clock, engine=engine)
    assert seed_demo(twilio_container) == 1
    assert seed_demo(twilio_container, if_empty=True) == 0  # `make run` goes on, seeding nothing
    with twilio_container.read_uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Volunteer)) == 0
