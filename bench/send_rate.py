"""20,000 recipients at SEND_RATE_MPS=500 through a real `muster worker` (SQLite) against the fake
Twilio answering each request after 150 ms: achieved rate (target >= 0.95 x 500), duplicates and
missing texts (target 0 and 0), the worker's peak memory (target < 200 MB).

Baseline, same run: a bare aiohttp client posting to the same fake at the same concurrency (no
twilio library, no database), i.e. what the machine and the fake allow.
"""

from __future__ import annotations

from bench._sending import (
    FakeProcess,
    add_volunteers,
    confirm_broadcast_to_all,
    machine,
    raw_client_rate,
    run_worker,
    scratch_dir,
    sqlite_database,
)

RECIPIENTS = 20_000
RATE = 500.0
CONCURRENCY = 150  # >= rate x latency (500 x 0.15 s = 75), with room for slow answers


def main() -> int:
    fake = FakeProcess()
    try:
        with scratch_dir() as directory:
            url = sqlite_database(directory)
            add_volunteers(url, RECIPIENTS)
            assert confirm_broadcast_to_all(url) == RECIPIENTS
            run = run_worker(url, fake, recipients=RECIPIENTS, rate=RATE, concurrency=CONCURRENCY)
        fake.reset()
        baseline = raw_client_rate(fake.url, count=5_000, concurrency=CONCURRENCY)
    finally:
        fake.close()
    ok = (
        run.rate >= 0.95 * RATE
        and run.duplicates == 0
        and run.missing == 0
        and run.peak_rss_mb < 200
    )
    print(f"send_rate: {RECIPIENTS} recipients at SEND_RATE_MPS={RATE:g}, "
          f"SEND_CONCURRENCY={CONCURRENCY}, fake latency 150 ms, SQLite")  # fmt: skip
    print(f"  achieved rate      {run.rate:8.1f} msg/s   (target >= {0.95 * RATE:.0f})")
    print(f"  duplicates         {run.duplicates:8d}         (target 0)")
    print(f"  missing            {run.missing:8d}         (target 0)")
    print(f"  worker peak RSS    {run.peak_rss_mb:8.1f} MB      (target < 200)")
    print(f"  wall time          {run.seconds:8.1f} s")
    print(f"  baseline: bare aiohttp client, same fake, same concurrency: {baseline:.0f} msg/s")
    print(f"  machine: {machine()}")
    print("  PASS" if ok else "  MISSED A TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
