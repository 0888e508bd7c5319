"""What `bench inbound_sms` and the benches built on it send and store: the seeded group (10,000
volunteers, 40 open shifts), its numbers and credentials, the keyword mix of the load and a
first-time joiner's texts, and a scratch PostgreSQL database for a run."""

from __future__ import annotations

import os
import random
import uuid
from pathlib import Path

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


# A first-time volunteer's texts, in order (the issue-19 mix: JOIN, a name, a ZIP, then HELP,
# SHIFTS, MY and a question), sent from a number never seen before.
JOINER = ("JOIN", "{name}", "{zip}", "HELP", "SHIFTS", "MY", "Where do we meet on Saturday?")


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
