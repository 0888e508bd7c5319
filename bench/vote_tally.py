"""The tally of a ballot with 100,000 votes (80,000 voters, 20,000 of whom changed their vote):
`storage.votes.tally_rows`, each voter's last vote grouped by option, in one statement. Target:
under 1 s, on SQLite and (when a server answers) PostgreSQL.

Baseline, same run and database: counting the ballot's vote rows (`SELECT count(*)`), the least
any tally must read.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select, text

from bench._sending import add_volunteers, machine, scratch_dir, sqlite_database
from bench.expand_audience import postgres_database
from storage.db import make_engine, make_session_factory
from storage.models import Volunteer
from storage.votes import Ballot, BallotStatus, Vote, tally_rows

VOTERS, CHANGED = 80_000, 20_000


def measure(url: str) -> tuple[float, float, int, dict[int, int]]:
    engine = make_engine(url)
    factory = make_session_factory(engine)
    now = datetime.now(UTC)
    with factory() as session:
        ballot = Ballot(question="Endorse?", options=["A", "B", "C"], opens_at=now,
                        closes_at=now + timedelta(days=1), status=BallotStatus.OPEN)  # fmt: skip
        session.add(ballot)
        session.flush()
        ids = session.scalars(select(Volunteer.id).order_by(Volunteer.id).limit(VOTERS)).all()
        rows = [{"ballot_id": ballot.id, "volunteer_id": v, "option": 1 + v % 3, "cast_at": now,
                 "channel": "sms"} for v in ids]  # fmt: skip
        rows += [{"ballot_id": ballot.id, "volunteer_id": v, "option": 1, "cast_at": now,
                  "channel": "sms"} for v in ids[:CHANGED]]  # fmt: skip
        session.execute(insert(Vote), rows)
        session.commit()
        if engine.dialect.name == "postgresql":
            session.execute(text("ANALYZE votes"))
            session.commit()
        best_tally = best_count = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            counts = tally_rows(session, ballot.id)
            best_tally = min(best_tally, time.perf_counter() - started)
            started = time.perf_counter()
            total = session.scalar(select(func.count()).where(Vote.ballot_id == ballot.id)) or 0
            best_count = min(best_count, time.perf_counter() - started)
    engine.dispose()
    return best_tally, best_count, total, counts


def _check(counts: dict[int, int], ids: int = VOTERS) -> bool:
    return sum(counts.values()) == ids


def main() -> int:
    print(f"vote_tally: a ballot with {VOTERS + CHANGED:,} votes ({VOTERS:,} voters)")
    ok = True
    with scratch_dir() as directory:
        url = sqlite_database(directory)
        add_volunteers(url, VOTERS)
        tally, count, total, counts = measure(url)
    ok = ok and tally < 1.0 and _check(counts) and total == VOTERS + CHANGED
    print(f"  SQLite      tally {tally * 1000:7.1f} ms {counts}   (target < 1 s)")
    print(f"              baseline, count(*) of the votes: {count * 1000:7.1f} ms")
    pg = postgres_database()
    if pg is not None:
        url, drop = pg
        try:
            add_volunteers(url, VOTERS)
            tally, count, total, counts = measure(url)
        finally:
            drop()  # type: ignore[operator]
        ok = ok and tally < 1.0 and _check(counts)
        print(f"  PostgreSQL  tally {tally * 1000:7.1f} ms {counts}   (target < 1 s)")
        print(f"              baseline, count(*) of the votes: {count * 1000:7.1f} ms")
    print(f"  machine: {machine()}")
    print("  PASS" if ok else "  MISSED A TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
