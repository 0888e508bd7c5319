"""The reminder ladder: what volunteers hear between signing up and showing up.

    sign-up       the confirmation, sent inline by the SMS reply (handlers/shifts.py), not here
    daybefore     11:00 the day before, volunteer-local: "Reply C to confirm, DROP N if you can't"
                  (sets `commitments.reminded_at`, which the `C` keyword looks for)
    twohours      2 hours before the start, with the place
    checkin       1 hour after the end: "Did you make it? Reply Y or N" (the SMS side records
                  attended / no-show from the answer)

Each text is in the volunteer's language (English or Spanish) and kept within three segments;
the texts are worded in `handlers/reminder_texts.py`.

One periodic sweep (`send_due_reminders`) finds every due rung with a few set-based queries over
the database: it reads only commitments whose rung is due now and not yet handled, found through
the indexes on `shifts.starts_at` / `ends_at` and the unique `deliveries.idempotency_key`, so
10,000 upcoming shifts cost what ten do. Each reminder is an outbox row keyed
`rem:<commitment_id>:<kind>`: a second sweep, a restarted clock or a second clock inserts nothing.

A rung is never sent late: a commitment made after a rung's time skips that rung (the sign-up
confirmation already told them), and each row carries a deadline after which the sender drops it
(the day-before one 2 hours before the start, the 2-hour one at the start, the check-in 16 hours
after the end). Quiet hours are the sender's business: a rung due at 7:00 local waits in the
outbox until the window opens.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, cast, exists, func, literal, or_, select, update
from sqlalchemy.orm import Session

from handlers.config import OrgConfig
from handlers.quiet_hours import zone
from handlers.reminder_texts import (
    DueRung,
    checkin_text,
    clock_time,
    day_before_text,
    two_hours_text,
)
from handlers.results import InboxPost, OutboundSms
from handlers.sending import enqueue_posts, enqueue_sms
from storage.models import (
    Commitment,
    CommitmentStatus,
    Delivery,
    Priority,
    ProcessedEvent,
    Shift,
    Volunteer,
    VolunteerStatus,
)
from storage.outbox import insert_ignoring_conflicts

DAY_BEFORE, TWO_HOURS, CHECKIN = "daybefore", "twohours", "checkin"
KINDS = (DAY_BEFORE, TWO_HOURS, CHECKIN)
DAY_BEFORE_AT = time(11, 0)
TWO_HOURS_BEFORE = timedelta(hours=2)
CHECKIN_AFTER = timedelta(hours=1)
CHECKIN_DEADLINE = timedelta(hours=16)
ON_ROSTER = (CommitmentStatus.COMMITTED, CommitmentStatus.CONFIRMED)
BATCH = 500  # ids per UPDATE ... IN (...): far below SQLite's bound-parameter limit


def reminder_key(commitment_id: int, kind: str) -> str:
    return f"rem:{commitment_id}:{kind}"


@dataclass(frozen=True, slots=True)
class SweepResult:
    """What one sweep queued (rows actually inserted; a repeated sweep counts zeros)."""

    daybefore: int = 0
    twohours: int = 0
    checkin: int = 0
    skipped: int = 0  # due rungs skipped because the commitment came after the rung's time
    unconfirmed_posts: int = 0

    @property
    def queued(self) -> int:
        return self.daybefore + self.twohours + self.checkin


def _not_yet_sent(kind: str) -> Any:
    key = literal("rem:", String) + cast(Commitment.id, String(20)) + literal(f":{kind}", String)
    return ~exists().where(Delivery.idempotency_key == key)


def _candidates(kind: str) -> Any:
    return (
        select(
            Commitment.id,
            Commitment.volunteer_id,
            Commitment.shift_id,
            func.coalesce(Commitment.committed_at, Commitment.created_at),
            Volunteer.phone,
            Volunteer.first_name,
            Volunteer.timezone,
            Volunteer.language,
            Shift.title,
            Shift.location,
            Shift.zip,
            Shift.starts_at,
            Shift.ends_at,
            Shift.timezone,
        )
        .join(Volunteer, Volunteer.id == Commitment.volunteer_id)
        .join(Shift, Shift.id == Commitment.shift_id)
        .where(
            Commitment.status.in_(ON_ROSTER),
            Shift.cancelled_at.is_(None),
            # coalesce(): no index on volunteers.status may tempt SQLite's planner (it keeps no
            # statistics) into reading every active volunteer; the time range on shifts leads.
            func.coalesce(Volunteer.status, "") == VolunteerStatus.ACTIVE.value,
            Volunteer.phone.is_not(None),
            _not_yet_sent(kind),
        )
    )


def _rows(session: Session, stmt: Any) -> list[DueRung]:
    return [DueRung(*row) for row in session.execute(stmt)]


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _day_before_due(d: DueRung, tz: ZoneInfo) -> datetime:
    day = d.starts_at.astimezone(tz).date() - timedelta(days=1)
    return datetime.combine(day, DAY_BEFORE_AT, tzinfo=tz).astimezone(UTC)


def _volunteer_zones(session: Session, *, now: datetime, default: str) -> set[str]:
    """The zones of volunteers on the rosters of shifts in the day-before window (the next
    three days at most: 11:00 the day before is never further ahead, in any zone)."""
    zones = session.scalars(
        select(func.coalesce(Volunteer.timezone, default))
        .distinct()
        .select_from(Shift)
        .join(Commitment, Commitment.shift_id == Shift.id)
        .join(Volunteer, Volunteer.id == Commitment.volunteer_id)
        .where(
            Shift.starts_at > now + TWO_HOURS_BEFORE,
            Shift.starts_at < now + timedelta(days=3),
            Commitment.status.in_(ON_ROSTER),
        )
    ).all()
    return set(zones)


def find_day_before(session: Session, *, now: datetime, org: OrgConfig) -> list[DueRung]:
    """Due day-before rungs: per volunteer zone, shifts whose 11:00-the-day-before has come."""
    default = org.default_timezone
    per_zone, cutoffs = [], []
    zones = _volunteer_zones(session, now=now, default=default)
    if not zones:
        return []
    for name in sorted(zones):
        tz = zone(name, default)
        local = now.astimezone(tz)
        days_ahead = 2 if local.time() >= DAY_BEFORE_AT else 1
        cutoff = _local_midnight(local.date() + timedelta(days=days_ahead), tz)
        zone_is = func.coalesce(Volunteer.timezone, default) == name
        per_zone.append(and_(zone_is, Shift.starts_at < cutoff))
        cutoffs.append(cutoff)
    stmt = _candidates(DAY_BEFORE).where(
        # The outer bounds keep this an index range over shifts.starts_at (at most ~2 days).
        Shift.starts_at > now + TWO_HOURS_BEFORE,
        Shift.starts_at < max(cutoffs),
        or_(*per_zone),
    )
    return _rows(session, stmt)


def find_two_hours(session: Session, *, now: datetime) -> list[DueRung]:
    stmt = _candidates(TWO_HOURS).where(
        Shift.starts_at > now, Shift.starts_at <= now + TWO_HOURS_BEFORE
    )
    return _rows(session, stmt)


def find_checkin(session: Session, *, now: datetime) -> list[DueRung]:
    stmt = _candidates(CHECKIN).where(
        Commitment.checked_in_at.is_(None),
        Shift.ends_at <= now - CHECKIN_AFTER,
        Shift.ends_at > now - CHECKIN_DEADLINE,
    )
    return _rows(session, stmt)


# --- The sweep -----------------------------------------------------------------------------


def _due_at(kind: str, d: DueRung, org: OrgConfig) -> datetime:
    if kind == DAY_BEFORE:
        return _day_before_due(d, zone(d.volunteer_tz, org.default_timezone))
    if kind == TWO_HOURS:
        return d.starts_at - TWO_HOURS_BEFORE
    return d.ends_at + CHECKIN_AFTER


def _deadline(kind: str, d: DueRung) -> datetime:
    if kind == DAY_BEFORE:
        return d.starts_at - TWO_HOURS_BEFORE
    if kind == TWO_HOURS:
        return d.starts_at
    return d.ends_at + CHECKIN_DEADLINE


_TEXTS = {DAY_BEFORE: day_before_text, TWO_HOURS: two_hours_text, CHECKIN: checkin_text}


def _messages(kind: str, due: list[DueRung], *, now: datetime, org: OrgConfig) -> list[OutboundSms]:
    text = _TEXTS[kind]
    return [
        OutboundSms(
            phone=d.phone,
            body=text(d, now=now, org=org),
            kind="checkin" if kind == CHECKIN else "reminder",
            idempotency_key=reminder_key(d.commitment_id, kind),
            volunteer_id=d.volunteer_id,
            commitment_id=d.commitment_id,
            priority=int(Priority.REMINDER),
            send_after=now,
            deadline=_deadline(kind, d),
        )
        for d in due
    ]


def send_due_reminders(session: Session, *, now: datetime, org: OrgConfig) -> SweepResult:
    """Queue every due rung of the ladder, and list the unconfirmed 2 hours out (caller commits)."""
    found = {
        DAY_BEFORE: find_day_before(session, now=now, org=org),
        TWO_HOURS: find_two_hours(session, now=now),
        CHECKIN: find_checkin(session, now=now),
    }
    queued: dict[str, int] = {}
    skipped = 0
    for kind, rows in found.items():
        on_time = [d for d in rows if d.signed_up_at <= _due_at(kind, d, org)]
        skipped += len(rows) - len(on_time)
        queued[kind] = enqueue_sms(session, _messages(kind, on_time, now=now, org=org))
        if kind == DAY_BEFORE and on_time:
            ids = [d.commitment_id for d in on_time]
            for i in range(0, len(ids), BATCH):
                session.execute(
                    update(Commitment)
                    .where(Commitment.id.in_(ids[i : i + BATCH]), Commitment.reminded_at.is_(None))
                    .values(reminded_at=now)
                    .execution_options(synchronize_session=False)
                )
    posts = list_unconfirmed(session, now=now, org=org)
    enqueue_posts(session, posts)
    return SweepResult(
        daybefore=queued[DAY_BEFORE],
        twohours=queued[TWO_HOURS],
        checkin=queued[CHECKIN],
        skipped=skipped,
        unconfirmed_posts=len(posts),
    )


def list_unconfirmed(session: Session, *, now: datetime, org: OrgConfig) -> list[InboxPost]:
    """For each shift starting within 2 hours, once: the volunteers who have not replied C.

    Names only (never phone numbers) go to the organizers' channel; once per shift is kept in
    `processed_events` as `unconfirmed:<shift_id>`, so restarts and a second clock post nothing
    more.
    """
    key = literal("unconfirmed:", String) + cast(Shift.id, String(20))
    rows = session.execute(
        select(
            Shift.id,
            Shift.title,
            Shift.starts_at,
            Shift.timezone,
            Volunteer.first_name,
            Commitment.status,
        )
        .join(Commitment, Commitment.shift_id == Shift.id)
        .join(Volunteer, Volunteer.id == Commitment.volunteer_id)
        .where(
            Shift.starts_at > now,
            Shift.starts_at <= now + TWO_HOURS_BEFORE,
            Shift.cancelled_at.is_(None),
            Commitment.status.in_(ON_ROSTER),
            ~exists().where(ProcessedEvent.key == key),
        )
        .order_by(Shift.starts_at, Shift.id, Volunteer.first_name)
    ).all()
    shifts: dict[int, dict[str, Any]] = {}
    names: dict[int, list[str]] = defaultdict(list)
    for shift_id, title, starts_at, tz_name, first_name, status in rows:
        entry = shifts.setdefault(
            shift_id, {"title": title, "starts_at": starts_at, "tz": tz_name, "on_roster": 0}
        )
        entry["on_roster"] += 1
        if status == CommitmentStatus.COMMITTED:
            names[shift_id].append(first_name or "(no name yet)")
    posts = []
    for shift_id, unconfirmed in names.items():
        claimed = insert_ignoring_conflicts(
            session, ProcessedEvent.__table__, [{"key": f"unconfirmed:{shift_id}", "at": now}]
        )
        if not claimed:
            continue
        entry = shifts[shift_id]
        local = entry["starts_at"].astimezone(zone(entry["tz"], org.default_timezone))
        listed = ", ".join(unconfirmed[:25]) + (
            f" and {len(unconfirmed) - 25} more" if len(unconfirmed) > 25 else ""
        )
        posts.append(
            InboxPost(
                kind="unconfirmed",
                text=(
                    f"Shift {shift_id}, {entry['title']}, starts at {clock_time(local)}: "
                    f"{len(unconfirmed)} of {entry['on_roster']} have not confirmed: {listed}. "
                    f"They just got the 2-hour reminder; /muster roster {shift_id} for details."
                ),
            )
        )
    return posts
