"""The sender against the fake Twilio (real twilio client code), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from bot.bootstrap import Container, bootstrap
from bot.parts import sender_for
from bot.web import create_app
from handlers.broadcasts import cancel_broadcast, confirm_broadcast, create_draft
from handlers.ports import FixedClock
from handlers.results import OutboundSms
from handlers.sending import enqueue_sms
from storage.models import (
    Broadcast,
    BroadcastStatus,
    ConsentEvent,
    Delivery,
    DeliveryStatus,
    Priority,
    Volunteer,
    VolunteerStatus,
)
from tests.builders import AREA_CODES, make_volunteer, random_phone
from tests.conftest import ON_POSTGRES, T0, make_settings
from tests.fakes.twilio_api import FakeTwilio
from tests.sending import RunningSender, drain, outstanding, wait_until

FAST = {"rate_mps": 10_000.0, "concurrency": 8}


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


def twilio_container(db_url: str, engine: Engine, clock: FixedClock, fake: FakeTwilio) -> Container:
    settings = make_settings(
        db_url,
        twilio_account_sid=fake.account_sid,
        twilio_auth_token=fake.auth_token,
        twilio_api_url=fake.url,
        twilio_from_number="+16175550100",
    )
    return bootstrap(settings, clock=clock, engine=engine)


@pytest.fixture
def app(db_url: str, engine: Engine, clock: FixedClock, fake: FakeTwilio) -> Container:
    return twilio_container(db_url, engine, clock, fake)


def broadcast(c: Container, n: int = 0, *, body: str = "Canvass Sat 10am. Reply YES", **kw) -> int:
    """n new Boston volunteers (plus any already there) and a confirmed broadcast to all."""
    with c.uow() as uow:
        for _ in range(n):
            make_volunteer(uow.session)
        draft = create_draft(uow.session, body=body, audience="all", created_by="U1",
                             now=c.clock.now(), **kw)  # fmt: skip
        confirm_broadcast(uow.session, broadcast_id=draft.id, user_id="U1", now=c.clock.now())
        uow.commit()
        return draft.id


def deliveries(c: Container) -> list[Delivery]:
    with c.read_uow() as uow:
        rows = list(uow.session.scalars(select(Delivery).order_by(Delivery.id)))
        uow.session.expunge_all()
        return rows


def volunteer(c: Container, phone: str) -> Volunteer:
    with c.read_uow() as uow:
        found = uow.session.scalar(select(Volunteer).where(Volunteer.phone == phone))
        uow.session.expunge_all()
        return found


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
