"""The sender against the fake Twilio, on SQLite and PostgreSQL: when a text does not go. Each
Twilio error code's effect on the text and the volunteer, retries after a 429 and back-off
after a 5xx, bad credentials and an unreachable Twilio keeping texts for later, and the loop
guard failing a text repeated too often."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from bot.bootstrap import Container, bootstrap
from handlers.ports import FixedClock
from handlers.results import OutboundSms
from handlers.sending import enqueue_sms
from storage.models import ConsentEvent, DeliveryStatus, VolunteerStatus
from tests.builders import random_phone
from tests.conftest import T0, make_settings
from tests.fakes.twilio_api import FakeTwilio
from tests.sending import FAST, broadcast, deliveries, drain, volunteer


@pytest.mark.parametrize(
    ("code", "row_status", "volunteer_status"),
    [
        (21610, DeliveryStatus.FAILED, VolunteerStatus.OPTED_OUT),
        (21211, DeliveryStatus.FAILED, VolunteerStatus.UNREACHABLE),
        (21614, DeliveryStatus.FAILED, VolunteerStatus.UNREACHABLE),
        (30007, DeliveryStatus.FAILED, VolunteerStatus.ACTIVE),
        (21408, DeliveryStatus.FAILED, VolunteerStatus.ACTIVE),
        (20500, DeliveryStatus.PENDING, VolunteerStatus.ACTIVE),
        (20503, DeliveryStatus.PENDING, VolunteerStatus.ACTIVE),
        (20429, DeliveryStatus.PENDING, VolunteerStatus.ACTIVE),
        (21611, DeliveryStatus.PENDING, VolunteerStatus.ACTIVE),
    ],
)
def test_each_error_code_has_its_effect(
    app: Container, fake: FakeTwilio, code: int, row_status: DeliveryStatus,
    volunteer_status: VolunteerStatus,
) -> None:  # fmt: skip
    broadcast(app, 3)
    bad = deliveries(app)[1].to_phone
    fake.fail(code=code, to=bad)
    drain(app, **FAST)
    rows = {r.to_phone: r for r in deliveries(app)}
    assert rows[bad].status == row_status
    assert rows[bad].error_code == str(code)
    assert volunteer(app, bad).status == volunteer_status
    others = [r for p, r in rows.items() if p != bad]
    assert {r.status for r in others} == {DeliveryStatus.QUEUED}
    assert len(fake.sent()) == 2
    if row_status == DeliveryStatus.PENDING:  # retried later, not lost
        assert rows[bad].send_after > app.clock.now()
    with app.read_uow() as uow:
        query = select(ConsentEvent.action, ConsentEvent.channel).where(ConsentEvent.phone == bad)
        ledger = [tuple(row) for row in uow.session.execute(query)]
    if code == 21610:
        assert ledger == [("opt_out", "twilio_error")]
    else:
        assert ledger == []


def test_a_429_is_retried_after_its_retry_after(
    app: Container, fake: FakeTwilio, clock: FixedClock
) -> None:
    broadcast(app, 1)
    fake.fail(code=20429, times=1, retry_after=30)
    drain(app, **FAST)
    row = deliveries(app)[0]
    assert (row.status, row.attempts, row.send_after) == (
        DeliveryStatus.PENDING, 1, T0 + timedelta(seconds=30),
    )  # fmt: skip
    clock.advance(29)
    drain(app, **FAST)
    assert fake.sent() == []
    clock.advance(1)
    drain(app, **FAST)
    assert len(fake.sent()) == 1
    assert [r.answered for r in fake.requests] == [429, 201]
    assert deliveries(app)[0].status == DeliveryStatus.QUEUED


def test_a_5xx_backs_off_and_gives_up_after_the_last_attempt(
    app: Container, fake: FakeTwilio, clock: FixedClock
) -> None:
    broadcast(app, 1)
    fake.fail(code=20500)
    waits = []
    for _ in range(6):
        drain(app, **FAST)
        row = deliveries(app)[0]
        waits.append(row.send_after - clock.now())
        clock.set(row.send_after)
    row = deliveries(app)[0]
    assert row.status == DeliveryStatus.FAILED
    assert row.attempts == 6
    assert waits[:5] == [timedelta(seconds=s) for s in (2, 4, 8, 16, 32)]


def test_the_loop_guard_fails_the_21st_identical_text(app: Container, fake: FakeTwilio) -> None:
    phone = random_phone()
    with app.uow() as uow:
        enqueue_sms(uow.session, [
            OutboundSms(phone=phone, body="Reply C to confirm", kind="reply",
                        idempotency_key=f"reply:{i}", send_after=T0) for i in range(25)
        ])  # fmt: skip
        uow.commit()
    drain(app, **FAST)
    assert len(fake.sent_to(phone)) == 20
    assert Counter(r.error_code for r in deliveries(app)) == {None: 20, "loop_guard": 5}


def test_bad_credentials_keep_the_texts_for_later(app: Container, fake: FakeTwilio) -> None:
    broadcast(app, 2)
    fake.fail(code=20003)
    drain(app, **FAST)
    rows = deliveries(app)
    assert {r.status for r in rows} == {DeliveryStatus.PENDING}
    assert {(r.attempts, r.send_after) for r in rows} == {(0, T0 + timedelta(minutes=1))}


def test_twilio_unreachable_keeps_every_text_for_later(
    db_url: str, engine: Engine, clock: FixedClock
) -> None:
    from tests.fakes.threaded_server import free_port

    settings = make_settings(
        db_url, twilio_account_sid="AC" + "1" * 32, twilio_auth_token="t",
        twilio_api_url=f"http://127.0.0.1:{free_port()}", twilio_from_number="+16175550100",
    )  # fmt: skip
    app = bootstrap(settings, clock=clock, engine=engine)
    broadcast(app, 3)
    drain(app, **FAST)
    rows = deliveries(app)
    assert {(r.status, r.error_code, r.attempts) for r in rows} == {
        (DeliveryStatus.PENDING, "network", 1)
    }
    assert all(r.send_after == T0 + timedelta(seconds=2) for r in rows)
