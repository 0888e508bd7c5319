"""Times and cron expressions as organizers type them (`at=`, `every=`, a deadline), read in
their zone, and when a recurring schedule fires.

Times an organizer types carry no zone: they are read in the organizer's zone (`timezone`, by
default `DEFAULT_TIMEZONE`). A wall-clock time that does not exist that day (the hour skipped when
clocks spring forward) is refused with a clear answer; one that happens twice (the hour repeated
when clocks fall back) means its first occurrence.

Cron expressions are the standard five fields, with the standard meaning of weekday numbers
(0 or 7 is Sunday, 1 is Monday). APScheduler 3 numbers weekdays from Monday = 0, so the weekday
field is translated to day names before APScheduler sees it (`"0 9 * * 1"` is Mondays, as in
crontab). A recurring broadcast fires at most once an hour, and once on the night the clocks fall
back even when its time falls in the repeated hour.

Pure functions, no database: used by the schedules' handlers (`handlers.schedules`), the
organizers' commands (`handlers.organizer`) and the clock (`scheduler.clock`, `scheduler.jobs`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from handlers.errors import UsageError

CRON_USAGE = (
    "every= takes a cron expression of five fields, minute hour day-of-month month weekday, "
    'for example every="0 9 * * MON" (Mondays at 9:00) or every="30 17 * * 1-5" '
    "(weekdays at 5:30 PM)."
)
AT_USAGE = 'at= takes a date and time, for example at="2026-11-19 18:00".'
MIN_INTERVAL = timedelta(hours=1)

_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_FULL_DAY_NAMES = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_AT_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %I:%M%p", "%Y-%m-%d %I:%M %p")


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
