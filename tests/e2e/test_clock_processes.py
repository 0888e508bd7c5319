"""Two real `muster clock` processes: one leads; killed with SIGKILL, the other takes over and
the schedule still fires once. On SQLite (lease) and PostgreSQL (advisory lock)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from handlers.schedules import schedule_broadcast
from storage.db import make_engine, make_session_factory
from storage.models import Broadcast
from storage.uow import SqlAlchemyUnitOfWork
from tests.builders import make_volunteer
from tests.conftest import ON_POSTGRES
from tests.sending import wait_until

MUSTER = [sys.executable, "-m", "bot.cli", "clock"]


class _Clock:
    """A `muster clock` process whose log lines are read as they come."""

    def __init__(self, db_url: str, cwd: Path):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "SLACK_"))}
        env.update({"DATABASE_URL": db_url, "LOG_LEVEL": "INFO", "CLOCK_LEASE_SECONDS": "3"})
        self.proc = subprocess.Popen(
            MUSTER, env=env, cwd=cwd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    @property
    def leading(self) -> bool:
        return any("clock: leading" in line for line in self.lines)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


def test_killing_the_leader_hands_the_timetable_to_the_standby(db_url: str, tmp_path: Path):
    engine = make_engine(db_url)
    uow = SqlAlchemyUnitOfWork(make_session_factory(engine))
    clocks = [_Clock(db_url, tmp_path)]
    try:
        wait_until(lambda: clocks[0].leading, 30)
        clocks.append(_Clock(db_url, tmp_path))
        wait_until(lambda: any("seeking leadership" in x for x in clocks[1].lines), 30)
        time.sleep(1.5)
        assert not clocks[1].leading  # a standby while the first one lives

        with uow:
            make_volunteer(uow.session)
            now = datetime.now(UTC)
            run_at = now + timedelta(seconds=6)
            schedule_broadcast(uow.session, body="Doors open at 6", audience="all",
                               created_by="U0ORGANIZER", now=now, run_at=run_at,
                               timezone="America/New_York")  # fmt: skip
            uow.commit()
        time.sleep(2.5)  # the leader has registered it in the job store
        clocks[0].proc.send_signal(signal.SIGKILL)
        clocks[0].proc.wait(timeout=10)
        died = time.monotonic()
        wait_until(lambda: clocks[1].leading, 15)
        takeover = time.monotonic() - died
        assert takeover < (3 if ON_POSTGRES else 8)  # seconds: the lock at once, the lease soon

        def fired() -> int:
            with uow:
                return uow.session.scalar(select(func.count()).select_from(Broadcast)) or 0

        wait_until(lambda: fired() == 1, 20)
        time.sleep(1.0)
        assert fired() == 1
        clocks[1].proc.send_signal(signal.SIGTERM)
        assert clocks[1].proc.wait(timeout=20) == 0
    finally:
        for clock in clocks:
            clock.stop()
        engine.dispose()
