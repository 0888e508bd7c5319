"""`GET /metrics`: off without METRICS_TOKEN, bearer-only with it, true to the database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from bot import metrics
from bot.bootstrap import bootstrap
from bot.web import create_app
from storage.models import Delivery, DeliveryStatus, Lease, Schedule
from tests.builders import random_phone
from tests.conftest import make_settings

TOKEN = "metrics-token-for-tests-0123456789"


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
def client(db_url, engine, clock):
    container = bootstrap(make_settings(db_url, metrics_token=TOKEN), clock=clock, engine=engine)
    return TestClient(create_app(container))


def test_metrics_are_off_without_a_token(container) -> None:
    assert TestClient(create_app(container)).get("/metrics").status_code == 404


@pytest.mark.parametrize(
    "header", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer "]
)
def test_metrics_refuse_a_missing_or_wrong_token(client, header) -> None:
    response = client.get("/metrics", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "muster_" not in response.text


def test_metrics_report_the_outbox_the_timetable_and_this_process(client, uow, clock) -> None:
    now = clock.now()
    with uow:
        rows = [
            (DeliveryStatus.PENDING, now - timedelta(seconds=90)),  # due for 90 s
            (DeliveryStatus.PENDING, now - timedelta(seconds=5)),
            (DeliveryStatus.PENDING, now + timedelta(hours=10)),  # held for quiet hours
            (DeliveryStatus.CLAIMED, now),
            (DeliveryStatus.SENT, now - timedelta(minutes=5)),
            (DeliveryStatus.DELIVERED, now - timedelta(minutes=5)),
            (DeliveryStatus.DELIVERED, now - timedelta(minutes=6)),
        ]
        for n, (status, after) in enumerate(rows):
            uow.session.add(
                Delivery(
                    idempotency_key=f"k{n}",
                    to_phone=random_phone(),
                    body="Canvass Saturday?",
                    kind="broadcast",
                    status=status,
                    send_after=after,
                )
            )
        uow.session.add(
            Schedule(body="b", audience="all", run_at=now - timedelta(minutes=2), timezone="UTC")
        )
        uow.session.add(Lease(name="clock", holder="h", expires_at=now + timedelta(seconds=20)))
        uow.commit()
    before = _samples(client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text)
    metrics.count_inbound("sms", "shifts")
    metrics.count_reply("sms")
    metrics.count_delivery("sent")
    metrics.observe_send_latency(0.2)

    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    got = _samples(response.text)

    assert got[("muster_database_up", ())] == 1
    assert got[("muster_deliveries", (("status", "pending"),))] == 3
    assert got[("muster_deliveries", (("status", "delivered"),))] == 2
    assert got[("muster_deliveries", (("status", "failed"),))] == 0
    assert got[("muster_outbox_depth", (("state", "due"),))] == 2
    assert got[("muster_outbox_depth", (("state", "held"),))] == 1
    assert got[("muster_outbox_depth", (("state", "claimed"),))] == 1
    assert got[("muster_outbox_oldest_due_seconds", ())] == pytest.approx(90)
    assert got[("muster_scheduler_lag_seconds", ())] == pytest.approx(120)
    assert got[("muster_lease_seconds_left", (("name", "clock"),))] == pytest.approx(20)

    def grew(name: str, labels: tuple = ()) -> float:
        return got[(name, labels)] - before.get((name, labels), 0)

    assert grew("muster_inbound_messages_total", (("channel", "sms"), ("intent", "shifts"))) == 1
    assert grew("muster_replies_total", (("channel", "sms"),)) == 1
    assert grew("muster_sends_total", (("outcome", "sent"),)) == 1
    assert grew("muster_send_latency_seconds_count") == 1
    assert ("process_cpu_seconds_total", ()) in got


def test_metrics_still_answer_when_the_database_is_away(clock) -> None:
    settings = make_settings("postgresql+psycopg://nobody@127.0.0.1:1/none", metrics_token=TOKEN)
    client = TestClient(create_app(bootstrap(settings, clock=clock)))
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    got = _samples(response.text)
    assert got[("muster_database_up", ())] == 0
    assert ("muster_deliveries", (("status", "pending"),)) not in got


def test_the_clock_reports_how_late_its_jobs_start() -> None:
    from datetime import UTC, datetime

    from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent

    from scheduler.clock import _observe_lag

    def lag_count() -> float:
        got = _samples(metrics.generate_latest(metrics.REGISTRY).decode())
        return got.get(("muster_scheduler_job_lag_seconds_count", ()), 0)

    before = lag_count()
    late = datetime.now(UTC) - timedelta(seconds=42)
    _observe_lag(
        metrics.RECORDER, JobSubmissionEvent(EVENT_JOB_SUBMITTED, "schedule:1", "default", [late])
    )
    got = _samples(metrics.generate_latest(metrics.REGISTRY).decode())
    assert lag_count() == before + 1
    assert got[("muster_scheduler_job_lag_seconds_bucket", (("le", "60.0"),))] >= 1


def test_the_sender_counts_its_sends_and_their_latency(db_url, engine, clock) -> None:
    from handlers.results import OutboundSms
    from handlers.sending import enqueue_sms
    from tests.fakes.twilio_api import FakeTwilio
    from tests.sending import drain, twilio_container

    def now_counts() -> dict:
        return _samples(metrics.generate_latest(metrics.REGISTRY).decode())

    with FakeTwilio() as fake:
        fake.fail(code=20500, times=1)
        container = twilio_container(db_url, engine, clock, fake)
        with container.uow() as uow:
            enqueue_sms(
                uow.session,
                [
                    OutboundSms(
                        phone=random_phone(),
                        body=f"hi {n}",
                        kind="reply",
                        idempotency_key=f"m{n}",
                        send_after=clock.now(),
                    )
                    for n in range(3)
                ],
            )
            uow.commit()
        before = now_counts()
        drain(container, rate_mps=10_000.0, concurrency=4)
        after = now_counts()

    def grew(name: str, labels: tuple = ()) -> float:
        return after.get((name, labels), 0) - before.get((name, labels), 0)

    # One 500 (to be retried after a back-off the fixed clock never reaches), two sent.
    assert grew("muster_sends_total", (("outcome", "sent"),)) == 2
    assert grew("muster_sends_total", (("outcome", "retry"),)) == 1
    assert grew("muster_send_latency_seconds_count") == 3
