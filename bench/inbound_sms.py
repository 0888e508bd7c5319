"""`python -m bench inbound_sms`: throughput of `POST /twilio/sms` with valid signatures.

Measured in one run; each setup's time is cut in slots taken in turn with the other setups
(echo, SQLite, PostgreSQL, echo, ...), each after a short warm-up, so that a busy moment on a
shared machine falls on all of them alike:
- baseline: a bare Starlette endpoint that checks the Twilio signature with the same
  RequestValidator and answers a fixed TwiML message (no database): the ceiling of this
  framework, server and load on this machine;
- Muster: the real `muster serve --web-only` (one uvicorn worker, production settings, INFO logs)
  on a SQLite file holding 10,000 volunteers and 40 open shifts;
- the same on PostgreSQL when TEST_DATABASE_URL / BENCH_POSTGRES_URL names a server (a scratch
  database is created and dropped).
Load: 16 connections kept busy by an aiohttp client in a separate process, every request signed
like Twilio's and carrying a new MessageSid, from a random volunteer, with a mix of keywords:
SHIFTS, HELP, MY, YES N, DROP N, C, ZIP, NAME, free text. Afterwards the bench checks that every
answered message was stored (one inbound row each) and that none failed.
Targets (issue 3): at least 0.35 x the echo's throughput, p99 under 25 ms, zero errors.

    python -m bench.inbound_sms [--seconds 12] [--rounds 3] [--connections 16] [--postgres URL|none]
    (python -m bench inbound_sms runs it with the defaults)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "b" * 32
VOLUNTEERS = 10_000
SHIFTS = 40
GROUP_NUMBER = "+16175550100"
# (weight, body template): {n} a shift number, {zip} a ZIP, {name} a first name
MIX = [
    (25, "SHIFTS"),
    (10, "HELP"),
    (15, "MY"),
    (15, "YES {n}"),
    (5, "DROP {n}"),
    (5, "C"),
    (5, "ZIP {zip}"),
    (5, "NAME {name}"),
    (15, "Is there parking near the office on Saturday?"),
]
ZIPS = ("02124", "02130", "01608", "60622", "80205", "94612")
NAMES = ("Maria", "Ana", "Kai", "Jordan", "Lee", "Sam")
ROOT = Path(__file__).resolve().parent.parent


def phone_of(i: int) -> str:
    return f"+1617{300 + i // 10_000}{i % 10_000:04d}"


# --- the echo baseline ---------------------------------------------------------------------------


def echo_app(public_url: str):
    """A bare Starlette TwiML echo that checks the signature exactly as Muster's route does."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route
    from twilio.request_validator import RequestValidator
    from twilio.twiml.messaging_response import MessagingResponse

    validator = RequestValidator(AUTH_TOKEN)
    url = public_url.rstrip("/") + "/twilio/sms"

    async def sms(request: Request) -> Response:
        form = await request.form()
        params = {k: str(v) for k, v in form.multi_items()}
        if not validator.validate(url, params, request.headers.get("X-Twilio-Signature", "")):
            return Response("forbidden", status_code=403)
        reply = MessagingResponse()
        reply.message("Thanks, we got your message.")
        return Response(str(reply), media_type="application/xml")

    return Starlette(routes=[Route("/twilio/sms", sms, methods=["POST"])])


def serve_echo(port: int) -> None:
    import uvicorn

    from bot.logs import configure_logging

    configure_logging("INFO")
    app = echo_app(f"http://127.0.0.1:{port}")
    uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    ).run()


# --- the load generator (its own process) ---------------------------------------------------------


async def _load(url: str, seconds: float, warmup: float, connections: int, seed: int) -> dict:
    import aiohttp
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(AUTH_TOKEN)
    rng = random.Random(seed)
    weights = [w for w, _ in MIX]
    bodies = [b for _, b in MIX]
    latencies: list[float] = []
    counts = {"ok": 0, "errors": 0, "warmup_ok": 0}
    error_samples: list[str] = []
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + seconds

    def request() -> tuple[str, dict[str, str]]:
        body = rng.choices(bodies, weights)[0].format(
            n=rng.randint(1, SHIFTS), zip=rng.choice(ZIPS), name=rng.choice(NAMES)
        )
        sid = "SM" + uuid.uuid4().hex
        params = {
            "MessageSid": sid,
            "SmsSid": sid,
            "AccountSid": ACCOUNT_SID,
            "From": phone_of(rng.randrange(VOLUNTEERS)),
            "To": GROUP_NUMBER,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": "1",
        }
        headers = {
            "X-Twilio-Signature": validator.compute_signature(url, params),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        return urlencode(params), headers

    async def worker(session: aiohttp.ClientSession) -> None:
        while True:
            data, headers = request()
            t0 = time.perf_counter()
            if t0 >= stop_at:
                return
            try:
                async with session.post(url, data=data, headers=headers) as resp:
                    text = await resp.text()
                    ok = resp.status == 200 and text.startswith("<?xml")
                    if not ok and len(error_samples) < 3:
                        error_samples.append(f"{resp.status}: {text[:200]}")
            except Exception as exc:
                ok = False
                if len(error_samples) < 3:
                    error_samples.append(repr(exc))
            t1 = time.perf_counter()
            if t0 >= measure_from:
                if ok:
                    counts["ok"] += 1
                    latencies.append(t1 - t0)
                else:
                    counts["errors"] += 1
            elif ok:
                counts["warmup_ok"] += 1
            else:
                counts["errors"] += 1

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(connections)))
    return {
        "ok": counts["ok"],
        "errors": counts["errors"],
        "answered": counts["ok"] + counts["warmup_ok"],
        "seconds": seconds,
        "latencies": [round(x, 6) for x in latencies],
        "error_samples": error_samples,
    }


