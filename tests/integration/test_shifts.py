"""Shifts and commitments on the real database (SQLite or PostgreSQL, whichever this run targets):
capacity under concurrency, the waitlist's order, promotion, confirmation, listing."""

from __future__ import annotations

import functools
from collections import Counter
from datetime import timedelta

from sqlalchemy import Engine, func, select

from handlers import shift_lists, shifts
from handlers.shifts import CommitStatus, DropStatus
from storage.db import make_session_factory
from storage.models import (
    Commitment,
    CommitmentStatus,
    Shift,
    Volunteer,
    VolunteerStatus,
)
from storage.uow import SqlAlchemyUnitOfWork
from tests.at_once import all_at_once
from tests.builders import make_shift, make_volunteer
from tests.conftest import T0

N_VOLUNTEERS = 100
CAPACITY = 10


def _setup(engine: Engine, n: int, capacity: int) -> tuple[int, list[int]]:
    with make_session_factory(engine)() as session:
        shift = make_shift(session, starts_at=T0 + timedelta(days=2), capacity=capacity)
        ids = [make_volunteer(session).id for _ in range(n)]
        session.commit()
        return shift.id, ids


def _commit_all_at_once(engine: Engine, shift_id: int, volunteer_ids: list[int]) -> list[str]:
    """Every volunteer answers YES N at the same moment, each in its own unit of work."""
    factory = make_session_factory(engine)

    def answer(volunteer_id: int) -> str:
        uow = SqlAlchemyUnitOfWork(factory)
        with uow:
            volunteer = uow.session.get(Volunteer, volunteer_id)
            outcome = shifts.commit_to_shift(
                uow.session, volunteer=volunteer, shift_id=shift_id, now=T0, channel="sms"
            )
            uow.commit()
        return outcome.status

    return all_at_once([functools.partial(answer, vid) for vid in volunteer_ids])


def test_hundred_volunteers_answering_at_once_fill_exactly_the_capacity(engine: Engine) -> None:
    shift_id, volunteer_ids = _setup(engine, N_VOLUNTEERS, CAPACITY)

    outcomes = _commit_all_at_once(engine, shift_id, volunteer_ids)

    assert Counter(outcomes) == {"committed": CAPACITY, "waitlisted": N_VOLUNTEERS - CAPACITY}
    with make_session_factory(engine)() as session:
        shift = session.get(Shift, shift_id)
        assert shift.committed_count == CAPACITY
        by_status = Counter(
            session.scalars(select(Commitment.status).where(Commitment.shift_id == shift_id))
        )
        assert by_status == {
            CommitmentStatus.COMMITTED: CAPACITY,
            CommitmentStatus.WAITLISTED: N_VOLUNTEERS - CAPACITY,
        }
        positions = session.scalars(
            select(Commitment.waitlist_position).where(
                Commitment.status == CommitmentStatus.WAITLISTED
            )
        ).all()
        assert sorted(positions) == list(range(1, N_VOLUNTEERS - CAPACITY + 1))

    # Drops promote the waitlist in order, one seat for one seat.
    factory = make_session_factory(engine)
    with factory() as session:
        seated = session.scalars(
            select(Commitment)
            .where(Commitment.shift_id == shift_id, Commitment.status == "committed")
            .order_by(Commitment.id)
        ).all()
        line = session.scalars(
            select(Commitment.volunteer_id)
            .where(Commitment.status == CommitmentStatus.WAITLISTED)
            .order_by(Commitment.waitlist_position)
        ).all()
        dropping = [c.volunteer_id for c in seated[:3]]
    promoted = []
    for volunteer_id in dropping:
        uow = SqlAlchemyUnitOfWork(factory)
        with uow:
            volunteer = uow.session.get(Volunteer, volunteer_id)
            out = shifts.drop_commitment(
                uow.session, volunteer=volunteer, shift_id=shift_id, now=T0, org_name="Mass Forward"
            )
            uow.commit()
        assert out.status == DropStatus.DROPPED
        assert out.promoted is not None
        assert [m.kind for m in out.sms] == ["promotion"]
        assert out.sms[0].phone == out.promoted.volunteer.phone
        assert "a spot opened" in out.sms[0].body
        promoted.append(out.promoted.volunteer_id)
    assert promoted == line[:3]
    with factory() as session:
        assert session.get(Shift, shift_id).committed_count == CAPACITY


def test_a_double_sign_up_is_answered_already_and_takes_no_second_seat(uow) -> None:
    with uow:
        s = uow.session
        shift = make_shift(s, starts_at=T0 + timedelta(days=1), capacity=2)
        v = make_volunteer(s)
        first = shifts.commit_to_shift(s, volunteer=v, shift_id=shift.id, now=T0, channel="sms")
        again = shifts.commit_to_shift(s, volunteer=v, shift_id=shift.id, now=T0, channel="sms")
        uow.commit()
        assert first.status == CommitStatus.COMMITTED
        assert again.status == CommitStatus.ALREADY
        assert again.commitment.status == CommitmentStatus.COMMITTED
        s.refresh(shift)
        assert shift.committed_count == 1


def test_unknown_past_and_cancelled_shifts_are_refused(uow) -> None:
    with uow:
        s = uow.session
        v = make_volunteer(s)
        past = make_shift(s, starts_at=T0 - timedelta(hours=1))
        gone = make_shift(s, starts_at=T0 + timedelta(days=1), cancelled_at=T0)

        def commit(shift_id: int) -> str:
            return shifts.commit_to_shift(
                s, volunteer=v, shift_id=shift_id, now=T0, channel="sms"
            ).status

        assert commit(99_999) == CommitStatus.UNKNOWN
        assert commit(past.id) == CommitStatus.PAST
        assert commit(gone.id) == CommitStatus.CANCELLED
        assert s.scalar(select(func.count()).select_from(Commitment)) == 0


