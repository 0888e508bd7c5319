"""The sender against the fake Twilio (real twilio client code), on SQLite and PostgreSQL: what
goes out and when. Every recipient once, transactional texts first, starts paced by segments in
the shared bucket, workers sharing an outbox and taking over a dead one's claims, quiet hours
and deadlines, and the other transports (console, messaging service)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from bot.bootstrap import Container, bootstrap
from bot.parts import sender_for
from handlers.ports import FixedClock
from handlers.results import OutboundSms
from handlers.sending import enqueue_sms
from storage.models import Broadcast, BroadcastStatus, Delivery, DeliveryStatus, Priority
from tests.builders import AREA_CODES, make_volunteer, random_phone
from tests.conftest import ON_POSTGRES, T0, make_settings
from tests.fakes.twilio_api import FakeTwilio
from tests.sending import (
    FAST,
    RunningSender,
    broadcast,
    deliveries,
    drain,
    outstanding,
    twilio_container,
    wait_until,
)


def test_a_broadcast_reaches_every_recipient_once(app: Container, fake: FakeTwilio) -> None:
    bid = broadcast(app, 40)
    drain(app, **FAST)
    sent = fake.sent()
    assert len(sent) == 40
    assert len({m["To"] for m in sent}) == 40
    assert {m["Body"] for m in sent} == {"Canvass Sat 10am. Reply YES"}
    assert {m["From"] for m in sent} == {"+16175550100"}
    assert {m["StatusCallback"] for m in sent} == {"https://muster.example.org/twilio/status"}
    assert all("ValidityPeriod" not in m for m in sent)
    rows = deliveries(app)
    assert {r.status for r in rows} == {DeliveryStatus.QUEUED}
    assert {r.provider_sid for r in rows} == {m["Sid"] for m in sent}
    assert all(r.attempts == 1 and r.claimed_by is None for r in rows)
    with app.read_uow() as uow:
        assert uow.session.get(Broadcast, bid).status == BroadcastStatus.SENT


def test_transactional_texts_go_ahead_of_a_bulk_broadcast(app: Container, fake: FakeTwilio) -> None:
    broadcast(app, 15)
    promoted = random_phone()
    with app.uow() as uow:
        enqueue_sms(uow.session, [OutboundSms(phone=promoted, body="You're in for Sat!",
                                              kind="promotion", idempotency_key="promo:1",
                                              priority=int(Priority.TRANSACTIONAL),
                                              send_after=T0)])  # fmt: skip
        uow.commit()
    drain(app, rate_mps=10_000.0, concurrency=1)
    assert fake.sent()[0]["To"] == promoted
    assert len(fake.sent()) == 16


def test_a_broadcast_left_sending_with_nothing_to_send_is_finished_by_the_next_check(
    app: Container, fake: FakeTwilio
) -> None:
    """Two workers writing a broadcast's last texts at the same moment each see the other's
    still claimed, and neither marks it sent; a worker's regular check (at its start, then
    every 30 s) does."""
    broadcast_id = broadcast(app, 3)
    drain(app, **FAST)
    assert len(fake.sent()) == 3
    with app.uow() as uow:  # the state that race leaves
        uow.session.get(Broadcast, broadcast_id).status = BroadcastStatus.SENDING
        uow.commit()
    with RunningSender(app, **FAST):
        wait_until(lambda: _status(app, broadcast_id) == BroadcastStatus.SENT, timeout=10)
    assert len(fake.sent()) == 3  # and nothing was sent again


def _status(app: Container, broadcast_id: int) -> BroadcastStatus:
    with app.read_uow() as uow:
        return uow.session.get(Broadcast, broadcast_id).status


def test_quiet_hours_hold_each_volunteer_until_their_own_morning(
    app: Container, fake: FakeTwilio, clock: FixedClock
) -> None:
    clock.set(datetime(2026, 11, 17, 2, 30, tzinfo=UTC))  # 21:30 Boston, 20:30 Chicago, 16:30 HNL
    with app.uow() as uow:
        for zone, area in AREA_CODES.items():
            if zone != "America/Los_Angeles":
                make_volunteer(uow.session, timezone=zone, phone=random_phone(area))
        uow.commit()
    broadcast(app)
    drain(app, **FAST)
    by_zone = {r.to_phone[:5]: r for r in deliveries(app)}
    assert sorted(m["To"][:5] for m in fake.sent()) == ["+1312", "+1808"]
    boston = by_zone["+1617"]
    assert boston.status == DeliveryStatus.PENDING
    assert boston.send_after == datetime(2026, 11, 17, 14, 0, tzinfo=UTC)  # 09:00 in Boston
    clock.set(datetime(2026, 11, 17, 13, 59, tzinfo=UTC))
    drain(app, **FAST)
    assert len(fake.sent()) == 2
    clock.set(datetime(2026, 11, 17, 14, 0, tzinfo=UTC))
    drain(app, **FAST)
    assert sorted(m["To"][:5] for m in fake.sent()) == ["+1312", "+1617", "+1808"]


def test_without_a_stored_zone_the_number_s_area_code_decides(
    app: Container, fake: FakeTwilio, clock: FixedClock
) -> None:
    clock.set(datetime(2026, 11, 17, 2, 30, tzinfo=UTC))  # 21:30 Boston, 16:30 Honolulu
    with app.uow() as uow:
        make_volunteer(uow.session, timezone=None, phone=random_phone("808"))
        make_volunteer(uow.session, timezone=None, phone=random_phone("617"))
        uow.commit()
    broadcast(app)
    drain(app, **FAST)
    assert [m["To"][:5] for m in fake.sent()] == ["+1808"]


def test_the_quiet_hours_override_sends_at_night(
    app: Container, fake: FakeTwilio, clock: FixedClock
) -> None:
    clock.set(datetime(2026, 11, 17, 8, 0, tzinfo=UTC))  # night everywhere in the US
    broadcast(app, 3, body="Flood: shelter open at the high school", quiet_hours_override=True)
    drain(app, **FAST)
    assert len(fake.sent()) == 3


def test_a_deadline_is_never_sent_late(app: Container, fake: FakeTwilio, clock: FixedClock) -> None:
    broadcast(app, 2, deadline=T0 + timedelta(hours=1))
    drain(app, **FAST)
    assert {m["ValidityPeriod"] for m in fake.sent()} == {"3600"}
    # Held overnight by quiet hours past its deadline: expired, not sent in the morning.
    clock.set(datetime(2026, 11, 17, 1, 30, tzinfo=UTC))  # 20:30 in Boston
    broadcast(app, 2, deadline=clock.now() + timedelta(hours=2))
    clock.advance(timedelta(hours=1))  # 21:30: quiet
    drain(app, **FAST)
    clock.set(datetime(2026, 11, 17, 14, 0, tzinfo=UTC))
    drain(app, **FAST)
    assert len(fake.sent()) == 2
    assert Counter(r.status for r in deliveries(app)) == {
        DeliveryStatus.QUEUED: 2, DeliveryStatus.EXPIRED: 4,
    }  # fmt: skip


def test_claims_of_a_dead_worker_are_released_and_sent(
    app: Container, fake: FakeTwilio, clock: FixedClock
) -> None:
    broadcast(app, 3)
    with app.uow() as uow:
        rows = uow.session.scalars(select(Delivery).order_by(Delivery.id)).all()
        rows[0].status, rows[0].claimed_by = DeliveryStatus.CLAIMED, "elsewhere:1:abc"
        rows[0].claimed_at = clock.now() - timedelta(minutes=5)  # another machine, long silent
        rows[1].status, rows[1].claimed_by = DeliveryStatus.CLAIMED, "elsewhere:2:abc"
        rows[1].claimed_at = clock.now()  # another machine, still working: left alone
        uow.commit()
    with RunningSender(app, **FAST):
        wait_until(lambda: len(fake.sent()) == 2)
    assert deliveries(app)[1].status == DeliveryStatus.CLAIMED
    assert len(fake.sent()) == 2


def test_the_console_transport_marks_texts_delivered(
    db_url: str, engine: Engine, clock: FixedClock
) -> None:
    app = bootstrap(make_settings(db_url), clock=clock, engine=engine)
    broadcast(app, 3)
    drain(app, **FAST)
    rows = deliveries(app)
    assert {r.status for r in rows} == {DeliveryStatus.DELIVERED}
    assert all(r.provider_sid.startswith("CONSOLE") for r in rows)


@pytest.mark.skipif(not ON_POSTGRES, reason="several workers share one outbox on PostgreSQL only "
                    "(FOR UPDATE SKIP LOCKED); SQLite runs the single-process path")  # fmt: skip
def test_two_workers_share_one_broadcast_without_sending_anything_twice(
    db_url: str, clock: FixedClock, fake: FakeTwilio
) -> None:
    from storage.db import make_engine

    fake.latency = 0.005
    engines = [make_engine(db_url), make_engine(db_url)]
    apps = [twilio_container(db_url, e, clock, fake) for e in engines]
    broadcast(apps[0], 300)
    senders = [sender_for(a, rate_mps=10_000.0, concurrency=10) for a in apps]
    stop = threading.Event()
    import asyncio

    threads = [threading.Thread(target=asyncio.run, args=(s.run(stop),)) for s in senders]
    for t in threads:
        t.start()
    try:
        fake.wait_for(300, timeout=60)
        wait_until(lambda: outstanding(apps[0]) == 0)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
        for e in engines:
            e.dispose()
    to = Counter(m["To"] for m in fake.sent())
    assert len(to) == 300 and set(to.values()) == {1}
    assert all(s.sent_count > 0 for s in senders), [s.sent_count for s in senders]


def test_starts_are_paced_by_segments_in_the_shared_bucket(app: Container) -> None:
    from handlers.sending import SendPolicy, claim_due
    from storage.models import RateBucket
    from storage.outbox import ensure_rate_bucket

    long_text = "x" * 400  # three GSM-7 segments
    with app.uow() as uow:
        for i, body in enumerate(["short", long_text, "short"]):
            enqueue_sms(
                uow.session,
                [
                    OutboundSms(
                        phone=random_phone(),
                        body=body,
                        kind="reply",
                        idempotency_key=f"r{i}",
                        send_after=T0,
                    )
                ],
            )
        ensure_rate_bucket(uow.session)
        uow.commit()
    policy = SendPolicy(quiet_hours=None, default_timezone="America/New_York", rate_mps=10.0)
    with app.uow() as uow:
        claim = claim_due(uow.session, worker="w1", now=T0, wall=1000.0, limit=10, policy=policy)
        uow.commit()
    assert [round(r.start_at - 1000.0, 3) for r in claim.rows] == [0.0, 0.1, 0.4]
    with app.uow() as uow:
        assert uow.session.get(RateBucket, "sms").next_slot == pytest.approx(1000.5)
        # Another worker a moment later finds the bucket ahead of it and waits, claiming nothing.
        enqueue_sms(
            uow.session,
            [
                OutboundSms(
                    phone=random_phone(),
                    body="later",
                    kind="reply",
                    idempotency_key="r9",
                    send_after=T0,
                )
            ],
        )
        uow.session.get(RateBucket, "sms").next_slot = 1003.0
        uow.commit()
    with app.uow() as uow:
        later = claim_due(uow.session, worker="w2", now=T0, wall=1000.6, limit=10, policy=policy)
        uow.commit()
    assert later.rows == [] and later.wait == pytest.approx(1.9)


def test_a_messaging_service_sends_without_a_from_number(
    db_url: str, engine: Engine, clock: FixedClock, fake: FakeTwilio
) -> None:
    settings = make_settings(
        db_url, twilio_account_sid=fake.account_sid, twilio_auth_token=fake.auth_token,
        twilio_api_url=fake.url, twilio_messaging_service_sid="MG" + "a" * 32,
    )  # fmt: skip
    app = bootstrap(settings, clock=clock, engine=engine)
    broadcast(app, 2)
    drain(app, **FAST)
    assert {m["MessagingServiceSid"] for m in fake.sent()} == {"MG" + "a" * 32}
    assert all("From" not in m for m in fake.sent())
    assert {r.status for r in deliveries(app)} == {DeliveryStatus.QUEUED}  # "accepted"
