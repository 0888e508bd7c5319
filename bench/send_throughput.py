"""No rate limit: how many texts per second one `muster worker` process sends (SQLite) against
the fake Twilio answering each request after 150 ms. Target: at least 1,000 per second.

Baseline, same run: a bare aiohttp client posting to the same fake at the same concurrency (no
twilio library, no database).
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
CONCURRENCY = 400  # 1,000/s x 0.15 s = 150 in flight at least


def main() -> int:
    fake = FakeProcess()
    try:
        with scratch_dir() as directory:
            url = sqlite_database(directory)
            add_volunteers(url, RECIPIENTS)
            assert confirm_broadcast_to_all(url) == RECIPIENTS
            run = run_worker(url, fake, recipients=RECIPIENTS, rate=1_000_000.0,
                             concurrency=CONCURRENCY)  # fmt: skip
        fake.reset()
        baseline = raw_client_rate(fake.url, count=10_000, concurrency=CONCURRENCY)
    finally:
        fake.close()
    ok = run.rate >= 1000 and run.duplicates == 0 and run.missing == 0
    print(f"send_throughput: {RECIPIENTS} recipients, no rate limit, "
          f"SEND_CONCURRENCY={CONCURRENCY}, fake latency 150 ms, SQLite, one worker")  # fmt: skip
    print(f"  achieved rate      {run.rate:8.1f} msg/s   (target >= 1000)")
    print(f"  duplicates/missing {run.duplicates:5d} / {run.missing:<5d}  (target 0 / 0)")
    print(f"  worker peak RSS    {run.peak_rss_mb:8.1f} MB")
    print(f"  baseline: bare aiohttp client, same fake, same concurrency: {baseline:.0f} msg/s")
    print(f"  machine: {machine()}")
    print("  PASS" if ok else "  MISSED A TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
