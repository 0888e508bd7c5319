"""Address lookups for a 10,000-row import through the fake Census geocoder: the batch endpoint
(one `addressbatch` file, then one `coordinates` request per distinct Census block) beside one
request per address, rows per second, same run, same fake (10 ms added to every answer, as a
round trip to a real geocoder; 10 neighbours per block, as on a street of houses).

What is timed is the drain (`handlers.geocoding.drain_lookups`) after `muster import volunteers`
of the file (GEOCODER on, SQLite): claiming the lookups, the geocoder's requests, and setting the
districts. The one-at-a-time baseline runs over the first 1,000 rows (it is ten times slower).
"""

from __future__ import annotations

import io
import time

from bench._sending import machine, scratch_dir, sqlite_database
from bot.bootstrap import bootstrap
from bot.census_geocoder import CensusGeocoder
from bot.csv_import import import_volunteers_from
from bot.settings import Settings
from handlers.geocoding import drain_lookups
from tests.fakes.census_geocoder import FakeCensusGeocoder

ROWS = 10_000
BASELINE_ROWS = 1_000
PER_BLOCK = 10
LATENCY = 0.010


def _file(rows: int, offset: int) -> str:
    lines = ["phone,name,zip,opted_in_at,address"]
    for i in range(rows):
        phone = f"+1617{3000000 + offset + i:07d}"
        lines.append(f"{phone},V{i},02720,2026-05-01T09:00:00Z,{i} Elm St")
    return "\n".join(lines) + "\n"


def run(fake: FakeCensusGeocoder, rows: int, *, batch: bool) -> tuple[float, int]:
    with scratch_dir() as directory:
        url = sqlite_database(directory)
        settings = Settings(_env_file=None, database_url=url, geocoder="census",  # type: ignore[call-arg]
                            census_geocoder_url=fake.url)  # fmt: skip
        container = bootstrap(settings)
        geocoder = CensusGeocoder(fake.url)
        if not batch:
            geocoder.batch_min = rows + 1  # one request per address
        import_volunteers_from(container, io.StringIO(_file(rows, 0)), file_name="bench.csv")
        started = time.perf_counter()
        settled = 0
        while True:
            done = drain_lookups(container.uow, geocoder, container.clock, limit=ROWS)
            if not done:
                break
            settled += done
        elapsed = time.perf_counter() - started
        geocoder.close()
        container.close()
    return elapsed, settled


def main() -> int:
    print(f"geocode_import: districts of a {ROWS:,}-row import's addresses via the fake geocoder")
    with FakeCensusGeocoder() as fake:
        for i in range(ROWS):
            fake.add(f"{i} Elm St", state_fips="25", cd="04", upper="1st Bristol and Plymouth",
                     lower="10th Bristol", block=f"{i // PER_BLOCK:05d}")  # fmt: skip
        fake.latency = LATENCY
        batch_s, batch_rows = run(fake, ROWS, batch=True)
        single_s, single_rows = run(fake, BASELINE_ROWS, batch=False)
    ok = batch_rows == ROWS and single_rows == BASELINE_ROWS
    for name, rows, seconds in (("batch endpoint", batch_rows, batch_s),
                                ("one at a time ", single_rows, single_s)):  # fmt: skip
        print(f"  {name}  {rows:6,} rows in {seconds:6.2f} s = {rows / seconds:7.0f} rows/s")
    print(f"  fake: {LATENCY * 1000:.0f} ms per answer, {PER_BLOCK} addresses per block")
    print(f"  machine: {machine()}")
    print("  PASS" if ok else "  ROWS MISSING")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
