"""`POST /actionnetwork/webhook/{secret}` through the real web app: a batch of three people
(consented, not consented, an unsubscribe) does what it says; a replayed batch changes nothing;
a wrong secret is a 404 and stores nothing; a volunteer from Action Network who texts STOP is
unsubscribed there too."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient

from bot.action_network_api import ActionNetworkHttpApi
from bot.bootstrap import Container, bootstrap
from bot.web import create_app
from handlers.action_network_writes import drain_action_network_writes, enqueue_person
from handlers.consent import record_opt_in, record_opt_out
from handlers.messages import Channel, InboundText
from handlers.ports import FixedClock
from handlers.volunteer.receive import receive_text
from storage.integrations import IntegrationWrite
from storage.models import (
    ConsentAction,
    ConsentEvent,
    Delivery,
    ProcessedEvent,
    SlackPost,
    Volunteer,
    VolunteerStatus,
)
from tests.adapters.sms_phone import new_sid
from tests.builders import make_volunteer, random_phone
from tests.conftest import make_settings
from tests.fakes.action_network_api import FakeActionNetwork

SECRET = "wh-3f9a7c"


@pytest.fixture
def fake() -> Iterator[FakeActionNetwork]:
    with FakeActionNetwork() as server:
        yield server


@pytest.fixture
def app(db_url: str, engine: Engine, clock: FixedClock, fake: FakeActionNetwork) -> Container:
    settings = make_settings(db_url, action_network_webhook_secret=SECRET, **{
        k.lower(): v for k, v in fake.environment().items()
    })  # fmt: skip
    return bootstrap(settings, clock=clock, engine=engine)


@pytest.fixture
def client(app: Container) -> TestClient:
    return TestClient(create_app(app), base_url="https://muster.example.org")


def _phone_hash(phone: str, status: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"primary": True, "number": phone.removeprefix("+"),
                             "number_type": "Mobile"}  # fmt: skip
    if status is not None:
        entry["status"] = status
    return entry


def _person(phone: str, status: str | None, **fields: Any) -> dict[str, Any]:
    return {
        "given_name": fields.get("given", "Rosa"),
        "family_name": fields.get("family", "Diaz"),
        "email_addresses": [
            {
                "primary": True,
                "address": fields.get("email", "rosa@example.org"),
                "status": "subscribed",
            }
        ],
        "postal_addresses": [
            {"primary": True, "postal_code": fields.get("zip", "02124"), "country": "US"}
        ],
        "phone_numbers": [_phone_hash(phone, status)],
    }


def _count(app: Container, what: Any) -> int:
    with app.read_uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(what)) or 0)


def test_a_batch_of_three_does_what_it_says_and_a_replay_changes_nothing(
    app: Container, client: TestClient, fake: FakeActionNetwork
) -> None:
    consented, silent, leaving = random_phone(), random_phone(), random_phone()
    with app.uow() as uow:
        v = make_volunteer(uow.session, phone=leaving, first_name="Kim")
        record_opt_in(uow.session, phone=leaving, volunteer=v, keyword="JOIN", channel="sms",
                      now=app.clock.now())  # fmt: skip
        uow.commit()
    batch = [
        fake.webhook_item(
            "osdi:submission", _person(consented, "subscribed"), add_tags=["canvass", "Climate"]
        ),
        fake.webhook_item("osdi:signature", _person(silent, None, given="Joe", email="j@x.org")),
        fake.webhook_item("action_network:action", _person(leaving, "unsubscribed", email="k@x.o")),
    ]

    first = client.post(f"/actionnetwork/webhook/{SECRET}", json=batch)
    assert first.status_code == 200
    assert first.json() | {} == {
        "items": 3, "joined": 1, "unreachable": 1, "opted_out": 1, "kept_out": 0,
        "updated": 1, "stale": 0, "duplicates": 0, "ignored": 0,
    }  # fmt: skip
    with app.read_uow() as uow:
        s = uow.session
        people = {v.phone: v for v in s.scalars(select(Volunteer))}
        rosa = people[consented]
        assert (rosa.status, rosa.source, rosa.first_name) == (
            VolunteerStatus.ACTIVE, "action_network", "Rosa Diaz",
        )  # fmt: skip
        assert (rosa.email, rosa.zip, rosa.tag_names) == ("rosa@example.org", "02124", ["canvass"])
        assert people[silent].status == VolunteerStatus.UNREACHABLE
        assert people[leaving].status == VolunteerStatus.OPTED_OUT
        assert (people[leaving].first_name, people[leaving].email) == ("Kim", "k@x.o")  # a gap
        ledger = [(e.phone, e.action, e.channel) for e in s.scalars(
            select(ConsentEvent).where(ConsentEvent.channel == "action_network")
            .order_by(ConsentEvent.id))]  # fmt: skip
        assert ledger == [
            (consented, ConsentAction.OPT_IN, "action_network"),
            (leaving, ConsentAction.OPT_OUT, "action_network"),
        ]
        texts = list(s.scalars(select(Delivery)))
        assert [t.to_phone for t in texts] == [consented]  # the unsubscribed get no text
        assert texts[0].body.startswith("Mass Forward: You signed up on our form")
        assert "STOP to opt out" in texts[0].body
        assert s.scalars(select(IntegrationWrite)).all() == []  # nothing echoed back
    before = (_count(app, ConsentEvent), _count(app, Delivery), _count(app, SlackPost))

    again = client.post(f"/actionnetwork/webhook/{SECRET}", json=batch)
    assert again.status_code == 200 and again.json()["duplicates"] == 3
    assert (_count(app, ConsentEvent), _count(app, Delivery), _count(app, SlackPost)) == before
    assert _count(app, Volunteer) == 3


def test_a_wrong_secret_is_a_404_and_stores_nothing(
    app: Container, client: TestClient, fake: FakeActionNetwork
) -> None:
    batch = [fake.webhook_item("osdi:submission", _person(random_phone(), "subscribed"))]
    for path in (
        f"/actionnetwork/webhook/{SECRET}x",
        "/actionnetwork/webhook/",
        "/actionnetwork/webhook/wrong",
    ):
        assert client.post(path, json=batch).status_code == 404
    assert (_count(app, Volunteer), _count(app, ProcessedEvent), _count(app, Delivery)) == (0, 0, 0)


def test_without_a_secret_there_is_no_webhook(
    db_url: str, engine: Engine, clock: FixedClock, fake: FakeActionNetwork
) -> None:
    app = bootstrap(make_settings(db_url), clock=clock, engine=engine)
    client = TestClient(create_app(app), base_url="https://muster.example.org")
    batch = [fake.webhook_item("osdi:submission", _person(random_phone(), "subscribed"))]
    assert client.post(f"/actionnetwork/webhook/{SECRET}", json=batch).status_code == 404
    assert _count(app, Volunteer) == 0


def test_a_stop_here_is_kept_over_a_form_subscribe_and_the_organizers_are_told(
    app: Container, client: TestClient, fake: FakeActionNetwork
) -> None:
    phone = random_phone()
    with app.uow() as uow:
        v = make_volunteer(uow.session, phone=phone)
        record_opt_out(uow.session, phone=phone, volunteer=v, keyword="STOP", channel="sms",
                       now=app.clock.now())  # fmt: skip
        uow.commit()
    batch = [fake.webhook_item("osdi:submission", _person(phone, "subscribed"))]
    assert client.post(f"/actionnetwork/webhook/{SECRET}", json=batch).json()["kept_out"] == 1
    with app.read_uow() as uow:
        assert uow.session.scalars(select(Volunteer.status)).one() == VolunteerStatus.OPTED_OUT
        (post,) = uow.session.scalars(select(SlackPost)).all()
        assert "still opted out" in post.text
    assert _count(app, Delivery) == 0


def test_a_volunteer_from_action_network_who_texts_stop_is_unsubscribed_there(
    app: Container, client: TestClient, fake: FakeActionNetwork, clock: FixedClock
) -> None:
    phone = random_phone()
    batch = [fake.webhook_item("osdi:submission", _person(phone, "subscribed"))]
    assert client.post(f"/actionnetwork/webhook/{SECRET}", json=batch).json()["joined"] == 1
    receive_text(InboundText(Channel.SMS, phone, "STOP", clock.now(), new_sid()), uow=app.uow(),
                 org=app.org, clock=clock)  # fmt: skip
    api = ActionNetworkHttpApi(base_url=fake.url, api_key=fake.api_key)
    try:
        assert drain_action_network_writes(uow=app.uow(), clock=clock, api=api).done == 1
    finally:
        api.close()
    assert fake.phone_status(phone) == "unsubscribed"
    assert fake.signups[0]["person"]["email_addresses"] == [{"address": "rosa@example.org"}]


def test_an_older_status_from_action_network_does_not_undo_a_newer_one_here(
    app: Container, client: TestClient, fake: FakeActionNetwork, clock: FixedClock
) -> None:
    back, untold = random_phone(), random_phone()
    with app.uow() as uow:
        for phone in (back, untold):
            v = make_volunteer(uow.session, phone=phone)
            record_opt_in(uow.session, phone=phone, volunteer=v, keyword="START", channel="sms",
                          now=clock.now())  # fmt: skip
        uow.commit()
    fake.now = clock.now() - timedelta(hours=1)  # (Action Network's action: before the START)
    older = fake.webhook_item("osdi:signature", _person(back, "unsubscribed"))
    fake.now = clock.now() + timedelta(hours=1)
    batch = [older, fake.webhook_item("osdi:signature", _person(untold, "unsubscribed"))]
    with app.uow() as uow:  # a STOP and START here that Action Network has not been told yet
        v = uow.session.scalars(select(Volunteer).where(Volunteer.phone == untold)).one()
        enqueue_person(uow.session, volunteer=v, now=clock.now(), cause="consent")
        uow.commit()
    assert client.post(f"/actionnetwork/webhook/{SECRET}", json=batch).json()["stale"] == 2
    with app.read_uow() as uow:
        statuses = set(uow.session.scalars(select(Volunteer.status)))
        assert statuses == {VolunteerStatus.ACTIVE}
