"""`GET /metrics`: what Muster is doing, in the Prometheus text format.

Off unless `METRICS_TOKEN` is set (404), and then only for requests bearing it
(`Authorization: Bearer <token>`, compared in constant time; 401 otherwise).

Two kinds of figures:
- **Counters and the send-latency histogram of this process**, bumped where the work happens by
  the tiny functions below (`count_inbound`, `count_reply`, `count_delivery`,
  `observe_send_latency`, `observe_scheduler_lag`). In the embedded `muster serve` the parts
  process forwards what its parts measure to the web process (bot/parts_process.py), so its
  /metrics shows every part's; with separate `worker` and `clock` processes their counters stay
  in those processes, and the database figures below are the deployment-wide view.
- **Gauges read from the database at scrape time**, the same whichever web process answers:
  deliveries by status, outbox depth (due now, held for later, in flight), the age of the oldest
  due delivery, pending Slack posts, scheduler lag (how overdue the oldest unfired one-off
  schedule is) and the leases (the clock's leadership). When the database cannot be reached the
  scrape still answers, with `muster_database_up 0`.
"""

from __future__ import annotations

import functools
import hmac
import logging
from collections.abc import Iterable, Iterator
from datetime import datetime

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.bootstrap import Container
from storage.models import (
    Delivery,
    DeliveryStatus,
    Lease,
    Schedule,
    ScheduleStatus,
    SlackPost,
    SlackPostStatus,
)

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# This process's own counters (a registry of Muster's, so tests and several apps do not collide
# with prometheus_client's global one; the process, platform and GC collectors are added to it).
REGISTRY = CollectorRegistry(auto_describe=True)
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)

