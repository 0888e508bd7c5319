"""`sync_action_network` against a fake Action Network with three pages of people: each taken as
a webhook's person is (subscribed, no consent, unsubscribed), through a 429 mid-way; volunteers
Action Network has not heard of are queued for it; a second sync reads only what changed since;
a failing Action Network is recorded with the error in words."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.action_network_api import ActionNetworkHttpApi
from handlers.action_network_sync import sync_action_network
from handlers.action_network_writes import drain_action_network_writes
from handlers.config import OrgConfig
from handlers.consent import record_opt_in
from handlers.ports import FixedClock
from storage.integrations import IntegrationWrite, SyncRun
from storage.models import Delivery, Volunteer, VolunteerStatus
from storage.uow import SqlAlchemyUnitOfWork
from tests.builders import make_volunteer, random_phone
from tests.conftest import T0
from tests.fakes.action_network_api import FakeActionNetwork

ON = OrgConfig(org_name="Mass Forward", action_network=True)


@pytest.fixture
def fake() -> Iterator[FakeActionNetwork]:
    with FakeActionNetwork(now=T0 - timedelta(days=1)) as server:
        yield server


@pytest.fixture
def api(fake: FakeActionNetwork) -> Iterator[ActionNetworkHttpApi]:
    client = ActionNetworkHttpApi(base_url=fake.url, api_key=fake.api_key, backoff=0)
    yield client
    client.close()


def _person(phone: str, status: str | None, n: int) -> dict[str, Any]:
    number: dict[str, Any] = {"number": phone.removeprefix("+"), "number_type": "Mobile"}
    if status:
        number["status"] = status
    email = {"address": f"p{n}@example.org"}
    return {"given_name": f"P{n}", "family_name": "Test", "email_addresses": [email],
            "phone_numbers": [number]}  # fmt: skip


def _count(uow: SqlAlchemyUnitOfWork, what: Any, *where: Any) -> int:
    with uow:
        return int(uow.session.scalar(select(func.count()).select_from(what).where(*where)) or 0)


def test_three_pages_of_people_and_the_volunteers_action_network_lacks(
    fake: FakeActionNetwork, api: ActionNetworkHttpApi, uow: SqlAlchemyUnitOfWork,
    clock: FixedClock,
) -> None:  # fmt: skip
    statuses = ["subscribed", None, "unsubscribed"]
    for n in range(60):
        fake.add_person(_person(random_phone(), statuses[n % 3], n))
    with uow:
        for i in range(2):  # on file before Action Network was turned on
            v = make_volunteer(uow.session, first_name=f"Old{i}")
            record_opt_in(uow.session, phone=v.phone, volunteer=v, keyword="JOIN", channel="sms",
                          now=T0 - timedelta(days=30))  # fmt: skip
        make_volunteer(uow.session, status=VolunteerStatus.UNREACHABLE)  # no consent: not sent
        uow.commit()
    fake.fail(429, retry_after=0)

    report = sync_action_network(uow=uow, org=ON, clock=clock, api=api)

    assert report.error is None
    assert (report.queued, report.read) == (2, 60)
    p = report.people
    assert (p.joined, p.unreachable, p.opted_out) == (20, 20, 20)
    assert fake.answered("GET") == [429, 200, 200, 200]  # three pages, one retried
    assert _count(uow, Delivery) == 20  # the confirmation, to the subscribed only
    assert _count(uow, Volunteer, Volunteer.status == VolunteerStatus.ACTIVE) == 22
    assert _count(uow, Volunteer, Volunteer.status == VolunteerStatus.OPTED_OUT) == 20
    fake.now = T0
    assert drain_action_network_writes(uow=uow, clock=clock, api=api).done == 2
    assert sorted(s["person"]["given_name"] for s in fake.signups) == ["Old0", "Old1"]

    clock.advance(timedelta(hours=1))
    again = sync_action_network(uow=uow, org=ON, clock=clock, api=api)
    assert (again.queued, again.people.joined, again.people.opted_out) == (0, 0, 0)
    assert again.read == 2  # only the two people Muster itself just sent there
    assert _count(uow, Delivery) == 20
    with uow:
        runs = list(uow.session.scalars(select(SyncRun).order_by(SyncRun.id)))
        assert [r.ok for r in runs] == [True, True]
        assert runs[0].summary == (
            "sent 2 volunteers; read 60 people (20 joined, 20 kept without SMS consent, "
            "20 opted out)"
        )


def test_an_unsubscribe_missed_by_the_webhooks_is_made_up_for(
    fake: FakeActionNetwork, api: ActionNetworkHttpApi, uow: SqlAlchemyUnitOfWork,
    clock: FixedClock,
) -> None:  # fmt: skip
    phone = random_phone()
    fake.add_person(_person(phone, "subscribed", 1))
    sync_action_network(uow=uow, org=ON, clock=clock, api=api)
    fake.now = T0 + timedelta(minutes=30)
    fake.add_person(_person(phone, "unsubscribed", 1))  # (matched by email: the same person)
    clock.advance(timedelta(hours=1))
    report = sync_action_network(uow=uow, org=ON, clock=clock, api=api)
    assert (report.read, report.people.opted_out) == (1, 1)
    with uow:
        v = uow.session.scalars(select(Volunteer).where(Volunteer.phone == phone)).one()
        assert v.status == VolunteerStatus.OPTED_OUT
        assert uow.session.scalars(select(IntegrationWrite)).all() == []  # not echoed back


def test_a_failing_action_network_is_recorded_in_words(
    fake: FakeActionNetwork, api: ActionNetworkHttpApi, uow: SqlAlchemyUnitOfWork,
    clock: FixedClock,
) -> None:  # fmt: skip
    fake.fail(500, times=None)
    report = sync_action_network(uow=uow, org=ON, clock=clock, api=api)
    assert report.error == "Action Network answered 500: Request failed (fake)."
    with uow:
        run = uow.session.scalars(select(SyncRun)).one()
        assert (run.ok, run.error, run.cursor) == (False, report.error, None)
