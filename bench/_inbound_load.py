"""The load generator of `bench inbound_sms` (and the benches built on it), in a process of its own:
16 connections kept busy, every request signed like Twilio's with a new MessageSid, from a random
seeded volunteer with a body drawn from the keyword mix, or a first-time joiner's texts in turn.

    python -m bench._inbound_load URL SECONDS WARMUP CONNECTIONS [SEED] [JOINS]
prints one JSON line (counts and latencies); `run_load` runs it and reads that line.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import subprocess
import sys
import time
import uuid
from urllib.parse import urlencode

from bench._inbound_data import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    GROUP_NUMBER,
    JOINER,
    MIX,
    NAMES,
    ROOT,
    SHIFTS,
    VOLUNTEERS,
    ZIPS,
    new_phone,
    phone_of,
)


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
        [sys.executable, "-m", "bench._inbound_load", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=seconds + warmup + 120,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    url, seconds, warmup, conns = sys.argv[1], *map(float, sys.argv[2:4]), int(sys.argv[4])
    seed_ = int(sys.argv[5]) if len(sys.argv) > 5 else 11
    joins = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
    print(json.dumps(asyncio.run(_load(url, seconds, warmup, conns, seed_, joins))))
