"""Broadcasts planned ahead: once at a time (`at=`), or recurring by cron (`every=`).

Organizers' requests (Slack `/muster broadcast at=... every=...`, `/muster scheduled`,
`/muster unschedule ID`, the console) write `schedules` rows here, inside the caller's unit of work.
The clock alone turns those rows into APScheduler jobs (`scheduler/clock_schedules.py`); web
processes never touch the job store. Every change is audited.

How the times and cron expressions organizers type are read (in their zone, across daylight
saving), and when a recurring schedule fires: `handlers.schedule_times`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.audiences import check_audience, parse_audience
from handlers.broadcasts import check_body, check_follow_up
from handlers.errors import InvalidInput, UnknownBroadcast, UsageError
from handlers.schedule_times import AT_USAGE, check_cron, cron_trigger, next_fire_time, zone_named
from storage.audit import audit
from storage.models import Schedule, ScheduleStatus

MAX_AHEAD = timedelta(days=366)
DIGEST_AUDIENCE = "digest"  # the volunteers who opted into the weekly digest


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
