"""A seat on a Mobilize shift is written back to Mobilize once, through a fake answering 429 and
500 first; a DROP cancels it; a volunteer without an email is asked once and the write waits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.mobilize_api import MobilizeHttpApi
from handlers.config import OrgConfig
from handlers.consent import record_opt_in
from handlers.messages import Channel, InboundText
from handlers.mobilize import sync_mobilize
from handlers.mobilize_writes import drain_mobilize_writes, enqueue_attendance, enqueue_cancellation
from handlers.ports import FixedClock
from handlers.results import Result
from handlers.sending import record_effects
from handlers.shifts import commit_to_shift, drop_commitment
from handlers.volunteer.receive import receive_text, receive_texts
from storage.integrations import IntegrationWrite, WriteStatus, release_waiting
from storage.models import Delivery, Shift, Volunteer
from storage.uow import SqlAlchemyUnitOfWork
from tests.adapters.sms_phone import new_sid
from tests.builders import make_volunteer
from tests.conftest import T0
from tests.fakes.mobilize_api import FakeMobilize

NOW = int(T0.timestamp())


@pytest.fixture
def fake() -> Iterator[FakeMobilize]:
    with FakeMobilize(now=NOW) as server:
        yield server


@pytest.fixture
def api(fake: FakeMobilize) -> Iterator[MobilizeHttpApi]:
    client = MobilizeHttpApi(
        base_url=fake.url, organization_id=str(fake.organization_id), api_key=fake.api_key
    )
    yield client
    client.close()


def test_yes_writes_one_attendance_through_429_and_500_and_drop_cancels_it(
    fake: FakeMobilize, api: MobilizeHttpApi, uow: SqlAlchemyUnitOfWork, clock: FixedClock
) -> None:
    fake.add_event(title="Canvass", timeslots=[(NOW + 86_400, NOW + 90_000)])
    sync_mobilize(uow=uow, org=OrgConfig(), clock=clock, mobilize=api)
    with uow:
        s = uow.session
        shift = s.scalars(select(Shift)).one()
        v = make_volunteer(s, first_name="Maria Lopez", zip="02124", email="maria@example.org")
        record_opt_in(s, phone=v.phone, volunteer=v, keyword="JOIN", channel="sms", now=T0)
        outcome = commit_to_shift(s, volunteer=v, shift_id=shift.id, now=T0, channel="sms")
        for _ in range(2):  # (a producer that runs twice leaves one row)
            asked = enqueue_attendance(
                s, volunteer=v, shift=shift, commitment=outcome.commitment, now=T0
            )
            assert asked == ()  # an email is known: nothing to ask
        uow.commit()
        phone, shift_id, event_id, timeslot_id = (
            v.phone,
            shift.id,
            shift.mobilize_event_id,
            shift.mobilize_timeslot_id,
        )
    fake.fail(429, writes_only=True, retry_after=5)
    fake.fail(500, writes_only=True)

    reports = []
    for _ in range(3):
        reports.append(drain_mobilize_writes(uow=uow, clock=clock, mobilize=api))
        clock.advance(timedelta(minutes=5))

    assert [(r.done, r.retried) for r in reports] == [(0, 1), (0, 1), (1, 0)]
    assert fake.answered("POST") == [429, 500, 201]
    assert fake.attendances == [
        {
            "person": {
                "given_name": "Maria",
                "family_name": "Lopez",
                "email_address": "maria@example.org",
                "postal_code": "02124",
                "phone_number": phone.removeprefix("+1"),
            },
            "sms_opt_in_status": "OPT_IN",
            "timeslots": [{"timeslot_id": timeslot_id}],
            "referrer": {"utm_source": "muster", "utm_medium": "sms"},
            "event_id": event_id,
        }
    ]
    assert drain_mobilize_writes(uow=uow, clock=clock, mobilize=api).done == 0  # never doubled

    with uow:
        s = uow.session
        volunteer = s.scalars(select(Volunteer).where(Volunteer.phone == phone)).one()
        drop = drop_commitment(s, volunteer=volunteer, shift_id=shift_id, now=T0)
        enqueue_cancellation(s, commitment=drop.commitment, now=clock.now())
        uow.commit()
    assert drain_mobilize_writes(uow=uow, clock=clock, mobilize=api).done == 1
    assert [r["status"] for r in fake.records.values()] == ["CANCELLED"]


def test_without_an_email_the_volunteer_is_asked_once_and_the_write_waits(
    fake: FakeMobilize, api: MobilizeHttpApi, uow: SqlAlchemyUnitOfWork, clock: FixedClock
) -> None:
    for _ in range(2):
        fake.add_event(title="Canvass", timeslots=[(NOW + 86_400, NOW + 90_000)])
    sync_mobilize(uow=uow, org=OrgConfig(), clock=clock, mobilize=api)
    with uow:
        s = uow.session
        v = make_volunteer(s, first_name="Sam Lee", email=None)
        for shift in s.scalars(select(Shift)):
            outcome = commit_to_shift(s, volunteer=v, shift_id=shift.id, now=T0, channel="sms")
            sms = enqueue_attendance(
                s, volunteer=v, shift=shift, commitment=outcome.commitment, now=T0
            )
            record_effects(s, Result(sms=sms))
        uow.commit()
        vid = v.id

    assert drain_mobilize_writes(uow=uow, clock=clock, mobilize=api).done == 0
    assert fake.attendances == []
    with uow:
        s = uow.session
        asks = list(s.scalars(select(Delivery).where(Delivery.kind == "email_ask")))
        assert len(asks) == 1 and "EMAIL" in asks[0].body
        s.get_one(Volunteer, vid).email = "sam@example.org"
        assert release_waiting(s, volunteer_id=vid, now=clock.now()) == 2
        uow.commit()
    assert drain_mobilize_writes(uow=uow, clock=clock, mobilize=api).done == 2
    assert [a["person"]["email_address"] for a in fake.attendances] == ["sam@example.org"] * 2
    with uow:
        statuses = {w.status for w in uow.session.scalars(select(IntegrationWrite))}
        assert statuses == {WriteStatus.DONE}


def _text(phone: str, body: str) -> InboundText:
    return InboundText(Channel.SMS, phone, body, T0, new_sid())


@pytest.mark.parametrize("batched", [False, True])
def test_yes_and_drop_by_sms_write_back_and_email_releases_the_wait(
    fake: FakeMobilize,
    api: MobilizeHttpApi,
    uow: SqlAlchemyUnitOfWork,
    clock: FixedClock,
    batched: bool,
) -> None:
    fake.add_event(title="Canvass", timeslots=[(NOW + 86_400, NOW + 90_000)])
    sync_mobilize(uow=uow, org=OrgConfig(), clock=clock, mobilize=api)
    with uow:
        s = uow.session
        shift_id = s.scalars(select(Shift.id)).one()
        v = make_volunteer(s, first_name="Sam Lee", email=None)
        record_opt_in(s, phone=v.phone, volunteer=v, keyword="JOIN", channel="sms", now=T0)
        phone, vid = v.phone, v.id
        uow.commit()

    def say(*bodies: str) -> list[Result]:
        msgs = [_text(phone, b) for b in bodies]
        if batched:
            out = receive_texts(msgs, uow=uow, org=OrgConfig(), clock=clock)
            assert all(isinstance(r, Result) for r in out)
            return out  # type: ignore[return-value]
        return [receive_text(m, uow=uow, org=OrgConfig(), clock=clock) for m in msgs]

    say(f"YES {shift_id}")
    assert drain_mobilize_writes(uow=uow, clock=clock, mobilize=api).done == 0  # no email yet
    say(f"DROP {shift_id}", f"YES {shift_id}")  # asked once only, for both sign-ups
    with uow:
        asks = list(uow.session.scalars(select(Delivery).where(Delivery.kind == "email_ask")))
        assert len(asks) == 1 and "EMAIL" in asks[0].body
    (reply,) = say("EMAIL Sam@Example.org")
    assert "sam@example.org" in (reply.reply or "").lower()
    fake.fail(429, writes_only=True, retry_after=5)
    fake.fail(500, writes_only=True)
    for _ in range(3):
        drain_mobilize_writes(uow=uow, clock=clock, mobilize=api)
        clock.advance(timedelta(minutes=5))
    assert fake.answered("POST") == [429, 500, 201]
    assert len(fake.attendances) == 1  # the first, dropped before it was sent, never went
    assert fake.attendances[0]["person"]["email_address"] == "Sam@example.org"  # domain folded
    assert fake.attendances[0]["sms_opt_in_status"] == "OPT_IN"
    say(f"DROP {shift_id}")
    assert drain_mobilize_writes(uow=uow, clock=clock, mobilize=api).done == 1
    assert [r["status"] for r in fake.records.values()] == ["CANCELLED"]
    with uow:
        assert uow.session.get_one(Volunteer, vid).email == "Sam@example.org"
