"""The clock's jobs: plain functions of (unit of work, clock, ...), one transaction each.

The APScheduler clock (`scheduler/clock.py`) calls them at their times; tests and benchmarks call
them directly with a fixed clock. Each is safe to run twice for the same moment (a restart, a
second clock during a leadership hand-over): the database's unique keys make the second run a
no-op.

Missed runs. APScheduler is told to call a schedule's job however late it is
(`misfire_grace_time=None`) and to roll several missed runs into one call (`coalesce=True`);
`fire_schedule` then decides with the run times in hand, from the schedule row itself:
a run at most `SCHEDULE_GRACE` (15 minutes) late still goes (a clock restarted after a deploy
sends the 6 PM call to action at 6:05); a later one does not go out by surprise, but is recorded
as a MISSED broadcast and reported to the organizers' inbox, who can send it again by hand.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers import votes
from handlers.broadcasts import create_draft, expand_broadcast
from handlers.config import OrgConfig
from handlers.errors import MusterError
from handlers.ports import Clock
from handlers.reminders import SweepResult, send_due_reminders
from handlers.results import InboxPost
from handlers.schedule_times import cron_trigger, fire_times
from handlers.schedules import ScheduleKind, schedule_digest
from handlers.sending import enqueue_posts
from storage.audit import audit
from storage.models import (
    Broadcast,
    BroadcastStatus,
    Schedule,
    ScheduleStatus,
    Shift,
)
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

SCHEDULE_GRACE = timedelta(minutes=15)
DIGEST_CRON = "0 10 * * MON"  # Monday 10:00 in DEFAULT_TIMEZONE, changeable like any schedule
DIGEST_DAYS = timedelta(days=7)
DIGEST_SHIFTS = 5
CLOCK_ACTOR = "clock"


@dataclass(frozen=True)
class FireOutcome:
    """What one call of `fire_schedule` did."""

    sent_run_at: datetime | None = None  # the run time that went out now
    broadcast_id: int | None = None
    recipients: int = 0
    missed: list[datetime] = field(default_factory=list)  # run times too late to send
    problem: str | None = None  # why a due run could not go (e.g. its shift is gone)


def due_run_times(schedule: Schedule, *, now: datetime) -> list[datetime]:
    """The schedule's run times not yet handled, up to `now` (UTC, oldest first)."""
    handled = max(
        t for t in (schedule.last_fired_at, schedule.timing_set_at or schedule.created_at) if t
    )
    if schedule.cron:
        return fire_times(cron_trigger(schedule.cron, schedule.timezone), handled, now)
    run_at = schedule.run_at
    if run_at is None or run_at > now:
        return []
    if schedule.last_fired_at is not None and schedule.last_fired_at >= run_at:
        return []
    return [run_at]


def fire_schedule(
    uow: UnitOfWork,
    clock: Clock,
    *,
    schedule_id: int,
    org: OrgConfig,
    grace: timedelta = SCHEDULE_GRACE,
) -> FireOutcome:
    """Send the schedule's latest due run if it is at most `grace` late; record and report the
    runs that are later than that. Exactly once per (schedule, run time)."""
    now = clock.now()
    with uow:
        session = uow.session
        schedule = session.get(Schedule, schedule_id, with_for_update=True)
        if schedule is None or schedule.status != ScheduleStatus.ACTIVE:
            return FireOutcome()
        due = due_run_times(schedule, now=now)
        if not due:
            return FireOutcome()
        latest = due[-1]
        on_time = now - latest <= grace
        late = [t for t in (due[:-1] if on_time else due) if now - t > grace]
        outcome = FireOutcome(missed=late)
        if on_time:
            outcome = _send_run(session, schedule, run_at=latest, now=now, org=org, missed=late)
        if late:
            _record_missed(session, schedule, late, now=now, org=org)
        schedule.last_fired_at = latest
        if schedule.run_at is not None and not schedule.cron:
            schedule.status = ScheduleStatus.DONE
        schedule.updated_at = now
        uow.commit()
    return outcome


def _already(session: Session, schedule_id: int, run_at: datetime) -> Broadcast | None:
    return session.scalars(
        select(Broadcast).where(Broadcast.schedule_id == schedule_id, Broadcast.run_at == run_at)
    ).first()


