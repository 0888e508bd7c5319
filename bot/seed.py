"""`muster seed --demo [--if-empty]`: a believable organization to try Muster with.

Mass-Forward-style statewide campaign with friends in three other time zones: 24 volunteers across
eight ZIP codes (Boston, Chicago, Denver, Oakland), most with tags, two who texted STOP (with their
consent records), five shifts in the coming week (phonebanks, a canvass, hearing testimony; one of
them full with a waitlist), some commitments, a scheduled call to action, and the weekly digest
(the clock's own digest schedule, for the third of the volunteers who opted into it).

Every phone number is in the 555-0100..555-0199 block, which the North American Numbering Plan
keeps for fiction: demo data can never text a real person, even if Twilio is configured later.
The data is the same on every run (a seeded random generator); times are relative to now, so the
shifts are always this week. Demo data only goes into an empty database.
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.bootstrap import Container
from handlers.consent import record_opt_in, record_opt_out
from handlers.schedules import schedule_broadcast, schedule_digest
from handlers.shifts import commit_to_shift
from scheduler.jobs import DIGEST_CRON
from storage.models import (
    AuditEntry,
    OnboardingStep,
    Shift,
    Volunteer,
    VolunteerStatus,
    VolunteerTag,
)

SEED = 20261116
DEMO_ACTOR = "seed"


@dataclass(frozen=True)
class Place:
    zip: str
    state: str
    timezone: str
    area_code: str


PLACES = (
    Place("02124", "MA", "America/New_York", "617"),  # Dorchester
    Place("02130", "MA", "America/New_York", "617"),  # Jamaica Plain
    Place("02139", "MA", "America/New_York", "617"),  # Cambridge
    Place("01608", "MA", "America/New_York", "508"),  # Worcester
    Place("60622", "IL", "America/Chicago", "312"),  # Chicago, Wicker Park
    Place("60615", "IL", "America/Chicago", "773"),  # Chicago, Hyde Park
    Place("80205", "CO", "America/Denver", "303"),  # Denver
    Place("94612", "CA", "America/Los_Angeles", "510"),  # Oakland
)
NAMES = (
    "Maria", "Dev", "Aisha", "Tom", "Lucía", "Kenji", "Grace", "Omar", "Priya", "Sam",
    "Nadia", "Luis", "Hannah", "Kwame", "Rosa", "Ben", "Mei", "Jamal", "Ines", "Patrick",
    "Fatima", "Diego", "Alex", "Yusuf",
)  # fmt: skip
TAGS = ("phonebank", "canvass", "testify", "textbank", "host", "spanish")  # the SMS interests + one
OPTED_OUT = {5, 17}  # indexes of the two volunteers who texted STOP
DIGEST_READERS = {0, 3, 6, 9, 12, 15, 18, 21}  # indexes of those who opted into the weekly digest


@dataclass(frozen=True)
class DemoShift:
    title: str
    kind: str
    place: Place
    location: str
    day: int  # days from today, in the organization's zone
    start: time
    hours: int
    capacity: int
    tags: tuple[str, ...]


SHIFTS = (
    DemoShift("Phonebank for the Clean Energy bill", "phonebank", PLACES[0],
              "Dorchester field office, 1450 Dorchester Ave", 1, time(18), 2, 8, ("phonebank",)),
    DemoShift("Canvass Jamaica Plain: Clean Energy petitions", "canvass", PLACES[1],
              "Meet at Hyde Square, Centre St", 2, time(10), 3, 12, ("canvass",)),
    DemoShift("Testify at the State House hearing", "testify", Place(
              "02133", "MA", "America/New_York", "617"),
              "Massachusetts State House, Room A-2", 3, time(13), 3, 5, ("testify",)),
    DemoShift("Chicago phonebank: call Illinois allies", "phonebank", PLACES[4],
              "Wicker Park library, 1701 N Milwaukee Ave", 2, time(18), 2, 6, ("phonebank",)),
    DemoShift("Oakland canvass: Lake Merritt", "canvass", PLACES[7],
              "Meet at the Lake Merritt pergola", 4, time(10), 3, 2, ("canvass",)),
)  # fmt: skip


def demo_phone(place: Place, n: int) -> str:
    """A number of the 555-01XX fictional block, in the place's area code."""
    return f"+1{place.area_code}55501{n:02d}"


def seed_demo(container: Container, *, if_empty: bool = False) -> int:
    """Fill an empty database with the demo organization. Exit status for the CLI."""
    if container.settings.twilio_enabled:
        print(
            "muster seed: Twilio is configured; demo data is for a local try-out database only",
            file=sys.stderr,
        )
        return 0 if if_empty else 1
    with container.uow() as uow:
        if not is_empty(uow.session):
            if if_empty:
                print("muster seed: the database already has data; nothing to do")
                return 0
            print(
                "muster seed: the database already has data; demo data goes only into an empty "
                "database (use a new DATABASE_URL)",
                file=sys.stderr,
            )
            return 1
        counts = fill_demo(uow.session, now=container.clock.now(), zone=container.org.zone)
        uow.commit()
    print(
        f"muster seed: demo organization ready: {counts['volunteers']} volunteers, "
        f"{counts['shifts']} shifts, {counts['commitments']} commitments, "
        f"{counts['schedules']} scheduled broadcasts"
    )
    return 0


