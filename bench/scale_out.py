"""`python -m bench scale_out`: two web processes and two workers against one PostgreSQL.

One scratch PostgreSQL database (10,000 volunteers, 40 shifts, a broadcast to all of them in the
outbox), two `muster serve --web-only` processes and two `muster worker` processes sending the
broadcast to the fake Twilio (its own process, 150 ms an answer) while the inbound load runs.
The load (bench.inbound_sms's mix with joiners, 16 connections) goes in turn to one web process
and to both (each connection keeps to one), slot by slot, so that both figures see the same
machine. Afterwards: every answered text stored once (inbound rows = answers), and every
broadcast text sent exactly once (no recipient missing, none twice) although two workers
claimed from the same outbox.

    python -m bench scale_out [--seconds 12] [--rounds 3] [--postgres URL]
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench._inbound_data import GROUP_NUMBER, ROOT, ScratchPostgres, seed, stored_messages
from bench._inbound_servers import start_muster
from bench._sending import ACCOUNT, TOKEN, FakeProcess, confirm_broadcast_to_all, unsent
from bench.inbound_sms import measure, parser_of

SEND_RATE = 150.0  # msg/s over both workers: the broadcast outlasts the inbound load


def sent_rows(database_url: str) -> Counter[str]:
    from sqlalchemy import select

    from storage.db import make_engine
    from storage.models import Delivery
    from storage.outbox import WENT

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            query = select(Delivery.to_phone).where(Delivery.status.in_(WENT))
            return Counter(conn.execute(query).scalars())
    finally:
        engine.dispose()


def broadcast_sent(database_url: str) -> int:
    from sqlalchemy import func, select

    from storage.db import make_engine
    from storage.models import Delivery
    from storage.outbox import WENT

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            query = select(func.count()).where(
                Delivery.kind == "broadcast", Delivery.status.in_(WENT)
            )
            return int(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


def start_worker(database_url: str, fake: FakeProcess, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "SLACK_"))}
    env.update(
        DATABASE_URL=database_url, TWILIO_API_URL=fake.url, TWILIO_ACCOUNT_SID=ACCOUNT,
        TWILIO_AUTH_TOKEN=TOKEN, TWILIO_FROM_NUMBER=GROUP_NUMBER, QUIET_HOURS="off",
        PUBLIC_URL="https://muster.example.org", SEND_RATE_MPS=str(SEND_RATE),
        SEND_CONCURRENCY="60", LOG_LEVEL="WARNING",
    )  # fmt: skip
    out = log.open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "worker"], cwd=ROOT, env=env, stdout=out,
        stderr=subprocess.STDOUT,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parser_of("python -m bench scale_out").parse_args(argv if argv is not None else [])
    if not (args.postgres and args.postgres.startswith("postgresql")):
        print("scale_out: needs a PostgreSQL server (--postgres / TEST_DATABASE_URL); skipped")
        return 0
    print(
        f"scale_out: 2 web + 2 workers on one PostgreSQL; {args.connections} connections, "
        f"{args.joins:.0%} joiners; load average {os.getloadavg()[0]:.2f}"
    )
    good = True
    with (
        tempfile.TemporaryDirectory(prefix="bench-scale-") as tmpdir,
        contextlib.ExitStack() as stack,
    ):
        tmp = Path(tmpdir)
        url = stack.enter_context(ScratchPostgres(args.postgres))
        seed(url)
        recipients = confirm_broadcast_to_all(url)
        fake = FakeProcess()
        stack.callback(fake.close)
        webs = []
        for n in (1, 2):
            server = start_muster(url, tmp, f"web {n}", seeded=True)
            stack.callback(server.stop)
            webs.append(server)
        workers = [start_worker(url, fake, tmp / f"worker-{n}.log") for n in (1, 2)]
        for proc in workers:
            stack.callback(proc.wait, 60)
            stack.callback(proc.send_signal, signal.SIGTERM)
        setups = [
            ("one web process", [webs[0]], None),
            ("two web processes", webs, None),
        ]
        good, results = measure(args, setups)
        answered = sum(r["answered"] for r in results.values())
        one, two = (results[label]["rps"] for label, _, _ in setups)
        print(f"  two web processes / one: {two / one:.2f} x")
        deadline = time.monotonic() + 300
        while unsent(url) and time.monotonic() < deadline:
            time.sleep(1)
        stored = stored_messages(url)
        # Texts the fake accepted beside the outbox rows marked sent, by number (a DROP's
        # promotion texts a volunteer the broadcast reached too: two rows, two texts).
        to = Counter(m["to"] for m in fake.sent())
        rows = sent_rows(url)
        duplicates = sum(max(0, n - rows[phone]) for phone, n in to.items())
        missing = sum(max(0, n - to[phone]) for phone, n in rows.items())
        missing += recipients - broadcast_sent(url)
        print(
            f"  inbound rows stored: {stored:,} of {answered:,} answered"
            f"{'' if stored == answered else ' (MISMATCH)'}"
        )
        print(
            f"  broadcast to {recipients:,} by two workers: sent {sum(to.values()):,}, "
            f"duplicates {duplicates}, missing {missing}"
        )
        good = good and stored == answered and duplicates == 0 and missing == 0
    print(f"  load average at the end: {os.getloadavg()[0]:.2f}")
    print("  PASS" if good else "  FAILED")
    return 0 if good else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
