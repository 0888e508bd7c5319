"""Volunteers reach Action Network through the outbox: a JOIN and its onboarding, then STOP and
START, each reach the fake with the right SMS status; a fake answering 429 and 500 first gets
the write once; the drain keeps to 4 requests a second; a sign-up on a shift tied to an Action
Network event is recorded as one attendance."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.action_network_api import ActionNetworkHttpApi
from handlers.action_network_writes import PERSON, drain_action_network_writes, enqueue_person
from handlers.config import OrgConfig
from handlers.consent import record_opt_in
from handlers.messages import Channel, InboundText
from handlers.ports import FixedClock
from handlers.volunteer.receive import receive_text
from storage.chapters import Chapter, ChapterSource, put_membership
from storage.districts import DistrictSource, set_district
from storage.integrations import IntegrationWrite, WriteStatus
from storage.models import Volunteer
from storage.uow import SqlAlchemyUnitOfWork
from tests.adapters.sms_phone import new_sid
from tests.builders import make_shift, make_volunteer, random_phone
from tests.conftest import T0
from tests.fakes.action_network_api import FakeActionNetwork

ON = OrgConfig(org_name="Mass Forward", action_network=True)


@pytest.fixture
def fake() -> Iterator[FakeActionNetwork]:
    with FakeActionNetwork() as server:
        yield server


@pytest.fixture
def api(fake: FakeActionNetwork) -> Iterator[ActionNetworkHttpApi]:
    client = ActionNetworkHttpApi(base_url=fake.url, api_key=fake.api_key)
    yield client
    client.close()


def _say(uow: SqlAlchemyUnitOfWork, clock: FixedClock, phone: str, body: str) -> None:
    receive_text(InboundText(Channel.SMS, phone, body, clock.now(), new_sid()), uow=uow, org=ON,
                 clock=clock)  # fmt: skip
    clock.advance(timedelta(seconds=5))


def _drain(uow: SqlAlchemyUnitOfWork, clock: FixedClock, api: ActionNetworkHttpApi) -> int:
    return drain_action_network_writes(uow=uow, clock=clock, api=api).done


def test_join_onboarding_stop_and_start_each_reach_action_network(
    fake: FakeActionNetwork, api: ActionNetworkHttpApi, uow: SqlAlchemyUnitOfWork,
    clock: FixedClock,
) -> None:  # fmt: skip
    phone = random_phone()
    _say(uow, clock, phone, "JOIN")
    _say(uow, clock, phone, "Maria Lopez")
    assert _drain(uow, clock, api) == 0  # onboarding not over: nothing sent yet
    _say(uow, clock, phone, "02124")
    _say(uow, clock, phone, "canvass, phonebank")
    with uow:
        vid = uow.session.scalars(select(Volunteer.id).where(Volunteer.phone == phone)).one()
        set_district(uow.session, volunteer_id=vid, chamber="cd", district="ma/cd:7",
                     source=DistrictSource.IMPORT, vintage=None, now=T0)  # fmt: skip
        chapter = Chapter(slug="dorchester", name="Dorchester")
        uow.session.add(chapter)
        uow.session.flush()
        put_membership(uow.session, volunteer_id=vid, chapter_id=chapter.id,
                       source=ChapterSource.ZIP, set_by=None, now=T0)  # fmt: skip
        uow.commit()

    assert _drain(uow, clock, api) == 1
    (body,) = fake.signups
    assert body == {
        "person": {
            "given_name": "Maria",
            "family_name": "Lopez",
            "phone_numbers": [
                {"number": phone.removeprefix("+"), "number_type": "Mobile", "status": "subscribed"}
            ],
            "postal_addresses": [{"postal_code": "02124", "country": "US", "region": "MA"}],
            "custom_fields": {"congressional_district": "ma/cd:7", "chapter": "dorchester"},
        },
        "add_tags": ["canvass", "phonebank"],
    }
    assert fake.phone_status(phone) == "subscribed"
    assert _drain(uow, clock, api) == 0  # never doubled

    _say(uow, clock, phone, "STOP")
    assert _drain(uow, clock, api) == 1
    assert fake.phone_status(phone) == "unsubscribed"
    _say(uow, clock, phone, "START")
    assert _drain(uow, clock, api) == 1
    assert fake.phone_status(phone) == "subscribed"
    assert [s["person"]["phone_numbers"][0]["status"] for s in fake.signups] == [
        "subscribed", "unsubscribed", "subscribed",
    ]  # fmt: skip
    assert len(fake.people) == 1  # one person, updated


def test_changes_before_the_drain_go_as_one_write_with_the_latest_status(
    fake: FakeActionNetwork, api: ActionNetworkHttpApi, uow: SqlAlchemyUnitOfWork,
    clock: FixedClock,
) -> None:  # fmt: skip
    with uow:
        v = make_volunteer(uow.session, first_name="Sam")
        record_opt_in(uow.session, phone=v.phone, volunteer=v, keyword="JOIN", channel="sms",
                      now=T0)  # fmt: skip
        enqueue_person(uow.session, volunteer=v, now=T0, cause="joined")
        phone = v.phone
        uow.commit()
    _say(uow, clock, phone, "STOP")
    _say(uow, clock, phone, "START")
    _say(uow, clock, phone, "STOP")
    assert _drain(uow, clock, api) == 1
    assert [s["person"]["phone_numbers"][0]["status"] for s in fake.signups] == ["unsubscribed"]


def test_a_write_answered_429_then_500_goes_once(
    fake: FakeActionNetwork, api: ActionNetworkHttpApi, uow: SqlAlchemyUnitOfWork,
    clock: FixedClock,
) -> None:  # fmt: skip
    with uow:
        v = make_volunteer(uow.session, first_name="Ana", email="ana@example.org")
        record_opt_in(uow.session, phone=v.phone, volunteer=v, keyword="JOIN", channel="sms",
                      now=T0)  # fmt: skip
        enqueue_person(uow.session, volunteer=v, now=T0, cause="joined")
        uow.commit()
    fake.fail(429, retry_after=5)
    fake.fail(500)
    reports = []
    for _ in range(3):
        reports.append(drain_action_network_writes(uow=uow, clock=clock, api=api))
        clock.advance(timedelta(minutes=5))
    assert [(r.done, r.retried) for r in reports] == [(0, 1), (0, 1), (1, 0)]
    assert fake.answered("POST") == [429, 500, 200]
    assert fake.signups[0]["person"]["email_addresses"] == [{"address": "ana@example.org"}]
    assert _drain(uow, clock, api) == 0
    with uow:
        row = uow.session.scalars(select(IntegrationWrite)).one()
        assert row.status == WriteStatus.DONE and row.attempts == 3
        assert row.result == {"person_id": next(iter(fake.people))}


def test_a_refused_write_fails_for_good_with_the_reason(
    fake: FakeActionNetwork, uow: SqlAlchemyUnitOfWork, clock: FixedClock
) -> None:
    wrong = ActionNetworkHttpApi(base_url=fake.url, api_key="not-the-key")
    with uow:
        v = make_volunteer(uow.session)
        enqueue_person(uow.session, volunteer=v, now=T0, cause="joined")
        uow.commit()
    report = drain_action_network_writes(uow=uow, clock=clock, api=wrong)
    wrong.close()
    assert report.failed == 1
    with uow:
        row = uow.session.scalars(select(IntegrationWrite)).one()
        assert row.status == WriteStatus.FAILED
        assert row.last_error == "Action Network answered 401: API Key invalid or not present"


def test_the_drain_keeps_to_four_requests_a_second(
    fake: FakeActionNetwork, api: ActionNetworkHttpApi, uow: SqlAlchemyUnitOfWork,
    clock: FixedClock,
) -> None:  # fmt: skip
    with uow:
        for _ in range(9):
            v = make_volunteer(uow.session)
            enqueue_person(uow.session, volunteer=v, now=T0, cause="joined")
        uow.commit()
    report = drain_action_network_writes(uow=uow, clock=clock, api=api, pace=time.sleep)
    assert report.done == 9 and report.retried == 0
    assert fake.answered("POST") == [200] * 9  # the fake answers 429 beyond 4 in a second


def test_off_sends_nothing_and_a_stranger_to_action_network_is_not_sent(
    uow: SqlAlchemyUnitOfWork, clock: FixedClock
) -> None:
    phone = random_phone()
    for body in ("JOIN", "Sam", "SKIP", "SKIP"):
        receive_text(InboundText(Channel.SMS, phone, body, clock.now(), new_sid()), uow=uow,
                     org=OrgConfig(), clock=clock)  # fmt: skip
    with uow:
        v = make_volunteer(uow.session)
        record_opt_in(uow.session, phone=v.phone, volunteer=v, keyword="JOIN", channel="sms",
                      now=T0)  # fmt: skip
        uow.commit()
    with uow:
        assert uow.session.scalars(select(IntegrationWrite)).all() == []


def test_a_seat_on_an_action_network_shift_is_one_attendance(
    fake: FakeActionNetwork, api: ActionNetworkHttpApi, uow: SqlAlchemyUnitOfWork,
    clock: FixedClock,
) -> None:  # fmt: skip
    event_id = fake.add_event(title="Town hall")
    with uow:
        s = uow.session
        shift = make_shift(s, starts_at=T0 + timedelta(days=2), action_network_event_id=event_id)
        other = make_shift(s, starts_at=T0 + timedelta(days=3))
        v = make_volunteer(s, first_name="Lee Park", email="lee@example.org")
        record_opt_in(s, phone=v.phone, volunteer=v, keyword="JOIN", channel="sms", now=T0)
        phone, shift_id, other_id = v.phone, shift.id, other.id
        uow.commit()
    _say(uow, clock, phone, f"YES {shift_id}")
    _say(uow, clock, phone, f"DROP {shift_id}")  # called off before it went
    _say(uow, clock, phone, f"YES {shift_id}")
    _say(uow, clock, phone, f"YES {other_id}")  # not tied to Action Network
    assert _drain(uow, clock, api) == 1
    (attendance,) = fake.attendances
    assert attendance["event_id"] == event_id
    assert attendance["person"]["given_name"] == "Lee"
    assert attendance["person"]["email_addresses"] == [{"address": "lee@example.org"}]
    _say(uow, clock, phone, f"DROP {shift_id}")
    _say(uow, clock, phone, f"YES {shift_id}")  # recorded already: not recorded twice
    assert _drain(uow, clock, api) == 0
    assert len(fake.attendances) == 1
    with uow:
        kinds = {w.kind for w in uow.session.scalars(select(IntegrationWrite))}
        assert PERSON not in kinds  # (this volunteer was never sent as a person)
