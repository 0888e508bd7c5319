"""`python -m bench import_volunteers`: `muster import volunteers` on a 50,000-row file.

Measured in one run, on a fresh migrated SQLite file (or BENCH_DATABASE_URL, e.g. a PostgreSQL
database you can empty):
- baseline: reading and validating the same file (csv + phonenumbers + ZIP + times), writing
  nothing: the floor any import of this file has to pay;
- the import itself (validation + the batched, set-based writes), then the same file again (the
  second run changes nothing);
- peak Python memory (tracemalloc) of the baseline and of the import, each in a run of its own (so
  the tracing does not slow the timed runs), and of a 10,000-row import: the import streams in
  batches, so its peak grows only with the set of numbers already seen (for duplicates).
The file: 50,000 rows, about 93% good with consent, 3% without consent, 2% bad phones, 1% unknown
ZIPs and 1% duplicated numbers.
"""

from __future__ import annotations

import csv
import io
import os
import random
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from bench._sending import machine

ROWS = 50_000
AREA = ("617", "508", "312", "773", "303", "720", "510", "415")
ZIPS = ("02124", "02130", "01608", "60622", "60615", "80205", "94612", "94110")
TAGS = ("", "phonebank", "canvass", "phonebank,canvass", "testify", "textbank;spanish")


def make_file(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    used: list[str] = []
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["phone", "name", "zip", "tags", "opted_in_at", "source"])
        for n in range(rows):
            roll = rng.random()
            phone = f"+1{AREA[n % len(AREA)]}{rng.randint(200, 989)}{rng.randint(0, 9999):04d}"
            zip5 = ZIPS[n % len(ZIPS)]
            when = f"2026-0{rng.randint(1, 9)}-{rng.randint(10, 28)}T1{rng.randint(0, 9)}:00:00Z"
            if roll < 0.02:
                phone = f"555-{rng.randint(1000, 9999)}"  # too short: rejected
            elif roll < 0.03 and used:
                phone = rng.choice(used)  # duplicate in the file: rejected
            elif roll < 0.04:
                zip5 = "99999"  # not a ZIP in use: rejected
            elif roll < 0.07:
                when = ""  # no consent evidence: kept, not subscribed
            used.append(phone)
            if len(used) > 1000:
                used = used[-1000:]
            writer.writerow([phone, f"Person {n}", zip5, rng.choice(TAGS), when, "bench"])


def container_for(url: str):
    from bot.bootstrap import bootstrap
    from bot.settings import Settings

    settings = Settings(_env_file=None, database_url=url, quiet_hours="off")  # type: ignore[call-arg]
    return bootstrap(settings)


def fresh_database(workdir: Path, name: str) -> str:
    from storage.migrate import upgrade

    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{workdir / name}"
    if url.startswith("postgresql"):
        from sqlalchemy import text

        from storage.db import make_engine
        from storage.schema import metadata

        upgrade(url)
        engine = make_engine(url)
        tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()
    else:
        upgrade(url)
    return url


def validate_only(path: Path) -> int:
    """The baseline: read and validate every row, write nothing."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from bot.csv_rows import RowError, read_rows, validate_row

    now, zone, good = datetime.now(UTC), ZoneInfo("America/New_York"), 0
    with path.open(newline="", encoding="utf-8-sig") as stream:
        _header, rows = read_rows(stream)
        for line, raw in rows:
            try:
                validate_row(line, raw, now=now, zone=zone)
                good += 1
            except RowError:
                pass
    return good


def import_file(url: str, path: Path) -> object:
    from bot.csv_import import import_volunteers_from

    container = container_for(url)
    try:
        with path.open(newline="", encoding="utf-8-sig") as stream:
            return import_volunteers_from(
                container, stream, rejects=io.StringIO(), file_name=path.name
            )
    finally:
        container.close()


def timed(call: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def peak_mib(call: Callable[[], object]) -> float:
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def main() -> int:
    from handlers.geo import warm

    warm()  # the ZIP table loads once per process; not part of either figure
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        big, small = work / "volunteers-50k.csv", work / "volunteers-10k.csv"
        make_file(big, ROWS)
        make_file(small, 10_000)
        size = big.stat().st_size / 2**20
        print(f"file: {ROWS:,} rows, {size:.1f} MiB")

        base_s, good = timed(lambda: validate_only(big))
        url = fresh_database(work, "timed.db")
        import_s, report = timed(lambda: import_file(url, big))
        again_s, again = timed(lambda: import_file(url, big))
        print(f"baseline (read + validate, no writes): {base_s:.2f} s, {good:,} valid rows")
        print(f"import:                                {import_s:.2f} s")
        print(report.summary())  # type: ignore[attr-defined]
        print(
            f"second run (changes nothing):          {again_s:.2f} s, "
            f"{again.created} created, {again.updated} updated"  # type: ignore[attr-defined]
        )
        print(f"import rate: {ROWS / import_s:,.0f} rows/s (baseline {ROWS / base_s:,.0f} rows/s)")

        base_mem = peak_mib(lambda: validate_only(big))
        mem_url = fresh_database(work, "memory.db")
        import_mem = peak_mib(lambda: import_file(mem_url, big))
        small_url = fresh_database(work, "memory-small.db")
        small_mem = peak_mib(lambda: import_file(small_url, small))
        print(
            f"peak Python memory: import of 50k {import_mem:.1f} MiB, of 10k {small_mem:.1f} MiB; "
            f"baseline (validate 50k) {base_mem:.2f} MiB"
        )
        print(f"machine: {machine()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
