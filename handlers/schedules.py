"""Broadcasts planned ahead: once at a time (`at=`), or recurring by cron (`every=`).

Organizers' requests (Slack `/muster broadcast at=... every=...`, `/muster scheduled`,
`/muster unschedule ID`, the console) write `schedules` rows here, inside the caller's unit of work.
The clock alone turns those rows into APScheduler jobs (`scheduler/clock.py`); web processes never
touch the job store. Every change is audited.

Times an organizer types carry no zone: they are read in the organizer's zone (`timezone`, by
default `DEFAULT_TIMEZONE`). A wall-clock time that does not exist that day (the hour skipped when
clocks spring forward) is refused with a clear answer; one that happens twice (the hour repeated
when clocks fall back) means its first occurrence.

Cron expressions are the standard five fields, with the standard meaning of weekday numbers
(0 or 7 is Sunday, 1 is Monday). APScheduler 3 numbers weekdays from Monday = 0, so the weekday
field is translated to day names before APScheduler sees it (`"0 9 * * 1"` is Mondays, as in
crontab). A recurring broadcast fires at most once an hour, and once on the night the clocks fall
back even when its time falls in the repeated hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.audiences import check_audience, parse_audience
from handlers.broadcasts import check_body, check_follow_up
from handlers.errors import InvalidInput, UnknownBroadcast, UsageError
from storage.audit import audit
from storage.models import Schedule, ScheduleStatus

CRON_USAGE = (
    "every= takes a cron expression of five fields, minute hour day-of-month month weekday, "
    'for example every="0 9 * * MON" (Mondays at 9:00) or every="30 17 * * 1-5" '
    "(weekdays at 5:30 PM)."
)
AT_USAGE = 'at= takes a date and time, for example at="2026-11-19 18:00".'
MIN_INTERVAL = timedelta(hours=1)
MAX_AHEAD = timedelta(days=366)
DIGEST_AUDIENCE = "digest"  # the volunteers who opted into the weekly digest

_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_FULL_DAY_NAMES = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_AT_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %I:%M%p", "%Y-%m-%d %I:%M %p")


class ScheduleKind:
    BROADCAST = "broadcast"
    DIGEST = "digest"


@dataclass(frozen=True, slots=True)
class ScheduledView:
    """One row of `/muster scheduled`."""

    id: int
    kind: str
    body: str
    audience: str
    timezone: str
    run_at: datetime | None  # one-off
    cron: str | None  # recurring
    next_run_at: datetime | None  # UTC; None when it will not fire again
    last_fired_at: datetime | None
    created_by: str | None

    @property
    def recurring(self) -> bool:
        return self.cron is not None

    def next_run_local(self) -> datetime | None:
        return self.next_run_at.astimezone(ZoneInfo(self.timezone)) if self.next_run_at else None


# --- Parsing what organizers type ------------------------------------------------------------


def zone_named(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"Unknown time zone {name!r}: use an IANA name such as America/New_York."
        ) from None


def local_to_utc(naive: datetime, tz: ZoneInfo) -> datetime:
    """A wall-clock time in `tz` as UTC. Refuses a time skipped by daylight saving; a repeated
    time means its first occurrence."""
    aware = naive.replace(tzinfo=tz, fold=0)
    if aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
        raise UsageError(
            f"{naive:%Y-%m-%d %H:%M} does not exist in {tz.key}: the clocks spring forward "
            "that night. Pick a time an hour later."
        )
    return aware.astimezone(UTC)


def parse_run_at(text: str, *, timezone: str) -> datetime:
    """`at=` as typed ("2026-11-19 18:00", also with a T or 6:00 PM), read in `timezone`."""
    raw = " ".join((text or "").strip().split())
    for fmt in _AT_FORMATS:
        try:
            naive = datetime.strptime(raw.upper() if "%p" in fmt else raw, fmt)
        except ValueError:
            continue
        return local_to_utc(naive, zone_named(timezone))
    raise UsageError(f"I can't read the time {text!r}. {AT_USAGE}")


def _crontab_weekdays(field: str) -> str:
    """The crontab weekday field (0/7 = Sunday, names, ranges, steps) as APScheduler day names."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for part in field.lower().split(","):
        rng, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ValueError(f"bad step in weekday field {field!r}")
        if rng == "*":
            lo, hi = 0, 6
        else:
            first, _, last = rng.partition("-")
            lo = _weekday_number(first)
            hi = _weekday_number(last) if last else (6 if step else lo)
            if last and hi == 0 and lo > 0:
                hi = 7  # "5-0" / "fri-sun": up to Sunday
        if hi < lo:
            raise ValueError(f"backwards weekday range {rng!r}")
        days.update(d % 7 for d in range(lo, hi + 1, step or 1))
    return ",".join(_DAY_NAMES[d] for d in sorted(days))


