"""Shared pieces of the sending benchmarks: the fake Twilio in its own process, a database
filled with volunteers and one broadcast, a real `muster worker` process and its peak memory."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, insert, select

from storage.db import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.models import Delivery, DeliveryStatus, OnboardingStep, Volunteer, VolunteerStatus

ACCOUNT = "AC" + "f" * 32
TOKEN = "fake-twilio-auth-token"
LATENCY_S = 0.15


def machine() -> str:
    """What the figures were measured on, read when printed: cores and the load average."""
    one, five, _ = os.getloadavg()
    return f"{os.cpu_count()}-core machine, load average {one:.2f} (5 min {five:.2f})"


class FakeProcess:
    """`python -m tests.fakes.twilio_api` in its own process, so it is never the bottleneck."""

    def __init__(self, latency: float = LATENCY_S):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.twilio_api", "--latency", str(latency)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            raise RuntimeError("the fake Twilio did not start")

    def sent(self) -> list[dict[str, object]]:
        with urllib.request.urlopen(f"{self.url}/_fake/sent", timeout=60) as response:
            return json.loads(response.read())

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/_fake/reset", method="POST", data=b"")
        urllib.request.urlopen(request, timeout=10).close()

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def sqlite_database(directory: str) -> str:
    url = f"sqlite:///{Path(directory) / 'bench.db'}"
    upgrade(url)
    return url


def add_volunteers(url: str, count: int) -> None:
    """`count` active volunteers, inserted in bulk (setup, not what is measured)."""
    engine = make_engine(url)
    now = datetime.now(UTC)
    rows = [
        {"phone": f"+1617{2000000 + i:07d}", "first_name": f"V{i}", "zip": "02124",
         "state": "MA", "timezone": "America/New_York", "language": "en",
         "status": VolunteerStatus.ACTIVE, "onboarding_step": OnboardingStep.DONE,
         "zip_attempts": 0, "digest_opt_in": False, "source": "bench",
         "created_at": now, "updated_at": now}
        for i in range(count)
    ]  # fmt: skip
    with make_session_factory(engine)() as session:
        for start in range(0, count, 10_000):
            session.execute(insert(Volunteer), rows[start : start + 10_000])
        session.commit()
    engine.dispose()


def confirm_broadcast_to_all(url: str, body: str = "Canvass Saturday 10am. Reply YES") -> int:
    from handlers.broadcasts import confirm_broadcast, create_draft

    engine = make_engine(url)
    now = datetime.now(UTC)
    with make_session_factory(engine)() as session:
        draft = create_draft(session, body=body, audience="all", created_by="bench", now=now)
        count = confirm_broadcast(session, broadcast_id=draft.id, user_id="bench", now=now)
        session.commit()
    engine.dispose()
    return count


def unsent(url: str) -> int:
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        n = session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.status.in_((DeliveryStatus.PENDING, DeliveryStatus.CLAIMED)))
        )
    engine.dispose()
    return int(n or 0)


@dataclass
class WorkerRun:
    seconds: float
    peak_rss_mb: float
    sent: int
    unique: int
    duplicates: int
    missing: int
    rate: float  # accepted per second, first to last, at the fake


def run_worker(url: str, fake: FakeProcess, *, recipients: int, rate: float, concurrency: int,
               timeout: float = 600) -> WorkerRun:  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "SLACK_"))}
    env.update(
        DATABASE_URL=url, TWILIO_API_URL=fake.url, TWILIO_ACCOUNT_SID=ACCOUNT,
        TWILIO_AUTH_TOKEN=TOKEN, TWILIO_FROM_NUMBER="+16175550100", QUIET_HOURS="off",
        PUBLIC_URL="https://muster.example.org", SEND_RATE_MPS=str(rate),
        SEND_CONCURRENCY=str(concurrency), LOG_LEVEL="WARNING",
    )  # fmt: skip
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "worker"], env=env)
    peak = 0.0
    try:
        while time.monotonic() - started < timeout:
            peak = max(peak, _peak_rss_mb(proc.pid))
            if proc.poll() is not None:
                raise RuntimeError(f"the worker exited with {proc.returncode}")
            if unsent(url) == 0:
                break
            time.sleep(0.5)
        seconds = time.monotonic() - started
        peak = max(peak, _peak_rss_mb(proc.pid))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    sent = fake.sent()
    to = Counter(m["to"] for m in sent)
    times = sorted(float(m["at"]) for m in sent)  # type: ignore[arg-type]
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    return WorkerRun(
        seconds=seconds,
        peak_rss_mb=peak,
        sent=len(sent),
        unique=len(to),
        duplicates=sum(to.values()) - len(to),
        missing=recipients - len(to),
        rate=(len(times) - 1) / span if span else 0.0,
    )


def _peak_rss_mb(pid: int) -> float:
    """VmHWM: the process's peak resident set size so far."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def raw_client_rate(url: str, *, count: int, concurrency: int) -> float:
    """Baseline: a bare aiohttp client posting the same form to the same fake, no twilio
    library and no database: how fast this machine and the fake allow at this concurrency."""
    import aiohttp

    async def run() -> float:
        auth = aiohttp.BasicAuth(ACCOUNT, TOKEN)
        endpoint = f"{url}/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector, auth=auth) as session:
            queue = iter(range(count))

            async def one_lane() -> None:
                for i in queue:
                    form = {"To": f"+1415{3000000 + i:07d}", "From": "+16175550100",
                            "Body": "baseline"}  # fmt: skip
                    async with session.post(endpoint, data=form) as response:
                        await response.read()

            started = time.monotonic()
            await asyncio.gather(*(one_lane() for _ in range(concurrency)))
            return count / (time.monotonic() - started)

    return asyncio.run(run())


def scratch_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="muster-bench-")
