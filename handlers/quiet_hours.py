"""Quiet hours in the recipient's own time zone: nothing from the outbox reaches a volunteer then.

The window (`QUIET_HOURS`, e.g. 21:00-09:00) is read in the volunteer's zone: a broadcast sent
at 02:30 UTC (21:30 in Boston, 20:30 in Chicago, 16:30 in Honolulu) goes at once to Chicago and
Honolulu, and waits until 09:00 Boston time for Boston. A held text is not dropped: the sender
moves its `send_after` to `next_allowed_time` and sends it then.

A window may wrap midnight (21:00-09:00) or not (13:00-14:00); equal ends mean no quiet hours.
Daylight-saving changes are handled by zoneinfo: the end of the window is 09:00 local on the day
it falls, whatever the UTC offset that day.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Window = tuple[time, time] | None


@lru_cache(maxsize=512)
def zone(tz_name: str | None, default: str = "America/New_York") -> ZoneInfo:
    """The ZoneInfo for a stored zone name; the default when it is missing or unknown."""
    for name in (tz_name, default):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("America/New_York")


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("quiet hours need an aware datetime")
    return now


def in_quiet_hours(
    now: datetime, tz_name: str | None, window: Window, *, default: str = "America/New_York"
) -> bool:
    """True when `now` falls inside the quiet window in the zone `tz_name`."""
    if window is None or window[0] == window[1]:
        return False
    start, end = window
    local = _aware(now).astimezone(zone(tz_name, default)).time().replace(tzinfo=None)
    if start < end:
        return start <= local < end
    return local >= start or local < end


def next_allowed_time(
    now: datetime, tz_name: str | None, window: Window, *, default: str = "America/New_York"
) -> datetime:
    """`now` itself outside quiet hours; otherwise the UTC moment the window ends locally."""
    if not in_quiet_hours(now, tz_name, window, default=default):
        return _aware(now)
    assert window is not None
    start, end = window
    tz = zone(tz_name, default)
    local = now.astimezone(tz)
    day = local.date()
    if start > end and local.time().replace(tzinfo=None) >= start:
        day += timedelta(days=1)  # evening part of a window that wraps midnight
    opens = datetime.combine(day, end, tzinfo=tz).astimezone(UTC)
    # A window end inside a DST gap can normalize to a moment before now: never go backwards.
    return opens if opens > now else now + timedelta(minutes=1)