def _weekday_number(token: str) -> int:
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token)
    for number, (short, full) in enumerate(zip(_DAY_NAMES, _FULL_DAY_NAMES, strict=True)):
        if token in (short, full):
            return number
    raise ValueError(f"unknown weekday {token!r}")


def cron_trigger(expr: str, timezone: str) -> CronTrigger:
    """The APScheduler trigger for a crontab expression in `timezone`; UsageError if invalid."""
    tz = zone_named(timezone)
    fields = (expr or "").strip().strip('"').split()
    if len(fields) != 5:
        raise UsageError(f"{expr!r} is not a cron expression. {CRON_USAGE}")
    minute, hour, day, month, weekday = fields
    if day not in ("*", "?") and weekday not in ("*", "?"):
        raise UsageError(
            "Give a day of the month or a day of the week, not both "
            f"(cron would fire on either, which surprises people). {CRON_USAGE}"
        )
    try:
        return CronTrigger(
            minute=minute,
            hour=hour,
            day="*" if day == "?" else day,
            month=month,
            day_of_week=_crontab_weekdays("*" if weekday == "?" else weekday),
            timezone=tz,
        )
    except ValueError as exc:
        raise UsageError(f"{expr!r} is not a valid cron expression ({exc}). {CRON_USAGE}") from None


def fire_times(trigger: CronTrigger, after: datetime, until: datetime) -> list[datetime]:
    """The trigger's fire times in (after, until], UTC, skipping the second pass through the hour
    repeated when clocks fall back (a daily 1:30 AM broadcast goes once that night)."""
    times: list[datetime] = []
    previous = None
    current = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
    while current is not None and current <= until and len(times) < 10_000:
        if not _repeated_wall_time(current, trigger.timezone, previous):
            times.append(current.astimezone(UTC))
        previous = current
        current = trigger.get_next_fire_time(current, current)
    return times


def next_fire_time(trigger: CronTrigger, after: datetime) -> datetime | None:
    """The first fire time strictly after `after` (UTC), same rules as `fire_times`."""
    current = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
    previous = None
    for _ in range(3):
        if current is None:
            return None
        if not _repeated_wall_time(current, trigger.timezone, previous):
            return current.astimezone(UTC)
        previous = current
        current = trigger.get_next_fire_time(current, current)
    return current.astimezone(UTC) if current else None


def _repeated_wall_time(when: datetime, tz: ZoneInfo, previous: datetime | None) -> bool:
    local = when.astimezone(tz)
    if local.fold == 0:
        return False
    first = local.replace(fold=0)
    if first.utcoffset() == local.utcoffset():
        return False  # not an ambiguous time after all
    if previous is None:
        # No earlier fire time in hand: the first pass was an hour ago in the same wall time.
        return True
    return previous.astimezone(tz).replace(tzinfo=None, fold=0) == local.replace(
        tzinfo=None, fold=0
    )


def check_cron(expr: str, timezone: str, *, now: datetime) -> str:
    """Validate a recurring schedule: it parses, it fires at all, at most once an hour."""
    trigger = cron_trigger(expr, timezone)
    upcoming = fire_times(trigger, now, now + timedelta(days=400))[:3]
    if not upcoming:
        raise UsageError(f"{expr!r} never fires. {CRON_USAGE}")
    for a, b in pairwise(upcoming):
        if b - a < MIN_INTERVAL:
            raise UsageError(
                f"{expr!r} would text everyone more than once an hour; a recurring broadcast "
                f"goes out at most once an hour. {CRON_USAGE}"
            )
    return " ".join(expr.strip().strip('"').split())


