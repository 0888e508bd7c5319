"""`POST /twilio/status` through the real route, signed by twilio's RequestValidator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from bot.bootstrap import Container
from bot.web import create_app
from handlers.broadcasts import confirm_broadcast, create_draft
from handlers.ports import FixedClock
from storage.models import Delivery, DeliveryStatus, Volunteer, VolunteerStatus
from tests.builders import make_volunteer
from tests.fakes.twilio_api import FakeTwilio
from tests.sending import drain, twilio_container

FAST = {"rate_mps": 10_000.0, "concurrency": 4}


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


@pytest.fixture
def app(db_url: str, engine: Engine, clock: FixedClock, fake: FakeTwilio) -> Container:
    c = twilio_container(db_url, engine, clock, fake)
    with c.uow() as uow:
        make_volunteer(uow.session)
        draft = create_draft(uow.session, body="Hi", audience="all", created_by="U1",
                             now=clock.now())  # fmt: skip
        confirm_broadcast(uow.session, broadcast_id=draft.id, user_id="U1", now=clock.now())
        uow.commit()
    drain(c, **FAST)
    return c


@pytest.fixture
def client(app: Container) -> TestClient:
    return TestClient(create_app(app), base_url="https://muster.example.org")


def post(client: TestClient, fake: FakeTwilio, status: str, error_code: int | None = None) -> int:
    sid = fake.sent()[0]["Sid"]
    url, params, signature = fake.status_callback(sid, status, error_code=error_code)
    assert url == "https://muster.example.org/twilio/status"
    response = client.post("/twilio/status", data=params, headers={"X-Twilio-Signature": signature})
    return response.status_code


def row(app: Container) -> tuple[Delivery, Volunteer]:
    with app.read_uow() as uow:
        delivery = uow.session.scalar(select(Delivery))
        person = uow.session.scalar(select(Volunteer))
        uow.session.expunge_all()
        return delivery, person


def test_callbacks_move_a_delivery_forward_and_never_back(
    client: TestClient, fake: FakeTwilio, app: Container
) -> None:
    assert row(app)[0].status == DeliveryStatus.QUEUED
    assert post(client, fake, "sent") == 204
    assert row(app)[0].status == DeliveryStatus.SENT
    assert post(client, fake, "delivered") == 204
    assert row(app)[0].status == DeliveryStatus.DELIVERED
    assert post(client, fake, "sent") == 204  # late and out of order: ignored
    assert post(client, fake, "queued") == 204
    assert row(app)[0].status == DeliveryStatus.DELIVERED


def test_an_unsigned_or_forged_callback_is_refused(
    client: TestClient, fake: FakeTwilio, app: Container
) -> None:
    sid = fake.sent()[0]["Sid"]
    _url, params, signature = fake.status_callback(sid, "failed", error_code=21610)
    assert client.post("/twilio/status", data=params).status_code == 403
    params["MessageStatus"] = "delivered"  # tampered after signing
    headers = {"X-Twilio-Signature": signature}
    assert client.post("/twilio/status", data=params, headers=headers).status_code == 403
    delivery, person = row(app)
    assert delivery.status == DeliveryStatus.QUEUED
    assert person.status == VolunteerStatus.ACTIVE


@pytest.mark.parametrize(
    ("status", "code", "row_status", "volunteer_status"),
    [
        ("undelivered", 30005, DeliveryStatus.UNDELIVERED, VolunteerStatus.UNREACHABLE),
        ("undelivered", 30006, DeliveryStatus.UNDELIVERED, VolunteerStatus.UNREACHABLE),
        ("failed", 21610, DeliveryStatus.FAILED, VolunteerStatus.OPTED_OUT),
        ("undelivered", 30007, DeliveryStatus.UNDELIVERED, VolunteerStatus.ACTIVE),
        ("undelivered", 30036, DeliveryStatus.UNDELIVERED, VolunteerStatus.ACTIVE),
    ],
)
def test_error_codes_on_callbacks_act_like_send_errors(
    client: TestClient, fake: FakeTwilio, app: Container, status: str, code: int,
    row_status: DeliveryStatus, volunteer_status: VolunteerStatus,
) -> None:  # fmt: skip
    assert post(client, fake, status, code) == 204
    delivery, person = row(app)
    assert (delivery.status, delivery.error_code) == (row_status, str(code))
    assert person.status == volunteer_status


def test_a_handset_that_was_off_gets_the_text_again_later(
    client: TestClient, fake: FakeTwilio, app: Container, clock: FixedClock
) -> None:
    assert post(client, fake, "undelivered", 30003) == 204
    delivery, _ = row(app)
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.send_after >= clock.now() + timedelta(minutes=5)
    clock.set(delivery.send_after)
    drain(app, **FAST)
    assert len(fake.sent()) == 2
    assert row(app)[0].provider_sid == fake.sent()[1]["Sid"]


def test_a_callback_for_an_unknown_message_is_acknowledged(client: TestClient, fake) -> None:
    from twilio.request_validator import RequestValidator

    params = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered"}
    url = "https://muster.example.org/twilio/status"
    signature = RequestValidator(fake.auth_token).compute_signature(url, params)
    response = client.post("/twilio/status", data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 204