def is_empty(session: Session) -> bool:
    has_volunteers = session.scalar(select(func.count()).select_from(Volunteer))
    has_shifts = session.scalar(select(func.count()).select_from(Shift))
    return not has_volunteers and not has_shifts


def fill_demo(session: Session, *, now: datetime, zone: ZoneInfo) -> dict[str, int]:
    rng = random.Random(SEED)
    now = now.replace(microsecond=0)
    volunteers = _volunteers(session, rng, now)
    shifts = _shifts(session, now.astimezone(zone).date())
    commitments = _commitments(session, rng, volunteers, shifts, now)
    schedules = _schedules(session, now, zone)
    session.add(
        AuditEntry(actor=DEMO_ACTOR, action="seed.demo", target="database", detail=None, at=now)
    )
    session.flush()
    return {
        "volunteers": len(volunteers),
        "shifts": len(shifts),
        "commitments": commitments,
        "schedules": schedules,
    }


def _volunteers(session: Session, rng: random.Random, now: datetime) -> list[Volunteer]:
    people = []
    for i, name in enumerate(NAMES):
        place = PLACES[i % len(PLACES)]
        joined = now - timedelta(days=rng.randint(3, 120), minutes=rng.randint(0, 600))
        tags = sorted(rng.sample(TAGS, k=rng.choice((0, 1, 1, 2, 2, 3))))
        if i in (0, 2, 8, 14):  # a few ready to testify at Thursday's hearing
            tags = sorted({*tags, "testify"})
        volunteer = Volunteer(
            phone=demo_phone(place, 10 + i),
            first_name=name,
            zip=place.zip,
            state=place.state,
            timezone=place.timezone,
            language="es" if name in ("Lucía", "Luis", "Rosa", "Diego") else "en",
            status=VolunteerStatus.ACTIVE,
            onboarding_step=OnboardingStep.DONE,
            source="sms",
            digest_opt_in=i in DIGEST_READERS,
            opted_in_at=joined,
            created_at=joined,
            updated_at=joined,
        )
        volunteer.tags = [VolunteerTag(tag=t) for t in tags]
        session.add(volunteer)
        session.flush()
        record_opt_in(session, **_ledger(volunteer, "JOIN"), now=joined)
        if i in OPTED_OUT:
            left = joined + timedelta(days=rng.randint(1, 3), hours=2)
            record_opt_out(session, **_ledger(volunteer, "STOP"), now=left)
        people.append(volunteer)
    return people


def _ledger(volunteer: Volunteer, keyword: str) -> dict[str, Any]:
    assert volunteer.phone is not None
    return {
        "phone": volunteer.phone,
        "volunteer": volunteer,
        "keyword": keyword,
        "channel": "sms",
        "detail": "demo data",
    }


def _shifts(session: Session, today: date) -> list[Shift]:
    shifts = []
    for demo in SHIFTS:
        local_zone = ZoneInfo(demo.place.timezone)
        starts = datetime.combine(today + timedelta(days=demo.day), demo.start, local_zone)
        shift = Shift(
            title=demo.title,
            kind=demo.kind,
            location=demo.location,
            zip=demo.place.zip,
            starts_at=starts,
            ends_at=starts + timedelta(hours=demo.hours),
            timezone=demo.place.timezone,
            capacity=demo.capacity,
            committed_count=0,
            tags=list(demo.tags),
            created_by=DEMO_ACTOR,
        )
        session.add(shift)
        shifts.append(shift)
    session.flush()
    return shifts


def _commitments(
    session: Session,
    rng: random.Random,
    volunteers: list[Volunteer],
    shifts: list[Shift],
    now: datetime,
) -> int:
    """Sign-ups as volunteers made them (YES N), oldest first; the small Oakland canvass fills
    up and its last sign-up waits on the waitlist (a DROP there promotes them)."""
    signups: list[tuple[datetime, Volunteer, Shift]] = []
    for shift in shifts:
        nearby = [
            v
            for v in volunteers
            if v.status == VolunteerStatus.ACTIVE and v.timezone == shift.timezone
        ]
        wanted = shift.capacity + 1 if shift.capacity <= 2 else rng.randint(1, shift.capacity // 2)
        for volunteer in rng.sample(nearby, k=min(wanted, len(nearby))):
            signups.append((now - timedelta(hours=rng.randint(2, 72)), volunteer, shift))
    signups.sort(key=lambda s: (s[0], s[1].id, s[2].id))
    for signed, volunteer, shift in signups:
        commit_to_shift(session, volunteer=volunteer, shift_id=shift.id, now=signed, channel="sms")
    session.flush()
    return len(signups)


def _schedules(session: Session, now: datetime, zone: ZoneInfo) -> int:
    """A call to action for tomorrow morning, and the weekly digest, as an organizer plans them."""
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    schedule_broadcast(
        session,
        body=(
            "The Clean Energy hearing is this week at the State House. Can you testify? "
            "Reply YES or NO."
        ),
        audience="tag:testify",
        created_by=DEMO_ACTOR,
        now=now,
        run_at=datetime.combine(tomorrow, time(10), zone),
        timezone=zone.key,
        deadline_minutes=240,
    )
    # The clock's own weekly digest (what `ensure_digest_schedule` creates when a clock first
    # leads, which then finds it and adds none): a second "new shifts" broadcast to everyone would
    # text the digest's readers twice a week.
    schedule_digest(session, cron=DIGEST_CRON, timezone=zone.key, created_by=DEMO_ACTOR, now=now)
    return 2
