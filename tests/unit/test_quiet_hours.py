"""Quiet hours in the recipient's own zone: Boston, Chicago and Honolulu at the same instant."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from handlers.quiet_hours import in_quiet_hours, next_allowed_time

WINDOW = (time(21, 0), time(9, 0))
BOSTON, CHICAGO, HONOLULU = "America/New_York", "America/Chicago", "Pacific/Honolulu"


@pytest.mark.parametrize(
    ("utc", "zone", "quiet", "opens"),
    [
        # 02:30 UTC on Nov 17 = 21:30 Boston, 20:30 Chicago, 16:30 Honolulu.
        ("2026-11-17T02:30", BOSTON, True, "2026-11-17T14:00"),
        ("2026-11-17T02:30", CHICAGO, False, None),
        ("2026-11-17T02:30", HONOLULU, False, None),
        # 08:00 UTC = 03:00 Boston, 02:00 Chicago, 22:00 Honolulu (the evening before).
        ("2026-11-17T08:00", BOSTON, True, "2026-11-17T14:00"),
        ("2026-11-17T08:00", CHICAGO, True, "2026-11-17T15:00"),
        ("2026-11-17T08:00", HONOLULU, True, "2026-11-17T19:00"),
        # 14:00 UTC = 09:00 Boston exactly: the window has just opened.
        ("2026-11-17T14:00", BOSTON, False, None),
        ("2026-11-17T14:00", CHICAGO, True, "2026-11-17T15:00"),
        # Unknown or missing zones fall back to the default (Boston here).
        ("2026-11-17T02:30", None, True, "2026-11-17T14:00"),
        ("2026-11-17T02:30", "Mars/Olympus", True, "2026-11-17T14:00"),
    ],
)
def test_quiet_hours_are_local(utc: str, zone: str | None, quiet: bool, opens: str | None) -> None:
    now = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    assert in_quiet_hours(now, zone, WINDOW) is quiet
    expected = datetime.fromisoformat(opens).replace(tzinfo=UTC) if opens else now
    assert next_allowed_time(now, zone, WINDOW) == expected


def test_a_window_that_does_not_wrap_midnight() -> None:
    lunch = (time(12, 0), time(13, 0))
    noon_boston = datetime(2026, 11, 17, 17, 30, tzinfo=UTC)
    assert in_quiet_hours(noon_boston, BOSTON, lunch)
    assert next_allowed_time(noon_boston, BOSTON, lunch) == datetime(2026, 11, 17, 18, tzinfo=UTC)


def test_no_window_means_never_quiet() -> None:
    now = datetime(2026, 11, 17, 8, tzinfo=UTC)
    assert not in_quiet_hours(now, BOSTON, None)
    assert next_allowed_time(now, BOSTON, None) == now


def test_the_morning_after_a_dst_change_opens_at_local_nine() -> None:
    # Nov 1 2026: clocks go back in the US. 03:00 local Boston (EST) is 08:00 UTC.
    now = datetime(2026, 11, 1, 8, tzinfo=UTC)
    assert next_allowed_time(now, BOSTON, WINDOW) == datetime(2026, 11, 1, 14, tzinfo=UTC)
    # March 8 2026: clocks go forward; 09:00 EDT is 13:00 UTC.
    spring = datetime(2026, 3, 8, 8, tzinfo=UTC)
    assert next_allowed_time(spring, BOSTON, WINDOW) == datetime(2026, 3, 8, 13, tzinfo=UTC)