INBOUND = Counter(
    "muster_inbound_messages",
    "Texts received from volunteers, by channel and what the bot understood (intent)",
    ["channel", "intent"],
    registry=REGISTRY,
)
REPLIES = Counter(
    "muster_replies",
    "Replies answered inline to an inbound message (TwiML, console), by channel",
    ["channel"],
    registry=REGISTRY,
)
SENDS = Counter(
    "muster_sends",
    "Send attempts to the SMS provider by this process, by outcome (sent, retry, failed, ...)",
    ["outcome"],
    registry=REGISTRY,
)
SEND_LATENCY = Histogram(
    "muster_send_latency_seconds",
    "Time for the SMS provider to accept one message (one API request), in this process",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
SCHEDULER_LAG = Histogram(
    "muster_scheduler_job_lag_seconds",
    "How late the clock ran each job after its scheduled time, in this process",
    buckets=(0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0),
    registry=REGISTRY,
)


# The functions other modules call; each is one line, cheap, and never raises. ----------------


def count_inbound(channel: str, intent: str | None) -> None:
    _inbound(channel, intent or "unknown").inc()


def count_reply(channel: str) -> None:
    _reply(channel).inc()


# The labelled children of the per-text counters, looked up once (`labels()` checks its
# arguments and takes a lock on every call; channels and intents are a few fixed names).
@functools.lru_cache(maxsize=256)
def _inbound(channel: str, intent: str) -> Counter:
    return INBOUND.labels(channel=channel, intent=intent)


@functools.lru_cache(maxsize=16)
def _reply(channel: str) -> Counter:
    return REPLIES.labels(channel=channel)


def count_delivery(outcome: str) -> None:
    SENDS.labels(outcome=outcome).inc()


def observe_send_latency(seconds: float) -> None:
    SEND_LATENCY.observe(max(seconds, 0.0))


def observe_scheduler_lag(seconds: float) -> None:
    SCHEDULER_LAG.observe(max(seconds, 0.0))


# Gauges from the database, computed at scrape time. -------------------------------------------


class DatabaseCollector(Collector):
    """Reads the outbox and the timetable once per scrape, in one read-only transaction."""

    def __init__(self, container: Container):
        self._container = container

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("muster_database_up", "1 when the database answered this scrape")
        try:
            with self._container.read_session_factory() as session:
                families = list(database_gauges(session, self._container.clock.now()))
        except Exception as exc:
            log.warning("metrics: database unavailable (%s)", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families


def database_gauges(session: Session, now: datetime) -> Iterable[GaugeMetricFamily]:
    by_status = GaugeMetricFamily(
        "muster_deliveries", "Outbox rows (texts to volunteers) by status", labels=["status"]
    )
    counts = dict(
        session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
    )
    for status in DeliveryStatus:
        by_status.add_metric([status.value], counts.get(status, 0))
    yield by_status

    pending = Delivery.status == DeliveryStatus.PENDING
    due_count, oldest_due = session.execute(
        select(func.count(), func.min(Delivery.send_after)).where(
            pending, Delivery.send_after <= now
        )
    ).one()
    depth = GaugeMetricFamily(
        "muster_outbox_depth",
        "Texts not yet handed to the provider: due now, held for later, claimed by a sender",
        labels=["state"],
    )
    depth.add_metric(["due"], due_count)
    depth.add_metric(["held"], counts.get(DeliveryStatus.PENDING, 0) - due_count)
    depth.add_metric(["claimed"], counts.get(DeliveryStatus.CLAIMED, 0))
    yield depth

    oldest = GaugeMetricFamily(
        "muster_outbox_oldest_due_seconds",
        "Age of the oldest text that is due and not yet sent (0 when none is waiting)",
    )
    oldest.add_metric([], _seconds_since(oldest_due, now))
    yield oldest

    posts = GaugeMetricFamily(
        "muster_slack_posts_pending", "Posts for the organizers' Slack not yet accepted by Slack"
    )
    posts.add_metric(
        [],
        session.scalar(select(func.count()).where(SlackPost.status == SlackPostStatus.PENDING))
        or 0,
    )
    yield posts

    overdue = session.scalar(
        select(func.min(Schedule.run_at)).where(
            Schedule.status == ScheduleStatus.ACTIVE,
            Schedule.run_at <= now,
            or_(Schedule.last_fired_at.is_(None), Schedule.last_fired_at < Schedule.run_at),
        )
    )
    lag = GaugeMetricFamily(
        "muster_scheduler_lag_seconds",
        "How overdue the oldest one-off schedule is that the clock has not fired (0 when none)",
    )
    lag.add_metric([], _seconds_since(overdue, now))
    yield lag

    leases = GaugeMetricFamily(
        "muster_lease_seconds_left",
        "Seconds until each lease (e.g. the clock's leadership) expires; negative when lapsed",
        labels=["name"],
    )
    for name, expires_at in session.execute(select(Lease.name, Lease.expires_at)).all():
        leases.add_metric([name], (expires_at - now).total_seconds())
    yield leases


def _seconds_since(when: datetime | None, now: datetime) -> float:
    return max((now - when).total_seconds(), 0.0) if when is not None else 0.0


def exposition(container: Container) -> bytes:
    """This process's counters, then the database gauges, in the text format."""
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(DatabaseCollector(container))
    return generate_latest(REGISTRY) + generate_latest(scrape)


def bearer_matches(request: Request, token: str) -> bool:
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented:
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())


def routes(container: Container) -> list[BaseRoute]:
    secret = container.settings.metrics_token
    if secret is None or not secret.get_secret_value():
        return []  # off: /metrics is a plain 404
    token = secret.get_secret_value()

    async def metrics(request: Request) -> Response:
        if not bearer_matches(request, token):
            return PlainTextResponse(
                "unauthorized", status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
        body = await run_in_threadpool(exposition, container)
        return Response(body, media_type=CONTENT_TYPE)

    return [Route("/metrics", metrics, methods=["GET"])]


class Recorder:
    """The scheduler's metrics port (`scheduler.ports.Metrics`), recorded here in Prometheus."""

    observe_send_latency = staticmethod(observe_send_latency)
    count_delivery = staticmethod(count_delivery)
    observe_scheduler_lag = staticmethod(observe_scheduler_lag)


RECORDER = Recorder()
