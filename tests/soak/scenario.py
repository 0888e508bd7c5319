"""The soak's scenario (tests/soak/test_soak.py): its numbers, the fake Twilio that fails on
purpose, the volunteers and shifts it starts with, the texts it sends and the faults it injects at
fixed points of the load phase, and the arithmetic of its checks (when a STOP took effect, what
was sent after it, whether the outbox drained).

The moving parts it drives (Muster's processes, the load generator) are in tests/soak/harness.py;
the PostgreSQL server it restarts is in tests/soak/private_postgres.py.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from storage.models import DeliveryStatus
from tests.builders import make_shift, make_volunteer, random_phone
from tests.soak.harness import MusterProcess, Texter

LOAD_SECONDS = float(os.environ.get("MUSTER_SOAK_SECONDS", "30"))
IN_FLIGHT_S = 1.0  # the claim horizon (0.5 s, docs/sending.md) and a loaded machine's slack
NEW_PHONES = 260  # volunteers who join by text during the run (about 8 texts each)
SEEDED = 1200  # volunteers already signed up, the broadcasts' audience
STOPPERS = 150  # of them, who text STOP during the run
COMMITTERS = 300  # of them, who text YES <shift>
SHIFTS, CAPACITY = 12, 6  # few seats, many takers: capacity is contended
SEND_CONCURRENCY = 8
ORG_NAME = "Soak Forward"
FAIL_500, FAIL_429 = 0.05, 0.02
FAULT_TIMES = {  # as fractions of the load phase
    "broadcast 1": 0.05,
    "kill worker": 0.22,
    "broadcast 2": 0.35,
    "restart postgres": 0.5,
    "broadcast 3": 0.75,
}
NAMES = ["Maria", "Sam", "Aisha", "Jorge", "Mei", "Olu", "Priya", "Dana", "Luis", "Grace"]
# A delivery is accounted for when it reached the provider or a final "not sent" state; queued
# means Twilio accepted it and no status callback came (the fake sends none).
ACCOUNTED = {s.value for s in DeliveryStatus} - {"pending", "claimed"}


def flaky_twilio(latency: float):
    """The shared fake Twilio, failing a fixed share of requests at random (5% 500, 2% 429),
    and noting when it accepted each message."""
    from tests.fakes.twilio_api import FakeTwilio, _error

    started_at: contextvars.ContextVar[float] = contextvars.ContextVar("started_at")

    class FlakyTwilio(FakeTwilio):
        def __init__(self, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(**kwargs)
            self.injected: Counter[int] = Counter()
            # (request started, accepted, To, Body, Sid), in wall-clock seconds
            self.accepted: list[tuple[float, float, str, str, str]] = []

        async def _create_message(self, request):  # type: ignore[no-untyped-def]
            started_at.set(time.time())  # each request is its own task: its own context
            return await super()._create_message(request)

        def _answer(self, form, authorized):  # type: ignore[no-untyped-def]
            roll = random.random()
            if authorized and roll < FAIL_500:
                self.injected[500] += 1
                return _error(20500)
            if authorized and roll < FAIL_500 + FAIL_429:
                self.injected[429] += 1
                return _error(20429, retry_after=1)
            response = super()._answer(form, authorized)
            if response.status < 300:
                sid = json.loads(response.body)["sid"]
                to, body = form.get("To", ""), form.get("Body", "")
                self.accepted.append((started_at.get(time.time()), time.time(), to, body, sid))
            return response

    return FlakyTwilio(latency=latency)


def seed(engine: Engine, now) -> tuple[list[int], list[str]]:
    from handlers.consent import record_opt_in
    from storage.db import make_session_factory

    with make_session_factory(engine)() as s:
        shifts = [
            make_shift(s, starts_at=now + timedelta(days=2, hours=n), capacity=CAPACITY).id
            for n in range(SHIFTS)
        ]
        phones = []
        for n in range(SEEDED):
            v = make_volunteer(
                s, phone=random_phone(), first_name=f"Vol{n}", tags=["canvass"] if n % 2 else []
            )
            record_opt_in(s, phone=v.phone, volunteer=v, keyword="JOIN", channel="import", now=now)
            phones.append(v.phone)
        s.commit()
    return shifts, phones


def _broadcast(engine: Engine, n: int, audience: str) -> int:
    from handlers.broadcasts import confirm_broadcast, create_draft
    from handlers.ports import SystemClock
    from storage.db import make_session_factory

    now = SystemClock().now()
    with make_session_factory(engine)() as s:
        draft = create_draft(
            s,
            body=f"Soak broadcast {n}: canvass Saturday 10am, reply YES or NO",
            audience=audience,
            created_by="U0SOAK",
            now=now,
        )
        s.flush()
        queued = confirm_broadcast(s, broadcast_id=draft.id, user_id="U0SOAK", now=now)
        s.commit()
    return queued


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fault_plan(
    engine: Engine, pg, worker: MusterProcess, events: dict[str, float]
) -> Callable[[], None]:
    """The faults and broadcasts, at fixed points of the load phase."""
    plan = sorted(FAULT_TIMES.items(), key=lambda kv: kv[1])

    def run() -> None:
        start = time.time()
        for name, at in plan:
            delay = start + at * LOAD_SECONDS - time.time()
            if delay > 0:
                time.sleep(delay)
            events[name] = time.time()
            if name.startswith("broadcast"):
                n = int(name.split()[1])
                _retrying(lambda n=n: _broadcast(engine, n, "tag:canvass" if n == 3 else "all"))
            elif name == "kill worker":
                worker.kill()
                time.sleep(2)
                worker.start()
                events["worker restarted"] = time.time()
            elif name == "restart postgres":
                pg.restart(down_for=3)
                events["postgres back"] = time.time()
                engine.dispose()

    return run


def _retrying(fn: Callable[[], object], attempts: int = 10) -> object:
    from sqlalchemy.exc import OperationalError

    for n in range(attempts):
        try:
            return fn()
        except OperationalError:
            if n == attempts - 1:
                raise
            time.sleep(1)
    return None


async def load(texter: Texter, shift_ids: list[int], seeded: list[str]) -> None:
    """New volunteers join and sign up; seeded ones commit and opt out; some texts come twice."""
    rnd = random.Random(8)
    stoppers = rnd.sample(seeded, STOPPERS)
    committers = rnd.sample([p for p in seeded if p not in set(stoppers)], COMMITTERS)
    # Idle connections are dropped after 2 s, before uvicorn closes them (5 s): a request sent
    # on a connection the server is closing fails with ReadError, the client's race, not Muster's.
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32, keepalive_expiry=2.0)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def later(delay: float, phone: str, bodies: list[str]) -> None:
            await asyncio.sleep(delay)
            await texter.conversation(client, phone, bodies, pause=1.5, resend_rate=0.03)

        tasks = []
        for n in range(NEW_PHONES):
            shift = rnd.choice(shift_ids)
            name = NAMES[n % len(NAMES)]
            script = ["JOIN", name, "02124", "canvass", "SHIFTS", f"YES {shift}"]
            if n % 5 == 0:
                script.append(f"DROP {shift}")
            if n % 7 == 0:
                script += ["MY", "HELP"]
            if n % 11 == 0:
                script.append("STOP")
            tasks.append(later(rnd.uniform(0, LOAD_SECONDS * 0.8), random_phone(), script))
        for phone in committers:
            bodies = [f"YES {rnd.choice(shift_ids)}"]
            tasks.append(later(rnd.uniform(0, LOAD_SECONDS), phone, bodies))
        for phone in stoppers:
            tasks.append(later(rnd.uniform(0, LOAD_SECONDS), phone, ["STOP"]))
        await asyncio.gather(*tasks)


def drain(engine: Engine, timeout: float) -> bool:
    """Wait until the outbox holds nothing pending (due, or waiting for a retry) or in flight."""
    from storage.models import Delivery

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with Session(engine) as s:
                busy = s.scalar(
                    select(func.count()).where(Delivery.status.in_(["pending", "claimed"]))
                )
        except Exception:
            busy = -1
        if busy == 0:
            return True
        time.sleep(1)
    return False


def replay_times(web_log: str) -> dict[str, float]:
    """MessageSid -> when the web process replayed it from the spool (from its JSON log)."""
    times = {}
    for line in web_log.splitlines():
        if "spool: replayed inbound" not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        sid = entry["msg"].split("spool: replayed inbound ", 1)[1].split()[0]
        times[sid] = datetime.fromisoformat(entry["ts"]).timestamp()
    return times


def stop_times_of(report, replayed: dict[str, float]) -> dict[str, float]:
    """Phone -> wall time its STOP took effect: when it was answered, or, for a STOP kept in the
    spool while the database was away, when it was replayed."""
    stops: dict[str, float] = {}
    for sent in report.answered:
        if sent.body == "STOP":
            took_effect = max(sent.at, replayed.get(sent.sid, 0.0))
            stops[sent.phone] = min(stops.get(sent.phone, took_effect), took_effect)
    return stops


def sent_after_stop(accepted, stop_times) -> tuple[list, int, int]:
    """Texts the provider was asked to send to a number after its STOP took effect, but for
    the STOP's one confirmation.

    docs/sending.md: a worker claims a text at most half a second before its start time, and
    the opt-out is checked at the claim; so a request started within IN_FLIGHT_S of the STOP was
    already on its way (counted apart). Anything later is a text sent after a STOP: a fault.
    """
    from handlers.sms_text import say

    confirmations = {say("opted_out", lang, org=ORG_NAME) for lang in ("en", "es")}
    confirmed: set[str] = set()
    after, in_flight = [], 0
    for started, _at, to, body, _sid in sorted(accepted):
        stop = stop_times.get(to)
        if stop is None or started <= stop:
            continue
        if body in confirmations and to not in confirmed:
            # The STOP's one confirmation, sent when a STOP kept in the spool is replayed.
            confirmed.add(to)
            continue
        if started <= stop + IN_FLIGHT_S:
            in_flight += 1
        else:
            after.append((to[-4:], body[:40], round(started - stop, 2)))
    return after, in_flight, len(confirmed)
