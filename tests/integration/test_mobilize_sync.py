"""Mobilize events become shifts, through the real adapter and a fake Mobilize server (3 pages):
created, updated, cancelled; committed volunteers told once; a second sync changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.mobilize_api import MobilizeHttpApi
from handlers.config import OrgConfig
from handlers.mobilize import UNLIMITED, sync_mobilize
from handlers.ports import FixedClock
from handlers.shifts import commit_to_shift
from storage.integrations import Integration, SyncRun, latest_runs
from storage.models import Delivery, Shift, ShiftSource
from storage.uow import SqlAlchemyUnitOfWork
from tests.builders import make_volunteer
from tests.conftest import T0
from tests.fakes.mobilize_api import FakeMobilize

ORG = OrgConfig(org_name="Mass Forward")
NOW = int(T0.timestamp())
DAY = 86_400
HOURS_2 = 7_200


@pytest.fixture
def fake() -> Iterator[FakeMobilize]:
    with FakeMobilize(page_size=2, now=NOW) as server:
        yield server


@pytest.fixture
def api(fake: FakeMobilize) -> Iterator[MobilizeHttpApi]:
    client = MobilizeHttpApi(
        base_url=fake.url,
        organization_id=str(fake.organization_id),
        api_key=fake.api_key,
        backoff=0.01,
    )
    yield client
    client.close()


def _events(fake: FakeMobilize) -> dict[str, dict]:
    return {
        "multi": fake.add_event(
            title="Canvass Dorchester for the Clean Energy bill",
            timeslots=[(NOW + DAY * d, NOW + DAY * d + HOURS_2) for d in (1, 2, 3)],
            max_attendees=12,
        ),
        "full": fake.add_event(
            title="Phonebank night",
            event_type="PHONE_BANK",
            timeslots=[(NOW + DAY, NOW + DAY + HOURS_2)],
            max_attendees=8,
            full=(0,),
        ),
        "doomed": fake.add_event(
            title="Text bank", event_type="TEXT_BANK", timeslots=[(NOW + DAY, NOW + DAY + 3600)]
        ),
        "moving": fake.add_event(
            title="Hearing on H.123",
            event_type="OTHER",
            timeslots=[(NOW + 2 * DAY, NOW + 2 * DAY + HOURS_2)],
            max_attendees=20,
            postal_code="02108-1234",
        ),
        "plain": fake.add_event(title="Office hours", timeslots=[(NOW + DAY, NOW + DAY + 3600)]),
    }


def _shift(session, event: dict, index: int = 0) -> Shift:
    return session.scalars(
        select(Shift).where(
            Shift.mobilize_event_id == event["id"],
            Shift.mobilize_timeslot_id == event["timeslots"][index]["id"],
        )
    ).one()


def _texts(session) -> list[Delivery]:
    return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def test_sync_creates_updates_cancels_and_tells_committed_volunteers_once(
    fake: FakeMobilize, api: MobilizeHttpApi, uow: SqlAlchemyUnitOfWork, clock: FixedClock
) -> None:
    events = _events(fake)

    first = sync_mobilize(uow=uow, org=ORG, clock=clock, mobilize=api)

    assert (first.created, first.updated, first.cancelled, first.error) == (7, 0, 0, None)
    event_pages = [r for r in fake.requests if r.path.endswith("/events")]
    assert len(event_pages) == 3  # 5 events, 2 a page, followed through `next`
    assert all(r.query.get("timeslot_start") == "gte_now" for r in event_pages)
    assert "updated_since" not in event_pages[0].query
    with uow:
        s = uow.session
        multi = [_shift(s, events["multi"], i) for i in range(3)]
        assert [m.starts_at for m in multi] == [T0 + timedelta(days=d) for d in (1, 2, 3)]
        assert {m.capacity for m in multi} == {12}
        assert multi[0].title == "Canvass Dorchester for the Clean Energy bill"
        assert multi[0].kind == "canvass" and multi[0].zip == "02124"
        assert multi[0].location == "Dorchester office, 1 Main St, Boston MA"
        assert multi[0].timezone == "America/New_York"
        assert multi[0].url == events["multi"]["browser_url"]
        assert multi[0].source == ShiftSource.MOBILIZE
        assert _shift(s, events["full"]).capacity == 0  # Mobilize says full: no seat to offer
        assert _shift(s, events["plain"]).capacity == UNLIMITED
        assert _shift(s, events["moving"]).zip == "02108"
        # Volunteers commit to the shifts that will move and be deleted.
        movers = [make_volunteer(s) for _ in range(2)]
        doomed_volunteer = make_volunteer(s)
        opted_out = make_volunteer(s, status="opted_out")
        moving_id = _shift(s, events["moving"]).id
        doomed_id = _shift(s, events["doomed"]).id
        for v in movers:
            commit_to_shift(s, volunteer=v, shift_id=moving_id, now=T0, channel="sms")
        commit_to_shift(s, volunteer=doomed_volunteer, shift_id=doomed_id, now=T0, channel="sms")
        commit_to_shift(s, volunteer=opted_out, shift_id=moving_id, now=T0, channel="sms")
        uow.commit()

    fake.move_timeslot(events["moving"]["id"], 0, start=NOW + 4 * DAY, end=NOW + 4 * DAY + 3600)
    fake.delete_event(events["doomed"]["id"])
    clock.advance(timedelta(minutes=15))

    second = sync_mobilize(uow=uow, org=ORG, clock=clock, mobilize=api)

    assert (second.created, second.updated, second.cancelled) == (0, 1, 1)
    assert second.told == 3  # two movers, the doomed shift's volunteer; not the opted-out one
    assert "updated_since" in fake.requests[-2].query
    with uow:
        s = uow.session
        moved = _shift(s, events["moving"])
        assert moved.starts_at == T0 + timedelta(days=4)
        assert _shift(s, events["doomed"]).cancelled_at is not None
        texts = _texts(s)
        assert sorted(t.to_phone for t in texts) == sorted(
            [movers[0].phone, movers[1].phone, doomed_volunteer.phone]
        )
        by_phone = {t.to_phone: t.body for t in texts}
        assert "Hearing on H.123" in by_phone[movers[0].phone]
        assert "Fri 11/20 10am" in by_phone[movers[0].phone]  # the new time, volunteer's zone
        assert f"DROP {moving_id}" in by_phone[movers[0].phone]
        assert "cancelled" in by_phone[doomed_volunteer.phone]

    clock.advance(timedelta(minutes=15))
    third = sync_mobilize(uow=uow, org=ORG, clock=clock, mobilize=api)

    assert (third.created, third.updated, third.cancelled, third.told) == (0, 0, 0, 0)
    with uow:
        s = uow.session
        assert len(_texts(s)) == 3  # nobody told twice
        assert s.scalar(select(func.count()).select_from(Shift)) == 7
        runs = list(s.scalars(select(SyncRun).order_by(SyncRun.id)))
        assert [r.summary for r in runs] == [
            "7 shifts created",
            "1 shift updated, 1 shift cancelled; 3 volunteers told",
            "no changes",
        ]
        assert all(r.ok for r in runs)


def test_a_removed_timeslot_cancels_its_shift_only(
    fake: FakeMobilize, api: MobilizeHttpApi, uow: SqlAlchemyUnitOfWork, clock: FixedClock
) -> None:
    event = fake.add_event(
        title="Weekend canvass",
        timeslots=[(NOW + DAY, NOW + DAY + 60), (NOW + 2 * DAY, NOW + 2 * DAY + 60)],
    )
    sync_mobilize(uow=uow, org=ORG, clock=clock, mobilize=api)
    kept, removed = (dict(event, timeslots=[slot]) for slot in event["timeslots"])
    fake.update_event(event["id"], timeslots=event["timeslots"][:1])

    report = sync_mobilize(uow=uow, org=ORG, clock=clock, mobilize=api)

    assert report.cancelled == 1
    with uow:
        assert _shift(uow.session, kept).cancelled_at is None
        assert _shift(uow.session, removed).cancelled_at is not None


def test_reads_answered_429_and_500_are_retried_and_the_sync_goes_through(
    fake: FakeMobilize, api: MobilizeHttpApi, uow: SqlAlchemyUnitOfWork, clock: FixedClock
) -> None:
    fake.add_event(title="Office hours", timeslots=[(NOW + DAY, NOW + DAY + 3600)])
    fake.fail(429, retry_after=0)
    fake.fail(500)

    report = sync_mobilize(uow=uow, org=ORG, clock=clock, mobilize=api)

    assert report.error is None and report.created == 1
    assert fake.answered("GET")[:3] == [429, 500, 200]


def test_a_failed_sync_changes_nothing_and_says_why(
    fake: FakeMobilize, api: MobilizeHttpApi, uow: SqlAlchemyUnitOfWork, clock: FixedClock
) -> None:
    fake.add_event(title="Office hours", timeslots=[(NOW + DAY, NOW + DAY + 3600)])
    fake.fail(500, times=None)

    report = sync_mobilize(uow=uow, org=ORG, clock=clock, mobilize=api)

    assert report.error == "Mobilize answered 500: {'detail': 'Request failed (fake).'}"
    with uow:
        assert uow.session.scalar(select(func.count()).select_from(Shift)) == 0
        run = latest_runs(uow.session)[Integration.MOBILIZE]
        assert not run.ok and run.error == report.error


def test_changes_and_deletions_over_three_pages_each_are_applied_and_told_once(
    fake: FakeMobilize, api: MobilizeHttpApi, uow: SqlAlchemyUnitOfWork, clock: FixedClock
) -> None:
    """Issue 18's sync set, the incremental run: eight events (4 pages of 2); then five change
    (one only in Mobilize's modified date) and three are deleted, so the run with
    `updated_since` pages through 3 pages of `next` for the changes and 2 of `/events/deleted`.
    A moved shift's seated and waitlisted volunteers are told once; a renamed or resized one
    tells no one; each deleted one's volunteers are told once, even though Mobilize lists the
    same changes and deletions again on the next run."""
    events = [
        fake.add_event(
            title=f"Canvass {n}",
            timeslots=[(NOW + DAY * (n + 1), NOW + DAY * (n + 1) + HOURS_2)],
            max_attendees=1,
        )
        for n in range(8)
    ]
    assert sync_mobilize(uow=uow, org=ORG, clock=clock, mobilize=api).created == 8
    with uow:
        s = uow.session
        ids = [_shift(s, e).id for e in events]
        people = {}
        for n in (0, 3, 4, 5):  # a seat, and one waiting for it, on four of them
            seated, waiting = make_volunteer(s), make_volunteer(s)
            for v in (seated, waiting):
                commit_to_shift(s, volunteer=v, shift_id=ids[n], now=T0, channel="sms")
            people[n] = (seated.phone, waiting.phone)
        uow.commit()
    before = len(fake.requests)

    fake.move_timeslot(events[0]["id"], 0, start=NOW + 9 * DAY, end=NOW + 9 * DAY + HOURS_2)
    fake.update_event(events[1]["id"], title="Canvass 1, now with pizza")
    slot = {**events[2]["timeslots"][0], "max_attendees": 25}
    fake.update_event(events[2]["id"], timeslots=[slot])
    fake.update_event(events[6]["id"], title="Canvass 6 (renamed)")
    fake.update_event(events[7]["id"], title="Canvass 7")  # modified, but nothing Muster keeps
    for n in (3, 4, 5):
        fake.delete_event(events[n]["id"])
    clock.advance(timedelta(minutes=15))

    second = sync_mobilize(uow=uow, org=ORG, clock=clock, mobilize=api)

    reads = fake.requests[before:]
    changed_pages = [r for r in reads if r.path.endswith("/events")]
    deleted_pages = [r for r in reads if r.path.endswith("/events/deleted")]
    assert len(changed_pages) == 3 and len(deleted_pages) == 2
    assert all("updated_since" in r.query for r in changed_pages + deleted_pages)
    assert (second.created, second.updated, second.cancelled) == (0, 4, 3)
    assert second.told == 2 + 2 * 3  # the moved shift's two; the deleted shifts' two each
    with uow:
        s = uow.session
        assert s.get(Shift, ids[0]).starts_at == T0 + timedelta(days=9)
        assert s.get(Shift, ids[1]).title == "Canvass 1, now with pizza"
        assert s.get(Shift, ids[2]).capacity == 25
        assert s.get(Shift, ids[6]).title == "Canvass 6 (renamed)"
        assert all(s.get(Shift, ids[n]).cancelled_at is not None for n in (3, 4, 5))
        texts = _texts(s)
        by_phone: dict[str, list[str]] = {}
        for t in texts:
            by_phone.setdefault(t.to_phone, []).append(t.body)
        assert sorted(by_phone) == sorted(p for pair in people.values() for p in pair)
        assert all(len(bodies) == 1 for bodies in by_phone.values())  # each told once
        assert all("has changed" in by_phone[p][0] for p in people[0])
        assert all("cancelled" in by_phone[p][0] for n in (3, 4, 5) for p in people[n])

    fake.update_event(events[2]["id"], timeslots=[slot])  # listed again, the same as before
    clock.advance(timedelta(minutes=15))
    third = sync_mobilize(uow=uow, org=ORG, clock=clock, mobilize=api)
    assert (third.created, third.updated, third.cancelled, third.told) == (0, 0, 0, 0)
    with uow:
        assert len(_texts(uow.session)) == len(texts)


def test_seats_mobilize_adds_go_to_the_waitlist_and_back_to_mobilize(
    fake: FakeMobilize, api: MobilizeHttpApi, uow: SqlAlchemyUnitOfWork, clock: FixedClock
) -> None:
    from storage.integrations import IntegrationWrite, WriteStatus

    event = fake.add_event(
        title="Phonebank", timeslots=[(NOW + DAY, NOW + DAY + HOURS_2)], max_attendees=1
    )
    sync_mobilize(uow=uow, org=ORG, clock=clock, mobilize=api)
    with uow:
        s = uow.session
        shift_id = _shift(s, event).id
        seated = make_volunteer(s, email="ana@example.org")
        waiting = make_volunteer(s, email="ben@example.org")
        for v in (seated, waiting):
            commit_to_shift(s, volunteer=v, shift_id=shift_id, now=T0, channel="sms")
        uow.commit()
        waiting_phone = waiting.phone
    fake.update_event(event["id"], timeslots=[{**event["timeslots"][0], "max_attendees": 5}])

    report = sync_mobilize(uow=uow, org=ORG, clock=clock, mobilize=api)

    assert (report.updated, report.promoted, report.told) == (1, 1, 0)
    assert report.summary == "1 shift updated; 1 moved up from the waitlist"
    with uow:
        s = uow.session
        assert s.get(Shift, shift_id).committed_count == 2
        (promotion,) = _texts(s)
        assert promotion.to_phone == waiting_phone and promotion.kind == "promotion"
        (write,) = s.scalars(select(IntegrationWrite)).all()
        assert write.status == WriteStatus.PENDING and write.payload["event_id"] == event["id"]
    assert sync_mobilize(uow=uow, org=ORG, clock=clock, mobilize=api).promoted == 0
