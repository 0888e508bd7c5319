"""The sender against the fake Twilio, on SQLite and PostgreSQL: texts settled unsent at send
time because nobody should get them any more. A STOP or opt-out after the broadcast was
expanded, a reminder for a seat given up or a shift cancelled, a broadcast cancelled mid-way;
and the compliance reply that still reaches an opted-out number."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from bot.bootstrap import Container
from bot.web import create_app
from handlers.broadcasts import cancel_broadcast
from handlers.ports import FixedClock
from handlers.results import OutboundSms
from handlers.sending import enqueue_sms
from storage.models import Broadcast, BroadcastStatus, DeliveryStatus, Volunteer, VolunteerStatus
from tests.builders import make_volunteer
from tests.conftest import T0
from tests.fakes.twilio_api import FakeTwilio
from tests.sending import (
    FAST,
    RunningSender,
    broadcast,
    deliveries,
    drain,
    outstanding,
    volunteer,
    wait_until,
)


def test_a_stop_while_the_broadcast_goes_out_stops_that_number(
    app: Container, fake: FakeTwilio
) -> None:
    fake.latency = 0.02
    broadcast(app, 30)
    last = deliveries(app)[-1].to_phone
    with RunningSender(app, rate_mps=10_000.0, concurrency=1):
        fake.wait_for(3)
        # The volunteer texts STOP to our number: Twilio's signed webhook, the real route.
        params = {"From": last, "To": "+16175550100", "Body": "STOP", "MessageSid": "SMstop1"}
        signature = RequestValidator(fake.auth_token).compute_signature(
            "https://muster.example.org/twilio/sms", params
        )
        web = TestClient(create_app(app), base_url="https://muster.example.org")
        reply = web.post("/twilio/sms", data=params, headers={"X-Twilio-Signature": signature})
        assert reply.status_code == 200
        wait_until(lambda: outstanding(app) == 0)
    assert fake.sent_to(last) == []
    assert len(fake.sent()) == 29
    assert deliveries(app)[-1].status == DeliveryStatus.SKIPPED
    assert volunteer(app, last).status == VolunteerStatus.OPTED_OUT


def test_a_volunteer_opted_out_after_expansion_is_skipped_at_send_time(
    app: Container, fake: FakeTwilio
) -> None:
    broadcast(app, 3)
    phone = deliveries(app)[0].to_phone
    with app.uow() as uow:
        uow.session.scalar(
            select(Volunteer).where(Volunteer.phone == phone)
        ).status = VolunteerStatus.UNREACHABLE
        uow.commit()
    drain(app, **FAST)
    assert fake.sent_to(phone) == []
    assert deliveries(app)[0].status == DeliveryStatus.SKIPPED


def test_a_broadcast_whose_every_text_was_settled_unsent_is_finished(
    app: Container, fake: FakeTwilio
) -> None:
    """Everyone opted out after Confirm: nothing goes, and the broadcast does not stay queued."""
    broadcast_id = broadcast(app, 2)
    with app.uow() as uow:
        for v in uow.session.scalars(select(Volunteer)):
            v.status = VolunteerStatus.OPTED_OUT
        uow.commit()
    drain(app, **FAST)
    assert fake.sent() == []
    assert {d.status for d in deliveries(app)} == {DeliveryStatus.SKIPPED}
    with app.read_uow() as uow:
        assert uow.session.get(Broadcast, broadcast_id).status == BroadcastStatus.SENT


def _reminder_for(app: Container, *, drop: bool = False, cancel: bool = False) -> str:
    """A volunteer committed to a shift in two days, a reminder queued for that commitment; then
    maybe the volunteer drops, or the organizers cancel the shift. Returns the volunteer's phone."""
    from handlers.shifts import commit_to_shift, drop_commitment
    from tests.builders import make_shift

    with app.uow() as uow:
        v = make_volunteer(uow.session)
        shift = make_shift(uow.session, starts_at=T0 + timedelta(days=2))
        out = commit_to_shift(uow.session, volunteer=v, shift_id=shift.id, now=T0, channel="sms")
        assert out.commitment is not None
        reminder = OutboundSms(
            phone=v.phone,
            body="Canvass tomorrow at 10am. Reply C to confirm, DROP 1 if you can't make it.",
            kind="reminder",
            idempotency_key=f"rem:{out.commitment.id}:day_before",
            volunteer_id=v.id,
            commitment_id=out.commitment.id,
            send_after=T0,
        )
        enqueue_sms(uow.session, [reminder])
        if drop:
            drop_commitment(uow.session, volunteer=v, shift_id=shift.id, now=T0)
        if cancel:
            shift.cancelled_at = T0
        uow.commit()
        return v.phone


@pytest.mark.parametrize(("drop", "cancel"), [(True, False), (False, True)])
def test_a_reminder_goes_only_while_the_volunteer_still_holds_the_seat(
    app: Container, fake: FakeTwilio, drop: bool, cancel: bool
) -> None:
    seated = _reminder_for(app)
    gone = _reminder_for(app, drop=drop, cancel=cancel)
    drain(app, **FAST)
    assert len(fake.sent_to(seated)) == 1
    assert fake.sent_to(gone) == []
    (row,) = [d for d in deliveries(app) if d.to_phone == gone]
    assert row.status == DeliveryStatus.SKIPPED and "roster" in (row.error_message or "")


def test_an_opt_out_confirmation_reaches_the_opted_out_number_even_at_night(
    app: Container, fake: FakeTwilio, clock: FixedClock
) -> None:
    """The `compliance` kind (the replayed answer to a STOP or a HELP kept in the spool) goes to
    a number that has opted out, at any hour; an ordinary reply to it does not."""
    from handlers.sending import COMPLIANCE

    clock.set(datetime(2026, 11, 17, 3, 30, tzinfo=UTC))  # 22:30 in Boston: quiet hours
    with app.uow() as uow:
        v = make_volunteer(uow.session, status=VolunteerStatus.OPTED_OUT)
        texts = [
            OutboundSms(phone=v.phone, body="Mass Forward: you're unsubscribed.", kind=COMPLIANCE,
                        idempotency_key="spooled-reply:SMstop", volunteer_id=v.id,
                        send_after=clock.now()),
            OutboundSms(phone=v.phone, body="Thanks, we got it.", kind="reply",
                        idempotency_key="spooled-reply:SMother", volunteer_id=v.id,
                        send_after=clock.now()),
        ]  # fmt: skip
        enqueue_sms(uow.session, texts)
        uow.commit()
    drain(app, **FAST)
    assert [m["Body"] for m in fake.sent_to(v.phone)] == ["Mass Forward: you're unsubscribed."]
    assert [d.status for d in deliveries(app)][1] == DeliveryStatus.SKIPPED


def test_cancelling_mid_way_stops_everything_unsent(app: Container, fake: FakeTwilio) -> None:
    fake.latency = 0.02
    bid = broadcast(app, 40)
    with RunningSender(app, rate_mps=10_000.0, concurrency=2):
        fake.wait_for(5)
        with app.uow() as uow:
            cancelled = cancel_broadcast(uow.session, broadcast_id=bid, user_id="U2",
                                         now=app.clock.now())  # fmt: skip
            uow.commit()
        wait_until(lambda: outstanding(app) == 0)
    went = len(fake.sent())
    assert 5 <= went <= 5 + 2 + 2  # what was in flight or claimed when Cancel was pressed
    counts = Counter(r.status for r in deliveries(app))
    assert counts[DeliveryStatus.QUEUED] == went
    assert counts[DeliveryStatus.CANCELLED] == 40 - went
    assert cancelled >= 40 - went - 2
