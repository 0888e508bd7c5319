"""`python -m bench clock`: the clock with 10,000 upcoming shifts and 50,000 commitments.

Measured in one run, on fresh migrated SQLite files (the embedded default), then on scratch
PostgreSQL databases when BENCH_POSTGRES_URL or TEST_DATABASE_URL names a server; each figure
beside its baseline:
- start-up: a real `muster clock` process, from launch to leading with every schedule registered
  and its scheduler running, and its peak resident memory (after its first reminder sweep);
  baseline: the same on an empty database;
- one reminder sweep: an idle sweep (nothing due: the cost every 30 s) and a busy one at 11:00
  Boston time, when tomorrow's day-before reminders all come due at once (hundreds of rows
  queued); baseline: the same sweeps over 10 shifts. Each sweep runs in a transaction rolled back
  afterwards, so the five repetitions measure the same work; the median is shown;
- lateness: scheduled broadcasts to all 10,000 volunteers, run by the real clock (APScheduler,
  job store in the database) a few seconds ahead; how long after its run time each firing
  started (target under 2 s), and when its 10,000 deliveries were committed; baseline: the same
  on the empty database (10 volunteers).
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._sending import machine

SHIFTS = 10_000
COMMITMENTS = 50_000
VOLUNTEERS = 10_000
ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")
# A Monday at 11:00:30 in Boston: tomorrow's day-before reminders are due.
BUSY = datetime(2026, 11, 16, 16, 0, 30, tzinfo=UTC)
IDLE = BUSY - timedelta(minutes=40)  # 10:20: nothing has come due since the last sweep


def fresh_database(workdir: Path, name: str) -> str:
    from storage.migrate import upgrade

    url = f"sqlite:///{workdir / name}"
    upgrade(url)
    return url


def container_for(url: str, clock: Any = None) -> Any:
    from bot.bootstrap import bootstrap
    from bot.settings import Settings

    settings = Settings(_env_file=None, database_url=url, org_name="Bench")  # type: ignore[call-arg]
    return bootstrap(settings, clock=clock)


def seed(url: str, *, shifts: int, commitments: int, volunteers: int) -> None:
    """Shifts spread over the 60 days after BUSY (tomorrow's included), 5 people each."""
    from sqlalchemy import insert

    from storage.db import make_engine
    from storage.models import Commitment, Shift, Volunteer

    rng = random.Random(6)
    engine = make_engine(url)
    now = BUSY - timedelta(days=3)
    vol_rows = [
        {
            "phone": f"+1617{200 + n // 10_000:03d}{n % 10_000:04d}",
            "first_name": f"V{n}",
            "zip": "02124",
            "timezone": ZONES[n % len(ZONES)],
            "status": "active",
            "onboarding_step": "done",
            "language": "en",
            "zip_attempts": 0,
            "digest_opt_in": n % 5 == 0,
            "source": "bench",
            "created_at": now,
            "updated_at": now,
        }
        for n in range(volunteers)
    ]
    first_day = BUSY.replace(hour=14, minute=0, second=0)  # 9:00 Boston today
    shift_rows = []
    for n in range(shifts):
        starts = first_day + timedelta(days=1 + n * 60 // shifts, hours=rng.randint(0, 10))
        shift_rows.append(
            {
                "title": f"Shift {n}",
                "kind": "phonebank",
                "location": "1 Main St",
                "zip": "02124",
                "starts_at": starts,
                "ends_at": starts + timedelta(hours=2),
                "timezone": "America/New_York",
                "capacity": 10,
                "committed_count": 0,
                "tags": [],
                "created_at": now,
            }
        )
    with engine.begin() as conn:
        conn.execute(insert(Volunteer), vol_rows)
        conn.execute(insert(Shift), shift_rows)
    per_shift = max(1, commitments // max(shifts, 1))
    rows = []
    for shift_id in range(1, shifts + 1):
        for k in range(per_shift):
            rows.append(
                {
                    "volunteer_id": 1 + (shift_id * 7 + k * 1_999) % volunteers,
                    "shift_id": shift_id,
                    "status": "committed" if k % 3 else "confirmed",
                    "channel": "sms",
                    "created_at": now,
                    "committed_at": now,
                    "updated_at": now,
                }
            )
    with engine.begin() as conn:
        for i in range(0, len(rows), 10_000):
            conn.execute(insert(Commitment), rows[i : i + 10_000])
    engine.dispose()


def add_schedules(url: str, n: int) -> None:
    """A realistic timetable: weekly calls to action, a few one-offs."""
    from handlers.schedules import schedule_broadcast

    container = container_for(url)
    now = datetime.now(UTC)
    with container.uow() as uow:
        for i in range(n):
            schedule_broadcast(
                uow.session,
                body=f"Weekly call {i}: text SHIFTS",
                audience="all",
                created_by="bench",
                now=now,
                cron=f"{i % 60} {9 + i % 8} * * {1 + i % 5}",
                timezone="America/New_York",
            )
        uow.commit()
    container.close()


def clock_process(url: str) -> tuple[float, float]:
    """A real `muster clock` process: seconds from launch to leading (imports, connecting, the
    job store read, every schedule registered) and its resident memory then (MiB)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "SLACK_"))}
    env.update({"DATABASE_URL": url, "LOG_LEVEL": "INFO"})
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "clock"],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "clock: leading" in line:
                break
        seconds = time.perf_counter() - started
        time.sleep(0.5)  # the first reminder sweep runs at once: count its memory too
        with open(f"/proc/{proc.pid}/status") as status:
            rss = next(int(x.split()[1]) for x in status if x.startswith("VmHWM:")) / 1024
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    return seconds, rss


def sweep_seconds(url: str, at: datetime, repeat: int = 5) -> tuple[float, int]:
    """Median seconds of one sweep at `at` (rolled back each time) and the reminders it queued."""
    from handlers.reminders import send_due_reminders

    container = container_for(url)
    times, queued = [], 0
    for _ in range(repeat):
        with container.uow() as uow:
            started = time.perf_counter()
            result = send_due_reminders(uow.session, now=at, org=container.org)
            times.append(time.perf_counter() - started)
            queued = result.queued
            uow.rollback()
    container.close()
    return statistics.median(times), queued


def lateness(url: str, firings: int = 3) -> list[tuple[float, float, int]]:
    """Real clock, real scheduler: (started late s, committed late s, recipients) per firing."""
    from sqlalchemy import select

    from bot.parts import timetable_for
    from handlers.schedules import schedule_broadcast
    from storage.models import Broadcast

    container = container_for(url)
    timetable = timetable_for(container)
    stop_event = threading.Event()
    thread = threading.Thread(target=timetable.run, args=(stop_event,), daemon=True)
    thread.start()
    while not timetable.leading:
        time.sleep(0.05)
    base = datetime.now(UTC) + timedelta(seconds=4)
    run_times = [base + timedelta(seconds=5 * i) for i in range(firings)]
    with container.uow() as uow:
        ids = [
            schedule_broadcast(
                uow.session,
                body="Rally at the State House at 6!",
                audience="all",
                created_by="bench",
                now=datetime.now(UTC),
                run_at=run_at,
                timezone="America/New_York",
            ).id
            for run_at in run_times
        ]
        uow.commit()
    seen: dict[int, float] = {}
    end = time.monotonic() + 5 * firings + 30
    while len(seen) < len(ids) and time.monotonic() < end:
        with container.read_uow() as uow:
            rows = uow.session.execute(
                select(Broadcast.schedule_id).where(Broadcast.schedule_id.in_(ids))
            ).all()
        now = time.time()
        for (sid,) in rows:
            seen.setdefault(sid, now)
        time.sleep(0.02)
    stop_event.set()
    thread.join(timeout=60)
    out = []
    with container.read_uow() as uow:
        for sid, run_at in zip(ids, run_times, strict=True):
            row = uow.session.execute(
                select(Broadcast.created_at, Broadcast.recipient_count).where(
                    Broadcast.schedule_id == sid
                )
            ).one()
            out.append(
                (
                    (row.created_at - run_at).total_seconds(),
                    seen[sid] - run_at.timestamp(),
                    row.recipient_count,
                )
            )
    container.close()
    return out


def _fmt(rows: list[tuple[float, float, int]]) -> str:
    started = ", ".join(f"{a:.2f}" for a, _b, _n in rows)
    committed = ", ".join(f"{b:.2f}" for _a, b, _n in rows)
    return f"started {started} s late; committed {committed} s after ({rows[0][2]:,} recipients)"


def _median(rows: list[tuple[float, float]], i: int) -> float:
    return statistics.median(r[i] for r in rows)


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def measure(label: str, fresh: Callable[[str], str]) -> None:
    """Every figure on one kind of database; `fresh(name)` makes an empty migrated one."""
    print(f"--- {label}")
    empty = fresh("empty")
    small = fresh("small")
    seed(small, shifts=10, commitments=50, volunteers=10)
    big = fresh("big")
    seed_s, _ = timed(
        lambda: seed(big, shifts=SHIFTS, commitments=COMMITMENTS, volunteers=VOLUNTEERS)
    )
    add_schedules(big, 20)
    print(f"seeded {SHIFTS:,} shifts, {COMMITMENTS:,} commitments, {VOLUNTEERS:,} volunteers, "
          f"20 weekly schedules in {seed_s:.1f} s")  # fmt: skip

    starts = [clock_process(big) for _ in range(3)]
    base = [clock_process(empty) for _ in range(3)]
    print(
        f"muster clock, launch to leading: {_median(starts, 0):.2f} s, peak resident "
        f"{_median(starts, 1):.0f} MiB; baseline (empty database) {_median(base, 0):.2f} s, "
        f"{_median(base, 1):.0f} MiB (median of 3 each)"
    )

    idle_s, idle_n = sweep_seconds(big, IDLE)
    busy_s, busy_n = sweep_seconds(big, BUSY)
    line = (
        f"reminder sweep over {SHIFTS:,} shifts: idle {idle_s * 1000:.1f} ms ({idle_n} due), "
        f"busy {busy_s * 1000:.1f} ms ({busy_n} reminders queued)"
    )
    s_idle, _ = sweep_seconds(small, IDLE)
    s_busy, s_n = sweep_seconds(small, BUSY)
    line += (
        f"; baseline over 10 shifts: idle {s_idle * 1000:.1f} ms, "
        f"busy {s_busy * 1000:.1f} ms ({s_n} queued)"
    )
    print(line)

    print(f"scheduled broadcast, {VOLUNTEERS:,} volunteers: {_fmt(lateness(big))}")
    print(f"baseline, 10 volunteers: {_fmt(lateness(small))}")


def main() -> int:
    """SQLite files always; then PostgreSQL when BENCH_POSTGRES_URL or TEST_DATABASE_URL names a
    server (scratch databases are created and dropped)."""
    import contextlib

    from bench._inbound_data import ScratchPostgres

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        measure(
            "SQLite files (the embedded default)", lambda name: fresh_database(work, name + ".db")
        )
    server = os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("TEST_DATABASE_URL")
    if server and server.startswith("postgresql"):
        with contextlib.ExitStack() as stack:

            def fresh(_name: str) -> str:
                from storage.migrate import upgrade

                url = stack.enter_context(ScratchPostgres(server))
                upgrade(url)
                return url

            measure("PostgreSQL (scratch databases)", fresh)
    print(f"machine: {machine()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