def _check_run_at(run_at: datetime, *, now: datetime) -> datetime:
    if run_at.tzinfo is None:
        raise ValueError("run_at must be timezone-aware (use parse_run_at for typed times)")
    run_at = run_at.astimezone(UTC)
    if run_at <= now:
        raise UsageError(f"That time has already passed. {AT_USAGE}")
    if run_at - now > MAX_AHEAD:
        raise UsageError("A broadcast can be scheduled at most a year ahead.")
    return run_at


def _check_content(session: Session, *, body: str, audience: str) -> tuple[str, str]:
    aud = parse_audience(audience)
    check_audience(session, aud)
    return check_body(body), str(aud)


# --- The handlers ------------------------------------------------------------------------------


def schedule_broadcast(
    session: Session,
    *,
    body: str,
    audience: str,
    created_by: str,
    now: datetime,
    run_at: datetime | None = None,
    cron: str | None = None,
    timezone: str,
    deadline_minutes: int | None = None,
    quiet_hours_override: bool = False,
    on_yes: str | None = None,
    on_no: str | None = None,
) -> Schedule:
    """Plan a broadcast: once at `run_at` (aware), or recurring by `cron` in `timezone`.
    Fields in its message (and follow-ups) are rendered at each firing."""
    if (run_at is None) == (cron is None):
        raise UsageError(f"Give either at= (once) or every= (recurring). {AT_USAGE}")
    zone_named(timezone)
    text, aud = _check_content(session, body=body, audience=audience)
    if deadline_minutes is not None and deadline_minutes <= 0:
        raise InvalidInput({"deadline": "must be a positive number of minutes"})
    return _add(
        session,
        Schedule(
            kind=ScheduleKind.BROADCAST,
            body=text,
            audience=aud,
            run_at=_check_run_at(run_at, now=now) if run_at is not None else None,
            cron=check_cron(cron, timezone, now=now) if cron is not None else None,
            timezone=timezone,
            deadline_minutes=deadline_minutes,
            quiet_hours_override=quiet_hours_override,
            on_yes=check_follow_up(on_yes, key="on_yes"),
            on_no=check_follow_up(on_no, key="on_no"),
        ),
        created_by=created_by,
        now=now,
    )


def schedule_digest(
    session: Session, *, cron: str, timezone: str, created_by: str, now: datetime
) -> Schedule:
    """The weekly summary of open shifts for volunteers who opted into it (one active at a time:
    an existing active digest schedule is returned unchanged)."""
    existing = session.scalars(
        select(Schedule).where(
            Schedule.kind == ScheduleKind.DIGEST, Schedule.status == ScheduleStatus.ACTIVE
        )
    ).first()
    if existing is not None:
        return existing
    return _add(
        session,
        Schedule(
            kind=ScheduleKind.DIGEST,
            body="",  # written at each firing from the open shifts of the week ahead
            audience=DIGEST_AUDIENCE,
            cron=check_cron(cron, timezone, now=now),
            timezone=zone_named(timezone).key,
        ),
        created_by=created_by,
        now=now,
    )


def _add(session: Session, schedule: Schedule, *, created_by: str, now: datetime) -> Schedule:
    schedule.status = ScheduleStatus.ACTIVE
    schedule.created_by = created_by
    schedule.created_at = schedule.updated_at = schedule.timing_set_at = now
    session.add(schedule)
    session.flush()
    audit(
        session,
        actor=created_by,
        action="schedule.create",
        at=now,
        target=f"schedule:{schedule.id}",
        detail=_describe(schedule),
    )
    return schedule


def next_run(schedule: Schedule, *, now: datetime) -> datetime | None:
    """When this schedule fires next (UTC), or None once it never will."""
    if schedule.status != ScheduleStatus.ACTIVE:
        return None
    if schedule.cron:
        return next_fire_time(cron_trigger(schedule.cron, schedule.timezone), now)
    if schedule.run_at is not None and schedule.last_fired_at is None:
        return schedule.run_at
    return None


