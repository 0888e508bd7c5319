"""What organizers type for scheduled broadcasts: at= times and every= cron, in their zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from handlers.errors import UsageError
from handlers.schedule_times import (
    check_cron,
    cron_trigger,
    fire_times,
    next_fire_time,
    parse_run_at,
)

NY = "America/New_York"
NOW = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("typed", "utc"),
    [
        ("2026-11-19 18:00", datetime(2026, 11, 19, 23, 0, tzinfo=UTC)),  # EST
        ("2026-10-22 18:00", datetime(2026, 10, 22, 22, 0, tzinfo=UTC)),  # EDT
        ("2026-11-19T18:00", datetime(2026, 11, 19, 23, 0, tzinfo=UTC)),
        ("2026-11-19 6:00 pm", datetime(2026, 11, 19, 23, 0, tzinfo=UTC)),
        ("2026-11-19  6:00PM", datetime(2026, 11, 19, 23, 0, tzinfo=UTC)),
        # The hour repeated when clocks fall back: its first occurrence (still EDT).
        ("2026-11-01 01:30", datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),
    ],
)
def test_at_is_read_in_the_organizers_zone(typed: str, utc: datetime) -> None:
    assert parse_run_at(typed, timezone=NY) == utc


def test_a_time_skipped_by_daylight_saving_is_refused_with_a_reason() -> None:
    with pytest.raises(UsageError, match="spring forward"):
        parse_run_at("2027-03-14 02:30", timezone=NY)


@pytest.mark.parametrize("typed", ["tomorrow", "2026-13-01 10:00", "18:00", ""])
def test_an_unreadable_time_gets_the_usage_line(typed: str) -> None:
    with pytest.raises(UsageError, match="at= takes a date and time"):
        parse_run_at(typed, timezone=NY)


def test_an_unknown_zone_is_named() -> None:
    with pytest.raises(UsageError, match="Mars/Olympus"):
        parse_run_at("2026-11-19 18:00", timezone="Mars/Olympus")


@pytest.mark.parametrize(
    ("cron", "first_local"),
    [
        ("0 9 * * 1", "Mon 09:00"),  # crontab numbering: 1 is Monday (APScheduler's would be Tue)
        ("0 9 * * MON", "Mon 09:00"),
        ("0 9 * * 0", "Sun 09:00"),
        ("0 9 * * 7", "Sun 09:00"),
        ("30 17 * * 1-5", "Tue 17:30"),  # NOW is Tue 8:00 local
        ("0 10 * * 5-0", "Fri 10:00"),  # a range that ends on Sunday
        ("0 12 1 * *", "Sun 12:00"),  # Nov 1
    ],
)
def test_cron_weekdays_mean_what_they_mean_in_crontab(cron: str, first_local: str) -> None:
    first = next_fire_time(cron_trigger(cron, NY), NOW)
    assert first is not None
    assert first.astimezone(cron_trigger(cron, NY).timezone).strftime("%a %H:%M") == first_local


def test_weekly_cron_keeps_its_local_time_across_the_fall_back_change() -> None:
    trigger = cron_trigger("0 9 * * MON", NY)
    runs = fire_times(
        trigger, datetime(2026, 10, 20, tzinfo=UTC), datetime(2026, 11, 10, tzinfo=UTC)
    )
    assert runs == [
        datetime(2026, 10, 26, 13, 0, tzinfo=UTC),  # 9:00 EDT
        datetime(2026, 11, 2, 14, 0, tzinfo=UTC),  # 9:00 EST, after the change on Nov 1
        datetime(2026, 11, 9, 14, 0, tzinfo=UTC),
    ]


def test_daily_cron_in_the_repeated_hour_fires_once_that_night() -> None:
    trigger = cron_trigger("30 1 * * *", NY)
    runs = fire_times(
        trigger, datetime(2026, 10, 31, tzinfo=UTC), datetime(2026, 11, 2, 12, tzinfo=UTC)
    )
    assert runs == [
        datetime(2026, 10, 31, 5, 30, tzinfo=UTC),
        datetime(2026, 11, 1, 5, 30, tzinfo=UTC),  # 1:30 EDT; not again at 1:30 EST
        datetime(2026, 11, 2, 6, 30, tzinfo=UTC),
    ]


def test_daily_cron_in_the_skipped_hour_fires_just_after_the_change() -> None:
    trigger = cron_trigger("30 2 * * *", NY)
    runs = fire_times(
        trigger, datetime(2027, 3, 13, 12, tzinfo=UTC), datetime(2027, 3, 15, 12, tzinfo=UTC)
    )
    local = [r.astimezone(trigger.timezone).strftime("%m-%d %H:%M %Z") for r in runs]
    assert local == ["03-14 03:30 EDT", "03-15 02:30 EDT"]


@pytest.mark.parametrize(
    ("cron", "complaint"),
    [
        ("* * * * *", "more than once an hour"),
        ("0,30 9 * * *", "more than once an hour"),
        ("0 9 31 2 *", "never fires"),
        ("0 9 1 * MON", "not both"),
        ("0 25 * * *", "not a valid cron expression"),
        ("0 9 * * FUNDAY", "not a valid cron expression"),
        ("every monday", "not a cron expression"),
    ],
)
def test_bad_cron_is_refused_with_the_usage(cron: str, complaint: str) -> None:
    with pytest.raises(UsageError, match=complaint) as caught:
        check_cron(cron, NY, now=NOW)
    assert "every=" in caught.value.message


def test_good_cron_is_kept_tidy() -> None:
    assert check_cron('  "0  9 * * MON" ', NY, now=NOW) == "0 9 * * MON"
