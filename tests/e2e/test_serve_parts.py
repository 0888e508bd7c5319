"""`muster serve` runs the clock, the sender and the posters in a process beside the web process
(bot/parts_process.py): they send, their figures reach the web process's /metrics, a killed one
is replaced and loses nothing, and SIGTERM stops it all."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import Engine

from bot.bootstrap import Container, bootstrap
from handlers.broadcasts import confirm_broadcast, create_draft
from handlers.ports import SystemClock
from tests.builders import make_volunteer
from tests.conftest import make_settings
from tests.fakes.threaded_server import free_port
from tests.fakes.twilio_api import FakeTwilio
from tests.sending import outstanding, wait_until

RECIPIENTS = 30
TOKEN = "metrics-token-for-the-test"


def _broadcast(app: Container, body: str, *, new_volunteers: int) -> None:
    with app.uow() as uow:
        for _ in range(new_volunteers):
            make_volunteer(uow.session)
        draft = create_draft(uow.session, body=body, audience="all", created_by="U1",
                             now=app.clock.now())  # fmt: skip
        confirm_broadcast(uow.session, broadcast_id=draft.id, user_id="U1", now=app.clock.now())
        uow.commit()


def _serve(db_url: str, fake: FakeTwilio, log: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "SLACK_"))}
    env.update(fake.environment())
    env.update(
        DATABASE_URL=db_url,
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        QUIET_HOURS="off",
        SEND_RATE_MPS="200",
        METRICS_TOKEN=TOKEN,
        LOG_LEVEL="INFO",
    )
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
                                env=env, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip


def _parts_pids(log: Path) -> list[int]:
    return [int(p) for p in re.findall(r"parts process (\d+) started", log.read_text())]


def _sent_counted(port: int) -> float:
    """muster_sends_total{outcome="sent"} on the web process's /metrics."""
    try:
        response = httpx.get(
            f"http://127.0.0.1:{port}/metrics",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=5,
        )
    except httpx.TransportError:  # (not listening yet)
        return -1.0
    response.raise_for_status()
    found = re.search(r'^muster_sends_total\{outcome="sent"\} (\S+)$', response.text, re.M)
    return float(found.group(1)) if found else 0.0


def test_the_parts_run_beside_the_web_process_and_a_killed_one_is_replaced(
    db_url: str, engine: Engine, fake: FakeTwilio, tmp_path: Path
) -> None:
    app = bootstrap(make_settings(db_url, quiet_hours="off"), clock=SystemClock(), engine=engine)
    _broadcast(app, "Hearing tomorrow at 10: can you testify?", new_volunteers=RECIPIENTS)
    log, port = tmp_path / "serve.log", free_port()
    proc = _serve(db_url, fake, log, port)
    try:
        wait_until(lambda: outstanding(app) == 0 and len(fake.sent()) == RECIPIENTS, timeout=90)
        [first] = _parts_pids(log)
        assert first != proc.pid
        assert re.search(rf"sender \S+:{first}:\S+ started", log.read_text())  # the child sends
        # What the child measured is the web process's to show.
        wait_until(lambda: _sent_counted(port) == RECIPIENTS, timeout=30)

        os.kill(first, signal.SIGKILL)
        wait_until(lambda: len(_parts_pids(log)) == 2, timeout=30)
        second = _parts_pids(log)[1]
        assert second != first
        _broadcast(app, "The vote moved to Thursday.", new_volunteers=0)
        wait_until(lambda: len(fake.sent()) == 2 * RECIPIENTS, timeout=90)
        wait_until(lambda: _sent_counted(port) == 2 * RECIPIENTS, timeout=30)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    # Each volunteer got each broadcast once: the killed process lost and doubled nothing.
    assert Counter(Counter(m["To"] for m in fake.sent()).values()) == Counter({2: RECIPIENTS})
    # The parts process died during the run: serve says so in its exit status, and left none.
    assert code == 1, log.read_text()
    for pid in _parts_pids(log):
        assert not _alive(pid)


def test_sigterm_stops_the_web_and_the_parts_process_with_status_0(
    db_url: str, fake: FakeTwilio, tmp_path: Path
) -> None:
    log, port = tmp_path / "serve.log", free_port()
    proc = _serve(db_url, fake, log, port)
    try:
        wait_until(lambda: _parts_pids(log) and "sender" in log.read_text(), timeout=60)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0, log.read_text()
    [pid] = _parts_pids(log)  # (stopped, not started again)
    end = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < end:
        time.sleep(0.05)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # (a zombie of a child reaped by nobody yet is not running: /proc says so)
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False
