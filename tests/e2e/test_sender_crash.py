"""Real `muster worker` processes against the fake Twilio: SIGTERM loses and doubles nothing;
after kill -9 a restarted worker loses nothing and resends at most what was in flight."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import Engine, func, select

from bot.bootstrap import Container, bootstrap
from handlers.broadcasts import confirm_broadcast, create_draft
from handlers.ports import SystemClock
from storage.models import Delivery, DeliveryStatus
from tests.builders import make_volunteer
from tests.conftest import make_settings
from tests.fakes.twilio_api import FakeTwilio
from tests.sending import outstanding, wait_until

RECIPIENTS = 400
CONCURRENCY = 20


def _seed(db_url: str, engine: Engine) -> Container:
    app = bootstrap(make_settings(db_url, quiet_hours="off"), clock=SystemClock(), engine=engine)
    with app.uow() as uow:
        for _ in range(RECIPIENTS):
            make_volunteer(uow.session)
        draft = create_draft(uow.session, body="Doors open 9am", audience="all", created_by="U1",
                             now=app.clock.now())  # fmt: skip
        confirm_broadcast(uow.session, broadcast_id=draft.id, user_id="U1", now=app.clock.now())
        uow.commit()
    return app


def _worker(db_url: str, fake: FakeTwilio, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "SLACK_"))}
    env.update(fake.environment())
    env.update(
        DATABASE_URL=db_url,
        PUBLIC_URL="https://muster.example.org",
        QUIET_HOURS="off",
        SEND_RATE_MPS="200",
        SEND_CONCURRENCY=str(CONCURRENCY),
        LOG_LEVEL="INFO",
    )
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "bot.cli", "worker"], env=env,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip


def _counts(app: Container) -> Counter[DeliveryStatus]:
    with app.read_uow() as uow:
        rows = uow.session.execute(
            select(Delivery.status, func.count()).group_by(Delivery.status)
        ).all()
    return Counter({status: n for status, n in rows})


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_sigterm_mid_broadcast_loses_nothing_and_doubles_nothing(
    db_url: str, engine: Engine, fake: FakeTwilio, tmp_path: Path
) -> None:
    app = _seed(db_url, engine)
    log = tmp_path / "worker.log"
    first = _worker(db_url, fake, log)
    try:
        fake.wait_for(100, timeout=60)
    finally:
        assert _stop(first) == 0, log.read_text()
    counts = _counts(app)
    went = len(fake.sent())
    assert went < RECIPIENTS, "the broadcast finished before SIGTERM; nothing was tested"
    assert counts[DeliveryStatus.CLAIMED] == 0  # in flight finished or given back
    assert counts[DeliveryStatus.QUEUED] == went  # every accepted text is recorded as such
    assert counts[DeliveryStatus.PENDING] == RECIPIENTS - went
    second = _worker(db_url, fake, log)
    try:
        wait_until(lambda: outstanding(app) == 0, timeout=60)
    finally:
        assert _stop(second) == 0, log.read_text()
    to = Counter(m["To"] for m in fake.sent())
    assert len(to) == RECIPIENTS  # zero lost
    assert set(to.values()) == {1}  # zero duplicates
    assert _counts(app) == Counter({DeliveryStatus.QUEUED: RECIPIENTS})


def test_kill_9_mid_broadcast_loses_nothing_and_resends_at_most_what_was_in_flight(
    db_url: str, engine: Engine, fake: FakeTwilio, tmp_path: Path
) -> None:
    app = _seed(db_url, engine)
    log = tmp_path / "worker.log"
    first = _worker(db_url, fake, log)
    try:
        fake.wait_for(100, timeout=60)
    finally:
        _stop(first, signal.SIGKILL)
    time.sleep(0.2)  # requests the dead worker had sent are answered by the fake
    before = len(fake.sent())
    assert before < RECIPIENTS, "the broadcast finished before kill -9; nothing was tested"
    assert _counts(app)[DeliveryStatus.CLAIMED] <= CONCURRENCY
    started = time.monotonic()
    second = _worker(db_url, fake, log)
    try:
        wait_until(lambda: outstanding(app) == 0, timeout=90)
    finally:
        assert _stop(second) == 0, log.read_text()
    # The restarted worker saw the dead one's process gone: no waiting out the claim timeout.
    assert time.monotonic() - started < 60
    to = Counter(m["To"] for m in fake.sent())
    assert len(to) == RECIPIENTS  # zero lost
    duplicates = sum(to.values()) - RECIPIENTS
    assert duplicates <= CONCURRENCY, f"{duplicates} texts sent twice"
    assert _counts(app) == Counter({DeliveryStatus.QUEUED: RECIPIENTS})
