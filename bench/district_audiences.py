"""Audiences by district over 100,000 volunteers, beside `all` in the same run (target: at most
1.5 times as long), on SQLite and on PostgreSQL (`BENCH_POSTGRES_URL`, default the test server).

Every volunteer lives in `ma/cd:4` (a one-district campaign: `district:ma/cd:4` is the same
100,000 people as `all`) and in one of Massachusetts' 160 state house districts; 40 of those are
targets; a third of the volunteers tagged canvass; every volunteer in one of 20 chapters. For
each audience: the preview's exact count (`preview_broadcast`) and the expansion into the outbox
(`confirm_broadcast`, one INSERT ... SELECT), best of two runs.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select

from bench._sending import add_volunteers, machine, scratch_dir, sqlite_database
from bench.expand_audience import postgres_database
from handlers.district_names import districts_in
from storage.chapters import Chapter, VolunteerChapter
from storage.db import make_engine, make_session_factory
from storage.districts import TargetDistrict, VolunteerDistrict
from storage.models import Delivery, Volunteer, VolunteerTag

VOLUNTEERS = 100_000
AUDIENCES = (
    "all",
    "district:ma/cd:4",
    "targets+tag:canvass",
    "district:ma/sldl:10th_bristol",
    "chapter:c0",
    "district:ma/cd:4+chapter:c0+tag:canvass",
)
CHECKED = ("district:ma/cd:4", "targets+tag:canvass", "district:ma/cd:4+chapter:c0+tag:canvass")
CHAPTERS = 20  # every volunteer in one of 20 chapters (5,000 each)
TARGET_RATIO = 1.5


def add_districts(url: str) -> None:
    engine = make_engine(url)
    now = datetime.now(UTC)
    house = sorted(d.id for d in districts_in("ma", "sldl"))
    with make_session_factory(engine)() as s:
        ids = list(s.scalars(select(Volunteer.id).order_by(Volunteer.id)))
        rows = []
        for vid in ids:
            rows.append({"volunteer_id": vid, "chamber": "cd", "district": "ma/cd:4",
                         "source": "import", "vintage": None, "set_at": now})  # fmt: skip
            rows.append({"volunteer_id": vid, "chamber": "sldl", "district": house[vid % 160],
                         "source": "import", "vintage": None, "set_at": now})  # fmt: skip
        for start in range(0, len(rows), 20_000):
            s.execute(insert(VolunteerDistrict), rows[start : start + 20_000])
        tags = [{"volunteer_id": vid, "tag": "canvass"} for vid in ids if vid % 3 == 0]
        s.execute(insert(VolunteerTag), tags)
        s.execute(insert(Chapter), [
            {"id": c + 1, "slug": f"c{c}", "name": f"Chapter {c}", "created_at": now}
            for c in range(CHAPTERS)
        ])  # fmt: skip
        members = [{"volunteer_id": vid, "chapter_id": vid % CHAPTERS + 1, "source": "import",
                    "set_at": now} for vid in ids]  # fmt: skip
        for start in range(0, len(members), 20_000):
            s.execute(insert(VolunteerChapter), members[start : start + 20_000])
        s.execute(insert(TargetDistrict), [
            {"district": d, "goal": 40, "set_by": "bench", "reason": None, "set_at": now}
            for d in house[:40]
        ])  # fmt: skip
        s.commit()
    engine.dispose()


def measure(url: str) -> dict[str, tuple[float, float, int]]:
    """audience -> (preview seconds, expansion seconds, recipients), best of two."""
    from handlers.broadcasts import confirm_broadcast, create_draft, preview_broadcast
    from handlers.config import OrgConfig

    engine = make_engine(url)
    factory = make_session_factory(engine)
    org = OrgConfig()
    out: dict[str, tuple[float, float, int]] = {}
    for audience in AUDIENCES:
        best_preview = best_expand = float("inf")
        rows = 0
        for _ in range(2):
            now = datetime.now(UTC)
            with factory() as s:
                started = time.perf_counter()
                preview = preview_broadcast(s, audience=audience, body="Doors Sat 9am", now=now,
                                            org=org)  # fmt: skip
                best_preview = min(best_preview, time.perf_counter() - started)
                draft = create_draft(s, body="Doors Sat 9am. Reply YES", audience=audience,
                                     created_by="bench", now=now)  # fmt: skip
                s.commit()
                started = time.perf_counter()
                rows = confirm_broadcast(s, broadcast_id=draft.id, user_id="bench", now=now)
                s.commit()
                best_expand = min(best_expand, time.perf_counter() - started)
                assert rows == preview.recipients, (audience, rows, preview.recipients)
                s.execute(delete(Delivery))
                s.commit()
        out[audience] = (best_preview, best_expand, rows)
    engine.dispose()
    return out


def report(name: str, figures: dict[str, tuple[float, float, int]]) -> bool:
    base_preview, base_expand, _ = figures["all"]
    ok = True
    print(f"  {name}")
    for audience, (preview, expand, rows) in figures.items():
        ratio = expand / base_expand
        checked = audience in CHECKED
        ok = ok and (not checked or ratio <= TARGET_RATIO)
        print(
            f"    {audience:40} {rows:7,} recipients  preview {preview * 1000:7.1f} ms "
            f"({preview / base_preview:4.2f}x all)  expansion {expand:5.2f} s ({ratio:4.2f}x all)"
            + ("  target <= 1.5x" if checked else "")
        )
    return ok


def main() -> int:
    print(f"district_audiences: district and combined audiences over {VOLUNTEERS:,} volunteers")
    with scratch_dir() as directory:
        url = sqlite_database(directory)
        add_volunteers(url, VOLUNTEERS)
        add_districts(url)
        ok = report("SQLite", measure(url))
    pg = postgres_database()
    if pg is not None:
        url, drop = pg
        try:
            add_volunteers(url, VOLUNTEERS)
            add_districts(url)
            ok = report("PostgreSQL", measure(url)) and ok
        finally:
            drop()  # type: ignore[operator]
    print(f"  machine: {machine()}")
    print("  PASS" if ok else "  MISSED A TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