def list_schedules(session: Session, *, now: datetime) -> list[ScheduledView]:
    """The active schedules, soonest first, each with its next run time."""
    rows = session.scalars(
        select(Schedule).where(Schedule.status == ScheduleStatus.ACTIVE).order_by(Schedule.id)
    ).all()
    views = [
        ScheduledView(
            id=s.id,
            kind=s.kind,
            body=s.body,
            audience=s.audience,
            timezone=s.timezone,
            run_at=s.run_at,
            cron=s.cron,
            next_run_at=next_run(s, now=now),
            last_fired_at=s.last_fired_at,
            created_by=s.created_by,
        )
        for s in rows
    ]
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(views, key=lambda v: (v.next_run_at or far, v.id))


def _active(session: Session, schedule_id: int) -> Schedule:
    schedule = session.get(Schedule, schedule_id, with_for_update=True)
    if schedule is None:
        raise UnknownBroadcast(schedule_id)
    if schedule.status != ScheduleStatus.ACTIVE:
        state = "was cancelled" if schedule.status == ScheduleStatus.CANCELLED else "already went"
        raise UsageError(f"Scheduled broadcast {schedule_id} {state}; there is nothing to change.")
    return schedule


def edit_schedule(
    session: Session,
    *,
    schedule_id: int,
    user_id: str,
    now: datetime,
    body: str | None = None,
    audience: str | None = None,
    run_at: datetime | None = None,
    cron: str | None = None,
    timezone: str | None = None,
) -> Schedule:
    """Change what, to whom or when. Giving `run_at` makes it one-off, `cron` recurring."""
    if run_at is not None and cron is not None:
        raise UsageError(f"Give either at= (once) or every= (recurring), not both. {AT_USAGE}")
    schedule = _active(session, schedule_id)
    before = _describe(schedule)
    if body is not None or audience is not None:
        if schedule.kind == ScheduleKind.DIGEST:
            raise UsageError("The digest's text and audience are made for it; change its time.")
        schedule.body, schedule.audience = _check_content(
            session,
            body=schedule.body if body is None else body,
            audience=schedule.audience if audience is None else audience,
        )
    tz = zone_named(timezone).key if timezone is not None else schedule.timezone
    timing_changed = tz != schedule.timezone
    if cron is not None:
        schedule.cron, schedule.run_at = check_cron(cron, tz, now=now), None
        timing_changed = True
    elif run_at is not None:
        if schedule.kind == ScheduleKind.DIGEST:
            raise UsageError("The digest is recurring: give it every= rather than at=.")
        schedule.run_at, schedule.cron = _check_run_at(run_at, now=now), None
        timing_changed = True
    elif timing_changed and schedule.cron:
        check_cron(schedule.cron, tz, now=now)
    schedule.timezone = tz
    if timing_changed:
        schedule.timing_set_at = now
        if schedule.run_at is not None:
            schedule.last_fired_at = None
    schedule.updated_at = now
    session.flush()
    audit(
        session,
        actor=user_id,
        action="schedule.edit",
        at=now,
        target=f"schedule:{schedule.id}",
        detail={"before": before, "after": _describe(schedule)},
    )
    return schedule


def cancel_schedule(session: Session, *, schedule_id: int, user_id: str, now: datetime) -> Schedule:
    """Stop a schedule from firing again. Broadcasts it already sent are not touched (cancel
    those with their own Cancel button). Cancelling twice answers the same and changes nothing."""
    schedule = session.get(Schedule, schedule_id, with_for_update=True)
    if schedule is None:
        raise UnknownBroadcast(schedule_id)
    if schedule.status == ScheduleStatus.CANCELLED:
        return schedule
    if schedule.status == ScheduleStatus.DONE:
        raise UsageError(
            f"Scheduled broadcast {schedule_id} already went. If its texts are still going out, "
            "`/muster scheduled` lists it with a Stop sending button."
        )
    schedule.status = ScheduleStatus.CANCELLED
    schedule.updated_at = now
    session.flush()
    audit(
        session,
        actor=user_id,
        action="schedule.cancel",
        at=now,
        target=f"schedule:{schedule.id}",
        detail=_describe(schedule),
    )
    return schedule


def _describe(schedule: Schedule) -> dict[str, object]:
    return {
        "kind": schedule.kind,
        "audience": schedule.audience,
        "chars": len(schedule.body or ""),
        "run_at": schedule.run_at.isoformat() if schedule.run_at else None,
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "status": str(schedule.status),
        "deadline_minutes": schedule.deadline_minutes,
        "quiet_hours_override": bool(schedule.quiet_hours_override),
    }