def combine(runs: list[dict]) -> dict:
    """Several timed slots of one configuration as one figure."""
    latencies = sorted(x for r in runs for x in r["latencies"])
    ok = sum(r["ok"] for r in runs)
    return {
        "ok": ok,
        "errors": sum(r["errors"] for r in runs),
        "answered": sum(r["answered"] for r in runs),
        "rps": ok / sum(r["seconds"] for r in runs),
        "p50_ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("nan"),
        "error_samples": [e for r in runs for e in r["error_samples"]][:3],
    }


def run_load(url: str, seconds: float, warmup: float, connections: int, seed: int) -> dict:
    """One timed slot of load. Each slot draws its own texts (`seed`): a later slot does not
    replay an earlier one's, which the server would find cheaper (already signed up, already
    acknowledged)."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.inbound_sms",
            "load",
            url,
            str(seconds),
            str(warmup),
            str(connections),
            str(seed),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=seconds + warmup + 120,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- servers -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start in time")


class Server:
    def __init__(self, args: list[str], env: dict[str, str], log: Path, port: int):
        self.port, self.log = port, log
        self._out = log.open("w")
        self.proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self._out, stderr=subprocess.STDOUT
        )
        wait_ready(port, self.proc, log)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._out.close()


def muster_env(database_url: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "SLACK_"))}
    env.update(
        DATABASE_URL=database_url,
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_FROM_NUMBER=GROUP_NUMBER,
        ORG_NAME="Bench Org",
        ORG_CONTACT="help@bench.example",
        LOG_LEVEL="INFO",
    )
    return env


# --- data ----------------------------------------------------------------------------------------


def seed(database_url: str) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import insert

    from storage.db import make_engine, make_session_factory
    from storage.migrate import upgrade
    from storage.models import Shift, Volunteer

    upgrade(database_url)
    engine = make_engine(database_url)
    now = datetime.now(UTC)
    rng = random.Random(3)
    try:
        with make_session_factory(engine)() as s:
            rows = [
                {
                    "phone": phone_of(i),
                    "first_name": rng.choice(NAMES),
                    "zip": rng.choice(ZIPS),
                    "timezone": "America/New_York",
                    "language": "es" if i % 10 == 0 else "en",
                    "status": "active",
                    "onboarding_step": "done",
                    "source": "bench",
                    "opted_in_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(VOLUNTEERS)
            ]
            for i in range(0, len(rows), 2000):
                s.execute(insert(Volunteer), rows[i : i + 2000])
            s.execute(
                insert(Shift),
                [
                    {
                        "title": f"Canvass {n}",
                        "kind": "canvass",
                        "zip": ZIPS[n % len(ZIPS)],
                        "starts_at": now + timedelta(days=1 + n % 20, hours=n % 7),
                        "ends_at": now + timedelta(days=1 + n % 20, hours=2 + n % 7),
                        "timezone": "America/New_York",
                        "capacity": 5 + n % 30,
                        "committed_count": 0,
                        "tags": [],
                    }
                    for n in range(1, SHIFTS + 1)
                ],
            )
            s.commit()
    finally:
        engine.dispose()


def stored_messages(database_url: str) -> int:
    from sqlalchemy import func, select

    from storage.db import make_engine
    from storage.models import InboundMessage

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(InboundMessage)).scalar_one()
    finally:
        engine.dispose()


class ScratchPostgres:
    def __init__(self, admin_url: str):
        from sqlalchemy.engine import make_url

        self.admin = make_url(admin_url)
        self.name = f"muster_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.url = self.admin.set(database=self.name).render_as_string(hide_password=False)

    def _run(self, sql: str) -> None:  # (CREATE/DROP DATABASE cannot run in a transaction)
        from sqlalchemy import text

        from storage.db import make_engine

        engine = make_engine(self.admin.render_as_string(hide_password=False))
        try:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text(sql))
        finally:
            engine.dispose()

    def __enter__(self) -> str:
        self._run(f'CREATE DATABASE "{self.name}"')
        return self.url

    def __exit__(self, *exc: object) -> None:
        self._run(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        return None


# --- the run -------------------------------------------------------------------------------------


def fmt(label: str, r: dict) -> str:
    return (
        f"  {label:<44} {r['rps']:7.0f} req/s  p50 {r['p50_ms']:5.1f} ms  "
        f"p99 {r['p99_ms']:5.1f} ms  errors {r['errors']}"
    )


def start_echo(tmp: Path) -> Server:
    port = free_port()
    return Server(
        [sys.executable, "-m", "bench.inbound_sms", "echo", str(port)],
        dict(os.environ),
        tmp / "echo.log",
        port,
    )


def start_muster(database_url: str, tmp: Path, label: str) -> Server:
    seed(database_url)
    port = free_port()
    return Server(
        [sys.executable, "-m", "bot.cli", "serve", "--web-only", "--port", str(port)],
        muster_env(database_url, port),
        tmp / f"muster-{label.split()[0]}.log",
        port,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench inbound_sms")
    parser.add_argument("--seconds", type=float, default=12.0, help="timed seconds per setup")
    parser.add_argument("--rounds", type=int, default=3, help="slots each setup's time is cut in")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before each slot")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("TEST_DATABASE_URL"),
        help="a PostgreSQL server URL (any existing database); 'none' to skip",
    )
    args = parser.parse_args(argv if argv is not None else [])
    slot = args.seconds / args.rounds
    print(
        f"POST /twilio/sms, signed, one uvicorn worker, {args.connections} connections; "
        f"{VOLUNTEERS:,} volunteers. Each setup {args.seconds:.0f} s, cut in {args.rounds} slots "
        f"taken in turn with the others (so a busy moment on this shared machine hits all "
        f"alike). Figures are under load from other sessions."
    )
    failed = False
    with (
        tempfile.TemporaryDirectory(prefix="bench-sms-") as tmpdir,
        contextlib.ExitStack() as stack,
    ):
        tmp = Path(tmpdir)
        setups: list[tuple[str, Server, str | None]] = []
        echo = start_echo(tmp)
        stack.callback(echo.stop)
        setups.append(("baseline: Starlette TwiML echo + signature", echo, None))
        sqlite_url = f"sqlite:///{tmp / 'bench.db'}"
        server = start_muster(sqlite_url, tmp, "SQLite file")
        stack.callback(server.stop)
        setups.append(("Muster /twilio/sms on SQLite file", server, sqlite_url))
        pg = args.postgres if args.postgres and args.postgres != "none" else None
        if pg and pg.startswith("postgresql"):
            try:
                pg_url = stack.enter_context(ScratchPostgres(pg))
                server = start_muster(pg_url, tmp, "PostgreSQL")
                stack.callback(server.stop)
                setups.append(("Muster /twilio/sms on PostgreSQL", server, pg_url))
            except Exception as exc:
                print(f"  PostgreSQL skipped: {str(exc).splitlines()[0]}")
        runs: dict[str, list[dict]] = {label: [] for label, _, _ in setups}
        for round_ in range(args.rounds):
            for label, srv, _ in setups:
                url = f"http://127.0.0.1:{srv.port}/twilio/sms"
                runs[label].append(
                    run_load(url, slot, args.warmup, args.connections, seed=11 + round_)
                )
        results = {label: combine(r) for label, r in runs.items()}
        echo_rps = results[setups[0][0]]["rps"]
        for label, _, database_url in setups:
            result = results[label]
            print(fmt(label, result))
            for sample in result["error_samples"]:
                print(f"    error: {sample}")
            failed |= bool(result["errors"])
            if database_url is None:
                continue
            stored = stored_messages(database_url)
            ratio = result["rps"] / echo_rps if echo_rps else 0.0
            ok_ratio, ok_p99 = ratio >= 0.35, result["p99_ms"] < 25
            print(
                f"    {ratio:.2f} x echo (target >= 0.35: {'met' if ok_ratio else 'MISSED'}); "
                f"p99 target < 25 ms: {'met' if ok_p99 else 'MISSED'}; "
                f"stored {stored:,} of {result['answered']:,} answered"
                f"{'' if stored == result['answered'] else ' (MISMATCH)'}"
            )
            failed |= stored != result["answered"]
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "load":
        url, seconds, warmup, conns = sys.argv[2], *map(float, sys.argv[3:5]), int(sys.argv[5])
        seed = int(sys.argv[6]) if len(sys.argv) > 6 else 11
        print(json.dumps(asyncio.run(_load(url, seconds, warmup, conns, seed=seed))))
    elif len(sys.argv) > 1 and sys.argv[1] == "echo":
        serve_echo(int(sys.argv[2]))
    else:
        sys.exit(main(sys.argv[1:]))
