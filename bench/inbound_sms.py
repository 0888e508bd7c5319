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

from bench._cpu import CpuMeter

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


def new_phone(rng: random.Random) -> str:
    """A number none of the seeded volunteers has (area code 508)."""
    return f"+1508{rng.randrange(200, 1000)}{rng.randrange(10_000):04d}"


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


# A first-time volunteer's texts, in order (the issue-19 mix: JOIN, a name, a ZIP, then HELP,
# SHIFTS, MY and a question), sent from a number never seen before.
JOINER = ("JOIN", "{name}", "{zip}", "HELP", "SHIFTS", "MY", "Where do we meet on Saturday?")


async def _load(
    url: str, seconds: float, warmup: float, connections: int, seed: int, joins: float = 0.0
) -> dict:
    """`joins`: the share of requests that start a new volunteer's conversation (JOINER, one
    text after another's reply, on the same connection)."""
    import aiohttp
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(AUTH_TOKEN)
    rng = random.Random(seed)
    urls = url.split(",")  # several web processes: each connection keeps to one
    weights = [w for w, _ in MIX]
    bodies = [b for _, b in MIX]
    latencies: list[float] = []
    counts = {"ok": 0, "errors": 0, "warmup_ok": 0}
    error_samples: list[str] = []
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + seconds

    def request(url: str, joiner: list[str]) -> tuple[str, dict[str, str]]:
        fill = {"n": rng.randint(1, SHIFTS), "zip": rng.choice(ZIPS), "name": rng.choice(NAMES)}
        if not joiner and joins and rng.random() < joins:
            joiner.extend([new_phone(rng), *JOINER])
        if joiner:
            phone, body = joiner[0], joiner.pop(1).format(**fill)
            if len(joiner) == 1:
                joiner.clear()
        else:
            phone = phone_of(rng.randrange(VOLUNTEERS))
            body = rng.choices(bodies, weights)[0].format(**fill)
        sid = "SM" + uuid.uuid4().hex
        params = {
            "MessageSid": sid,
            "SmsSid": sid,
            "AccountSid": ACCOUNT_SID,
            "From": phone,
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

    async def worker(session: aiohttp.ClientSession, url: str) -> None:
        joiner: list[str] = []  # the phone, then the texts still to send
        while True:
            data, headers = request(url, joiner)
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
        await asyncio.gather(*(worker(session, urls[i % len(urls)]) for i in range(connections)))
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


def run_load(
    url: str, seconds: float, warmup: float, connections: int, seed: int, joins: float = 0.0
) -> dict:
    """One timed slot of load. Each slot draws its own texts (`seed`): a later slot does not
    replay an earlier one's, which the server would find cheaper (already signed up, already
    acknowledged). `url`: one, or several separated by commas (one per web process)."""
    args = [url, str(seconds), str(warmup), str(connections), str(seed), str(joins)]
    out = subprocess.run(
        [sys.executable, "-m", "bench.inbound_sms", "load", *args],
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
    def __init__(
        self, args: list[str], env: dict[str, str], log: Path, port: int, cwd: Path = ROOT
    ):
        self.port, self.log = port, log
        self._out = log.open("w")
        self.proc = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=self._out, stderr=subprocess.STDOUT
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


def start_muster(
    database_url: str,
    tmp: Path,
    label: str,
    *,
    root: Path = ROOT,
    web_only: bool = True,
    env: dict[str, str] | None = None,
    seeded: bool = False,
) -> Server:
    """`muster serve` (--web-only unless `web_only` is False) from the source tree `root` (a
    second checkout measures the code before a change in the same run), on a freshly seeded
    database."""
    if not seeded:
        code = "import sys; from bench.inbound_sms import seed; seed(sys.argv[1])"
        subprocess.run([sys.executable, "-c", code, database_url], cwd=root, check=True)
    port = free_port()
    slug = "".join(c if c.isalnum() else "-" for c in label.lower())
    return Server(
        [sys.executable, "-m", "bot.cli", "serve", *(["--web-only"] if web_only else []),
         "--port", str(port)],
        {**muster_env(database_url, port), **(env or {})},
        tmp / f"muster-{slug}.log",
        port,
        cwd=root,
    )  # fmt: skip


def database_urls(args: argparse.Namespace, tmp: Path, stack: contextlib.ExitStack, tag: str):
    """(label, url) of the databases this run measures: a SQLite file, a scratch PostgreSQL."""
    found = []
    if args.sqlite != "none":
        found.append(("SQLite file", f"sqlite:///{tmp / f'bench-{tag}.db'}"))
    pg = args.postgres if args.postgres and args.postgres != "none" else None
    if pg and pg.startswith("postgresql"):
        try:
            found.append(("PostgreSQL", stack.enter_context(ScratchPostgres(pg))))
        except Exception as exc:
            print(f"  PostgreSQL skipped: {str(exc).splitlines()[0]}")
    return found


def parser_of(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--seconds", type=float, default=12.0, help="timed seconds per setup")
    parser.add_argument("--rounds", type=int, default=3, help="slots each setup's time is cut in")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before each slot")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--joins", type=float, default=0.03,
        help="share of requests that start a new volunteer's conversation (JOINER)",
    )  # fmt: skip
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("TEST_DATABASE_URL"),
        help="a PostgreSQL server URL (any existing database); 'none' to skip",
    )
    parser.add_argument("--sqlite", default="file", help="'none' to skip SQLite")
    parser.add_argument(
        "--baseline-tree",
        type=Path,
        help="another checkout (the code before a change): each database is also served by it",
    )
    return parser


def measure(
    args: argparse.Namespace, setups: list[tuple[str, list[Server], str | None]]
) -> tuple[bool, dict[str, dict]]:
    """Run the slots in turn, print each setup's figure beside the echo's (the first setup's);
    (True if no error and every answered text was stored, each setup's figures)."""
    slot = args.seconds / args.rounds
    runs: dict[str, list[dict]] = {label: [] for label, _, _ in setups}
    meters = {label: CpuMeter() for label, _, _ in setups}
    for round_ in range(args.rounds):
        for label, servers, _ in setups:
            url = ",".join(f"http://127.0.0.1:{srv.port}/twilio/sms" for srv in servers)
            meters[label].start([srv.proc.pid for srv in servers])
            runs[label].append(
                run_load(url, slot, args.warmup, args.connections, 11 + round_, args.joins)
            )
            meters[label].stop(runs[label][-1]["answered"])
    results = {label: combine(r) for label, r in runs.items()}
    echo_rps = results[setups[0][0]]["rps"]
    good = True
    for label, _, database_url in setups:
        result = results[label]
        print(fmt(label, result))
        for sample in result["error_samples"]:
            print(f"    error: {sample}")
        good &= not result["errors"]
        postgres = bool(database_url and database_url.startswith("postgresql"))
        print(f"    {meters[label].line(children=database_url is not None, postgres=postgres)}")
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
        good &= stored == result["answered"]
    return good, results


def main(argv: list[str] | None = None) -> int:
    args = parser_of("python -m bench inbound_sms").parse_args(argv if argv is not None else [])
    print(
        f"POST /twilio/sms, signed, one uvicorn worker, {args.connections} connections; "
        f"{VOLUNTEERS:,} volunteers; {args.joins:.0%} of requests start a new volunteer's "
        f"JOIN, name, ZIP, HELP, SHIFTS, MY, question. Each setup {args.seconds:.0f} s, cut in "
        f"{args.rounds} slots taken in turn with the others (so a busy moment on this shared "
        f"machine hits all alike). Load average at the start: {os.getloadavg()[0]:.2f}."
    )
    with (
        tempfile.TemporaryDirectory(prefix="bench-sms-") as tmpdir,
        contextlib.ExitStack() as stack,
    ):
        tmp = Path(tmpdir)
        echo = start_echo(tmp)
        stack.callback(echo.stop)
        setups: list[tuple[str, list[Server], str | None]] = [
            ("baseline: Starlette TwiML echo + signature", [echo], None)
        ]
        trees = [("", ROOT)]
        if args.baseline_tree:
            trees.append((" (before)", args.baseline_tree.resolve()))
        for suffix, root in trees:
            for name, url in database_urls(args, tmp, stack, str(len(setups))):
                label = f"Muster /twilio/sms on {name}{suffix}"
                server = start_muster(url, tmp, label, root=root)
                stack.callback(server.stop)
                setups.append((label, [server], url))
        good, _ = measure(args, setups)
    print(f"  load average at the end: {os.getloadavg()[0]:.2f}")
    return 0 if good else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "load":
        url, seconds, warmup, conns = sys.argv[2], *map(float, sys.argv[3:5]), int(sys.argv[5])
        seed_ = int(sys.argv[6]) if len(sys.argv) > 6 else 11
        joins = float(sys.argv[7]) if len(sys.argv) > 7 else 0.0
        print(json.dumps(asyncio.run(_load(url, seconds, warmup, conns, seed_, joins))))
    elif len(sys.argv) > 1 and sys.argv[1] == "echo":
        serve_echo(int(sys.argv[2]))
    else:
        sys.exit(main(sys.argv[1:]))
