"""The soak: Muster's real processes on PostgreSQL, under load, through faults.

`muster serve --web-only`, two `muster worker`s and a `muster clock` run against a private
PostgreSQL server. A load generator texts thousands of keywords and sign-ups over loopback with
valid Twilio signatures (some texts delivered twice, as Twilio may), while three broadcasts go out
to a fake Twilio that fails 5% of requests with 500 and 2% with 429. One worker is killed with
SIGKILL and restarted; PostgreSQL is restarted once. Then it checks what volunteers and organizers
would notice: every text stored once, no shift over capacity, nothing sent after a STOP, every
delivery sent or accounted for, duplicates within what docs/sending.md promises. It prints its
counts.

Runs on the PostgreSQL pass only (`TEST_DATABASE_URL` set); about 2-4 minutes on a loaded 2-core
machine
(MUSTER_SOAK_SECONDS sets the length of the load phase, 30 s by default).

The scenario's numbers, load, faults and the arithmetic of its checks are in
tests/soak/scenario.py; the processes and the load generator in tests/soak/harness.py.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import ON_POSTGRES
from tests.soak.harness import MusterProcess, Texter, muster_env, wait_for_health
from tests.soak.scenario import (
    ACCOUNTED,
    FAULT_TIMES,
    LOAD_SECONDS,
    ORG_NAME,
    SEND_CONCURRENCY,
    drain,
    fault_plan,
    flaky_twilio,
    free_port,
    load,
    replay_times,
    seed,
    sent_after_stop,
    stop_times_of,
)

pytestmark = [
    pytest.mark.soak,
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        not ON_POSTGRES, reason="the soak runs on PostgreSQL only (the PostgreSQL pass)"
    ),
]


def test_soak_under_faults(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from storage.db import make_engine
    from storage.migrate import upgrade
    from storage.models import Commitment, Delivery, InboundMessage, Shift
    from tests.soak.private_postgres import PrivatePostgres

    started = time.monotonic()
    pg = PrivatePostgres()
    pg.start_fresh()
    logs = tmp_path / "logs"
    logs.mkdir()
    processes: list[MusterProcess] = []
    try:
        upgrade(pg.url)
        engine = make_engine(pg.url, pool_size=4)
        from handlers.ports import SystemClock

        shift_ids, seeded = seed(engine, SystemClock().now())
        with flaky_twilio(latency=0.02) as fake:
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            env = muster_env(
                DATABASE_URL=pg.url,
                PUBLIC_URL=base,
                SPOOL_DIR=str(tmp_path / "spool"),
                QUIET_HOURS="off",
                SEND_RATE_MPS="200",
                SEND_CONCURRENCY=str(SEND_CONCURRENCY),
                ORG_NAME=ORG_NAME,
                LOG_LEVEL="INFO",
                **fake.environment(),
            )
            web = MusterProcess("web", ["serve", "--web-only", "--port", str(port)], env, logs)
            workers = [MusterProcess(f"worker{i}", ["worker"], env, logs) for i in (1, 2)]
            clock = MusterProcess("clock", ["clock"], env, logs)
            processes = [web, *workers, clock]
            for p in processes:
                p.start()
            wait_for_health(base)

            events: dict[str, float] = {}
            faults = fault_plan(engine, pg, workers[0], events)
            texter = Texter(base, fake.auth_token, to="+16175550100", concurrency=24)
            load_started = time.time()
            fault_thread = threading.Thread(target=faults, daemon=True)
            fault_thread.start()
            asyncio.run(load(texter, shift_ids, seeded))
            fault_thread.join(LOAD_SECONDS * 2 + 120)
            load_seconds = time.time() - load_started

            drained = drain(engine, timeout=150)
            alive = {p.name: p.alive() for p in processes}
            exits = {p.name: p.terminate() for p in processes}
            provider_requests = len(fake.requests)
            accepted = list(fake.accepted)
            injected = dict(fake.injected)

        report = texter.report
        sids = {s.sid for s in report.sent}
        with Session(engine) as s:
            stored = Counter(
                s.scalars(
                    select(InboundMessage.message_sid).where(InboundMessage.message_sid.in_(sids))
                )
            )
            deliveries = s.scalars(select(Delivery)).all()
            shifts = s.scalars(select(Shift)).all()
            seats = dict(
                s.execute(
                    select(Commitment.shift_id, func.count())
                    .where(Commitment.status.in_(["committed", "confirmed"]))
                    .group_by(Commitment.shift_id)
                ).all()
            )
        engine.dispose()

        # --- what a volunteer or organizer would notice ------------------------------------
        stop_times = stop_times_of(report, replay_times(web.log()))
        by_sid = {d.provider_sid: d for d in deliveries if d.provider_sid}
        per_text = Counter((to, body) for _, _, to, body, _ in accepted)
        duplicates = sum(n - 1 for n in per_text.values() if n > 1)
        statuses = Counter(str(d.status.value) for d in deliveries)
        unaccounted = [d for d in deliveries if d.status.value not in ACCOUNTED]
        after_stop, in_flight, confirmed = sent_after_stop(accepted, stop_times)
        miscounted = [
            sh.id
            for sh in shifts
            if sh.committed_count > sh.capacity or seats.get(sh.id, 0) != sh.committed_count
        ]
        spool_left = list((tmp_path / "spool").glob("*.json"))
        spooled = sum(1 for sent in report.sent if "will answer it shortly" in sent.reply)
        answered = {sent.sid for sent in report.answered}

        counts = {
            "load seconds": round(load_seconds, 1),
            "texts (unique MessageSid)": len(sids),
            "HTTP posts (with Twilio-style repeats)": sum(x.attempts for x in report.sent),
            "answered 200": len(answered),
            "answered from the spool (database away)": spooled,
            "inbound rows stored": sum(stored.values()),
            "texts stored more than once": sum(1 for n in stored.values() if n > 1),
            "texts lost": len(sids - set(stored)),
            "spool files left": len(spool_left),
            "shifts": len(shifts),
            "seats taken / capacity": f"{sum(sh.committed_count for sh in shifts)}"
            f" / {sum(sh.capacity for sh in shifts)}",
            "shifts over capacity or miscounted": len(miscounted),
            "STOPs": len(stop_times),
            "texts sent after a STOP took effect": len(after_stop),
            "texts already in flight at a STOP (claimed before it)": in_flight,
            "STOP confirmations sent when a kept STOP was replayed": confirmed,
            "deliveries": len(deliveries),
            "deliveries by status": dict(sorted(statuses.items())),
            "deliveries unaccounted for": len(unaccounted),
            "provider requests": provider_requests,
            "injected provider failures (status: count)": injected,
            "accepted by the provider": len(accepted),
            "accepted, but unknown to Muster (lost to the SIGKILL)": sum(
                1 for *_, sid in accepted if sid not in by_sid
            ),
            "duplicate texts (same To and Body)": duplicates,
            "outbox drained": drained,
            "events (s after load start)": {
                k: round(v - load_started, 1) for k, v in sorted(events.items(), key=lambda e: e[1])
            },
            "processes alive at the end": alive,
            "exit codes on SIGTERM": exits,
            "wall seconds": round(time.monotonic() - started, 1),
        }
        with capsys.disabled():  # the counts belong in CI's log, pass or fail
            print("\nSOAK " + json.dumps(counts, indent=1, default=str), flush=True)

        assert report.errors == [] and answered == sids, report.errors[:5]
        assert set(stored) == sids and all(n == 1 for n in stored.values())
        assert spool_left == []
        assert miscounted == []
        assert after_stop == [], after_stop[:5]
        assert drained and unaccounted == [], [(d.id, d.status) for d in unaccounted[:5]]
        # docs/sending.md: a text is sent twice only when a worker dies between Twilio's accepting
        # it and recording that; at most the killed worker's requests in flight.
        assert duplicates <= SEND_CONCURRENCY
        assert all(alive.values()), alive
        assert all(code == 0 for code in exits.values()), exits
        assert set(events) == set(FAULT_TIMES) | {"worker restarted", "postgres back"}
    finally:
        for p in processes:
            if p.alive():
                p.proc.kill()
        pg.destroy()
