"""Expanding a broadcast WITH fields to 100,000 volunteers (`Hi {first_name|friend}! Call Rep.
{rep} at {rep_phone}`: each recipient's text rendered into their delivery row), beside the same
broadcast without fields (one INSERT ... SELECT) in the same run and database. Target: at most
2 times as long. Volunteers are spread over Massachusetts' 160 state house districts, each with
its representative loaded; SQLite file, then a scratch PostgreSQL database.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select

from bench._sending import add_volunteers, machine, scratch_dir, sqlite_database
from bench.expand_audience import postgres_database
from handlers.district_names import districts_in
from storage.db import make_engine, make_session_factory
from storage.districts import VolunteerDistrict
from storage.legislators import Legislator
from storage.models import Delivery, Volunteer

VOLUNTEERS = int(os.environ.get("BENCH_VOLUNTEERS", "100000"))
PLAIN = "Hi! The bill is up Tuesday: call your state rep today. Reply DONE when you have."
FIELDS = (
    "Hi {first_name|friend}! The bill is up Tuesday: call Rep. {rep} at {rep_phone}. Reply DONE"
)


def add_districts(url: str) -> None:
    engine = make_engine(url)
    now = datetime.now(UTC)
    house = sorted(d.id for d in districts_in("ma", "sldl"))
    with make_session_factory(engine)() as s:
        s.execute(insert(Legislator), [
            {"district": d, "chamber": "sldl", "name": f"Member {i}", "capitol_phone":
             f"+1617722{i:04d}", "source": "bench", "loaded_at": now}
            for i, d in enumerate(house)
        ])  # fmt: skip
        ids = list(s.scalars(select(Volunteer.id).order_by(Volunteer.id)))
        rows = [{"volunteer_id": vid, "chamber": "sldl", "district": house[i % len(house)],
                 "source": "import", "set_at": now} for i, vid in enumerate(ids)]  # fmt: skip
        for start in range(0, len(rows), 20_000):
            s.execute(insert(VolunteerDistrict), rows[start : start + 20_000])
        s.commit()
    engine.dispose()


def expand(url: str, body: str) -> tuple[float, int]:
    from handlers.broadcasts import confirm_broadcast, create_draft

    engine = make_engine(url)
    now = datetime.now(UTC)
    with make_session_factory(engine)() as session:
        draft = create_draft(session, body=body, audience="all", created_by="bench", now=now)
        session.commit()
        started = time.perf_counter()
        rows = confirm_broadcast(session, broadcast_id=draft.id, user_id="bench", now=now)
        session.commit()
        took = time.perf_counter() - started
        session.execute(delete(Delivery))
        session.commit()
    engine.dispose()
    return took, rows


def run(url: str, name: str) -> bool:
    add_volunteers(url, VOLUNTEERS)
    add_districts(url)
    plain, n_plain = min(expand(url, PLAIN) for _ in range(2))
    fields, n_fields = min(expand(url, FIELDS) for _ in range(2))
    ratio = fields / plain
    print(f"  {name:<11} with fields {fields:6.2f} s for {n_fields:,} rows = {ratio:.2f}x "
          f"(target <= 2x)")  # fmt: skip
    print(f"              without fields (INSERT ... SELECT): {plain:6.2f} s for {n_plain:,} rows")
    return n_plain == n_fields == VOLUNTEERS and ratio <= 2.0


def main() -> int:
    print(f"expand_fields: one broadcast with fields to {VOLUNTEERS:,} volunteers")
    with scratch_dir() as directory:
        ok = run(sqlite_database(directory), "SQLite")
    pg = postgres_database()
    if pg is not None:
        url, drop = pg
        try:
            ok = run(url, "PostgreSQL") and ok
        finally:
            drop()  # type: ignore[operator]
    print(f"  machine: {machine()}")
    print("  PASS" if ok else "  MISSED A TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