def _send_run(
    session: Session,
    schedule: Schedule,
    *,
    run_at: datetime,
    now: datetime,
    org: OrgConfig,
    missed: list[datetime],
) -> FireOutcome:
    existing = _already(session, schedule.id, run_at)
    if existing is not None:
        return FireOutcome(missed=missed, broadcast_id=existing.id)
    is_digest = schedule.kind == ScheduleKind.DIGEST
    body = digest_text(session, now=now, org=org) if is_digest else schedule.body
    if body is None:
        log.info("digest %s: no open shifts this week, nothing sent", schedule.id)
        return FireOutcome(missed=missed)
    deadline = (
        run_at + timedelta(minutes=schedule.deadline_minutes) if schedule.deadline_minutes else None
    )
    if deadline is not None and deadline <= now:
        # Inside the grace window but past the organizer's own deadline: missed all the same.
        _record_missed(session, schedule, [run_at], now=now, org=org)
        return FireOutcome(missed=[*missed, run_at])
    try:
        broadcast = create_draft(
            session,
            body=body,
            audience=schedule.audience,
            created_by=schedule.created_by or CLOCK_ACTOR,
            now=now,
            deadline=deadline,
            quiet_hours_override=schedule.quiet_hours_override,
            schedule_id=schedule.id,
            run_at=run_at,
            on_yes=schedule.on_yes,
            on_no=schedule.on_no,
        )
    except MusterError as exc:
        enqueue_posts(session, [_problem_post(schedule, run_at, exc.message, org)])
        audit(
            session,
            actor=CLOCK_ACTOR,
            action="schedule.failed",
            at=now,
            target=f"schedule:{schedule.id}",
            detail={"run_at": run_at.isoformat(), "reason": exc.message},
        )
        return FireOutcome(missed=missed, problem=exc.message)
    if is_digest:
        broadcast.kind = "digest"
        broadcast.is_call_to_action = False
    broadcast.confirmed_by = schedule.created_by or CLOCK_ACTOR
    broadcast.confirmed_at = now
    count = expand_broadcast(session, broadcast, now=now)
    audit(
        session,
        actor=CLOCK_ACTOR,
        action="schedule.fire",
        at=now,
        target=f"schedule:{schedule.id}",
        detail={
            "broadcast": broadcast.id,
            "run_at": run_at.isoformat(),
            "late_seconds": round((now - run_at).total_seconds(), 3),
            "recipients": count,
        },
    )
    return FireOutcome(
        sent_run_at=run_at, broadcast_id=broadcast.id, recipients=count, missed=missed
    )


def _record_missed(
    session: Session, schedule: Schedule, late: list[datetime], *, now: datetime, org: OrgConfig
) -> None:
    """One MISSED broadcast for the latest late run (not one per run of a long outage), and one
    alert to the organizers saying what did not go and why."""
    latest = late[-1]
    if _already(session, schedule.id, latest) is None:
        session.add(
            Broadcast(
                schedule_id=schedule.id,
                run_at=latest,
                body=schedule.body,
                audience=schedule.audience,
                kind=schedule.kind,
                status=BroadcastStatus.MISSED,
                is_call_to_action=schedule.kind != ScheduleKind.DIGEST,
                created_by=schedule.created_by or CLOCK_ACTOR,
                created_at=now,
            )
        )
        session.flush()
    audit(
        session,
        actor=CLOCK_ACTOR,
        action="schedule.missed",
        at=now,
        target=f"schedule:{schedule.id}",
        detail={"runs": len(late), "latest": latest.isoformat(), "checked_at": now.isoformat()},
    )
    enqueue_posts(session, [_missed_post(schedule, late, now=now, org=org)])


def _local(moment: datetime, tz_name: str) -> str:
    local = moment.astimezone(ZoneInfo(tz_name))
    hour = local.hour % 12 or 12
    return f"{local:%a %b} {local.day} at {hour}:{local:%M} {'AM' if local.hour < 12 else 'PM'}"


def _late_by(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} minutes"
    hours = minutes // 60
    return f"{hours} hours" if hours < 48 else f"{hours // 24} days"


def _what(schedule: Schedule) -> str:
    if schedule.kind == ScheduleKind.DIGEST:
        return f"The weekly digest (schedule {schedule.id})"
    preview = schedule.body if len(schedule.body) <= 60 else schedule.body[:57] + "..."
    return f'Scheduled broadcast {schedule.id} to {schedule.audience} ("{preview}")'


