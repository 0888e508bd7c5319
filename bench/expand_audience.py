"""Expanding a broadcast to 100,000 volunteers into the outbox (handlers.broadcasts.
confirm_broadcast: one INSERT ... SELECT). Target: under 5 s on SQLite; PostgreSQL measured too.

Baseline, same run and database: the naive way, reading the audience into Python and inserting
the same delivery rows with one executemany (what a loop over volunteers would at best do).
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select, text
from sqlalchemy.engine import make_url

from bench._sending import add_volunteers, machine, scratch_dir, sqlite_database
from storage.db import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.models import Broadcast, BroadcastStatus, Delivery, Volunteer, VolunteerStatus

VOLUNTEERS = 100_000
PG_ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def measure(url: str) -> tuple[float, float, int]:
    """(seconds with INSERT ... SELECT, seconds the naive way, rows)."""
    from handlers.broadcasts import confirm_broadcast, create_draft

    engine = make_engine(url)
    factory = make_session_factory(engine)
    now = datetime.now(UTC)
    with factory() as session:
        draft = create_draft(session, body="GOTV: doors at 9am. Reply YES", audience="all",
                             created_by="bench", now=now)  # fmt: skip
        session.commit()
        started = time.perf_counter()
        rows = confirm_broadcast(session, broadcast_id=draft.id, user_id="bench", now=now)
        session.commit()
        fast = time.perf_counter() - started
        session.execute(delete(Delivery))
        session.commit()
    with factory() as session:
        other = Broadcast(body="naive", audience="all", status=BroadcastStatus.QUEUED,
                          created_at=now)  # fmt: skip
        session.add(other)
        session.flush()
        started = time.perf_counter()
        people = session.execute(
            select(Volunteer.id, Volunteer.phone).where(Volunteer.status == VolunteerStatus.ACTIVE)
        ).all()
        session.execute(
            insert(Delivery),
            [{"idempotency_key": f"bc:{other.id}:{vid}", "broadcast_id": other.id,
              "volunteer_id": vid, "to_phone": phone, "body": other.body, "kind": "broadcast",
              "priority": 5, "status": "pending", "send_after": now, "segments": 1,
              "attempts": 0, "quiet_hours_override": False, "created_at": now,
              "updated_at": now} for vid, phone in people],
        )  # fmt: skip
        session.commit()
        naive = time.perf_counter() - started
    engine.dispose()
    return fast, naive, rows


def postgres_database() -> tuple[str, object] | None:
    admin = make_engine(PG_ADMIN)
    name = f"muster_bench_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        print(f"  PostgreSQL: skipped ({type(exc).__name__}: server at {PG_ADMIN} unreachable)")
        admin.dispose()
        return None
    url = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    upgrade(url)

    def drop() -> None:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


def main() -> int:
    print(f"expand_audience: one broadcast to {VOLUNTEERS:,} volunteers into the outbox")
    with scratch_dir() as directory:
        url = sqlite_database(directory)
        add_volunteers(url, VOLUNTEERS)
        fast, naive, rows = measure(url)
    ok = rows == VOLUNTEERS and fast < 5.0
    print(f"  SQLite      INSERT ... SELECT {fast:6.2f} s for {rows:,} rows   (target < 5 s)")
    print(f"              baseline, Python rows + executemany: {naive:6.2f} s")
    pg = postgres_database()
    if pg is not None:
        url, drop = pg
        try:
            add_volunteers(url, VOLUNTEERS)
            fast, naive, rows = measure(url)
        finally:
            drop()  # type: ignore[operator]
        ok = ok and rows == VOLUNTEERS
        print(f"  PostgreSQL  INSERT ... SELECT {fast:6.2f} s for {rows:,} rows")
        print(f"              baseline, Python rows + executemany: {naive:6.2f} s")
    print(f"  machine: {machine()}")
    print("  PASS" if ok else "  MISSED A TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