def test_dropping_with_an_empty_waitlist_frees_the_seat_and_signing_up_again_works(uow) -> None:
    with uow:
        s = uow.session
        shift = make_shift(s, starts_at=T0 + timedelta(days=1), capacity=1)
        v = make_volunteer(s)
        shifts.commit_to_shift(s, volunteer=v, shift_id=shift.id, now=T0, channel="sms")
        out = shifts.drop_commitment(s, volunteer=v, shift_id=shift.id, now=T0)
        assert out.status == DropStatus.DROPPED and out.promoted is None and out.sms == ()
        s.refresh(shift)
        assert shift.committed_count == 0
        assert (
            shifts.drop_commitment(s, volunteer=v, shift_id=shift.id, now=T0).status
            == DropStatus.NOT_SIGNED_UP
        )
        back = shifts.commit_to_shift(s, volunteer=v, shift_id=shift.id, now=T0, channel="sms")
        assert back.status == CommitStatus.COMMITTED
        s.refresh(shift)
        assert shift.committed_count == 1
        uow.commit()


def test_promotion_skips_opted_out_volunteers_and_a_waitlisted_drop_frees_nothing(uow) -> None:
    with uow:
        s = uow.session
        shift = make_shift(s, starts_at=T0 + timedelta(days=1), capacity=1)
        seated, gone, waiting, leaving = (make_volunteer(s) for _ in range(4))
        for v in (seated, gone, waiting, leaving):
            shifts.commit_to_shift(s, volunteer=v, shift_id=shift.id, now=T0, channel="sms")
        gone.status = VolunteerStatus.OPTED_OUT
        out = shifts.drop_commitment(s, volunteer=leaving, shift_id=shift.id, now=T0)
        assert out.was == CommitmentStatus.WAITLISTED and out.promoted is None
        out = shifts.drop_commitment(s, volunteer=seated, shift_id=shift.id, now=T0)
        assert out.promoted is not None and out.promoted.volunteer_id == waiting.id
        s.refresh(shift)
        assert shift.committed_count == 1
        uow.commit()


def test_open_shifts_nearest_first_and_full_or_past_ones_left_out(uow) -> None:
    with uow:
        s = uow.session
        worcester = make_shift(s, starts_at=T0 + timedelta(days=1), zip="01608", title="Far")
        dorchester = make_shift(s, starts_at=T0 + timedelta(days=3), zip="02124", title="Near")
        nozip = make_shift(s, starts_at=T0 + timedelta(hours=5), zip=None, title="Online")
        make_shift(s, starts_at=T0 + timedelta(days=1), capacity=0, title="Full")
        make_shift(s, starts_at=T0 - timedelta(days=1), title="Past")
        near = shift_lists.list_open_shifts(s, now=T0, near_zip="02125")
        assert [x.id for x in near] == [dorchester.id, worcester.id, nozip.id]
        soonest = shift_lists.list_open_shifts(s, now=T0)
        assert [x.id for x in soonest] == [nozip.id, worcester.id, dorchester.id]
        assert len(shift_lists.list_open_shifts(s, now=T0, limit=2)) == 2


def test_confirm_takes_the_next_reminded_commitment(uow) -> None:
    with uow:
        s = uow.session
        v = make_volunteer(s)
        later = make_shift(s, starts_at=T0 + timedelta(days=4))
        sooner = make_shift(s, starts_at=T0 + timedelta(days=1))
        unreminded = make_shift(s, starts_at=T0 + timedelta(hours=3))
        for shift in (later, sooner, unreminded):
            shifts.commit_to_shift(s, volunteer=v, shift_id=shift.id, now=T0, channel="sms")
        assert shifts.confirm_next_reminded(s, volunteer=v, now=T0) is None
        for c in s.scalars(select(Commitment).where(Commitment.shift_id != unreminded.id)):
            c.reminded_at = T0
        first = shifts.confirm_next_reminded(s, volunteer=v, now=T0)
        assert first.shift_id == sooner.id and first.status == CommitmentStatus.CONFIRMED
        second = shifts.confirm_next_reminded(s, volunteer=v, now=T0)
        assert second.shift_id == later.id
        assert shifts.confirm_next_reminded(s, volunteer=v, now=T0) is None
        mine = shifts.my_commitments(s, volunteer=v, now=T0)
        assert [c.shift_id for c in mine] == [unreminded.id, sooner.id, later.id]


def test_a_waitlist_place_counts_only_those_promotion_would_take(uow) -> None:
    """Told 'waitlist #N' means N-1 people will be promoted first: an opted-out, unreachable or
    forgotten volunteer ahead holds no place, since promotion skips them."""
    with uow:
        s = uow.session
        shift = make_shift(s, starts_at=T0 + timedelta(days=1), capacity=1)
        seated, gone, lost, erased, first, second = (make_volunteer(s) for _ in range(6))
        for v in (seated, gone, lost, erased, first, second):
            shifts.commit_to_shift(s, volunteer=v, shift_id=shift.id, now=T0, channel="sms")
        gone.status = VolunteerStatus.OPTED_OUT
        lost.status = VolunteerStatus.UNREACHABLE
        erased.phone = None  # forgotten (`muster forget`)
        s.flush()

        def rank(v: Volunteer) -> int:
            commitment = s.scalar(select(Commitment).where(Commitment.volunteer_id == v.id))
            return shifts.waitlist_rank(s, commitment)

        assert [rank(first), rank(second)] == [1, 2]
        out = shifts.drop_commitment(s, volunteer=seated, shift_id=shift.id, now=T0)
        assert out.promoted is not None and out.promoted.volunteer_id == first.id
        assert rank(second) == 1
        uow.commit()