def _missed_post(
    schedule: Schedule, late: list[datetime], *, now: datetime, org: OrgConfig
) -> InboxPost:
    latest = late[-1]
    runs = "" if len(late) == 1 else f" ({len(late)} runs missed in all)"
    return InboxPost(
        kind="alert",
        text=(
            f"{_what(schedule)} was due {_local(latest, schedule.timezone)} and was NOT sent: "
            f"the clock was not running then, and {_late_by(now - latest)} late is too late to "
            f"send without asking{runs}. Send it again with /muster broadcast if it still "
            "matters."
        ),
    )


def _problem_post(schedule: Schedule, run_at: datetime, reason: str, org: OrgConfig) -> InboxPost:
    return InboxPost(
        kind="alert",
        text=(
            f"{_what(schedule)} due {_local(run_at, schedule.timezone)} could not go: {reason} "
            "Edit it or /muster unschedule it."
        ),
    )


# --- The weekly digest -------------------------------------------------------------------------


def digest_text(session: Session, *, now: datetime, org: OrgConfig) -> str | None:
    """The open shifts of the week ahead, nearest first; None when there are none."""
    shifts = session.scalars(
        select(Shift)
        .where(
            Shift.starts_at > now,
            Shift.starts_at <= now + DIGEST_DAYS,
            Shift.cancelled_at.is_(None),
            Shift.committed_count < Shift.capacity,
        )
        .order_by(Shift.starts_at, Shift.id)
        .limit(DIGEST_SHIFTS)
    ).all()
    if not shifts:
        return None
    lines = [
        f"{s.id}) {s.title}, {_local(s.starts_at, s.timezone or org.default_timezone)}"
        for s in shifts
    ]
    return (
        f"{org.org_name}: open shifts this week:\n"
        + "\n".join(lines)
        + "\nReply YES and a number to sign up, SHIFTS for more."
    )


def ensure_digest_schedule(uow: UnitOfWork, clock: Clock, *, org: OrgConfig) -> int | None:
    """Create the weekly digest's schedule the first time a clock leads. Organizers may change
    its time or unschedule it; a digest schedule that was ever created is never re-created."""
    now = clock.now()
    with uow:
        session = uow.session
        exists = session.scalar(
            select(Schedule.id).where(Schedule.kind == ScheduleKind.DIGEST).limit(1)
        )
        if exists is not None:
            return None
        schedule = schedule_digest(
            session,
            cron=DIGEST_CRON,
            timezone=org.default_timezone,
            created_by=CLOCK_ACTOR,
            now=now,
        )
        uow.commit()
        return schedule.id


# --- Reminders -------------------------------------------------------------------------------


def run_reminder_sweep(uow: UnitOfWork, clock: Clock, *, org: OrgConfig) -> SweepResult:
    """One sweep of the reminder ladder, in one transaction."""
    now = clock.now()
    with uow:
        result = send_due_reminders(uow.session, now=now, org=org)
        uow.commit()
    if result.queued or result.unconfirmed_posts:
        log.info(
            "reminders queued: %d day-before, %d two-hour, %d check-in; %d unconfirmed lists",
            result.daybefore,
            result.twohours,
            result.checkin,
            result.unconfirmed_posts,
        )
    return result


# --- Member votes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BallotSweep:
    opened: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)


def run_ballot_sweep(uow: UnitOfWork, clock: Clock, *, org: OrgConfig) -> BallotSweep:
    """Open the ballots whose time has come and close those whose time is up, each in its own
    transaction. Each is claimed by a conditional UPDATE, so two clocks sweeping at once open,
    close and post every ballot exactly once."""
    now = clock.now()
    with uow:
        to_open, to_close = votes.due_ballots(uow.session, now=now)
    sweep = BallotSweep()
    for ballot_id in to_open:
        with uow:
            if votes.open_ballot(uow.session, ballot_id, now=now, org=org):
                sweep.opened.append(ballot_id)
            uow.commit()
    for ballot_id in to_close:
        with uow:
            if votes.close_ballot(uow.session, ballot_id, now=now, org=org) is not None:
                sweep.closed.append(ballot_id)
            uow.commit()
    if sweep.opened or sweep.closed:
        log.info("ballots opened %s, closed %s", sweep.opened, sweep.closed)
    return sweep
