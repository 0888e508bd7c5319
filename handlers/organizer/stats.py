"""The drive at a glance: `/muster stats` and the App Home tab, in a handful of set queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from handlers import views
from handlers.broadcast_reports import broadcast_report
from handlers.call_tally import call_totals
from handlers.config import OrgConfig
from handlers.messages import OrganizerCommand
from handlers.organizer.display import local_when
from handlers.organizer.districts import district_counts
from handlers.organizer.parsing import no_args
from handlers.organizer.shifts import shift_lines, upcoming_shifts
from handlers.ports import Clock
from handlers.results import Result
from storage.models import Broadcast, BroadcastStatus, Commitment, Volunteer, VolunteerStatus
from storage.uow import UnitOfWork

NEXT_SHIFTS = 5
LAST_BROADCASTS = 5
WEEKS = 8


def show_stats(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    no_args(cmd)
    with uow:
        view = drive_stats(uow.session, now=clock.now(), org=org)
    return Result(view=view, intent="stats")


def dashboard(
    user_id: str, *, uow: UnitOfWork, org: OrgConfig, clock: Clock
) -> views.StatsView | None:
    """The App Home's numbers, for organizers only (None for anyone else: nothing to show)."""
    if not org.is_organizer(user_id):
        return None
    with uow:
        return drive_stats(uow.session, now=clock.now(), org=org)


def drive_stats(session: Session, *, now: datetime, org: OrgConfig) -> views.StatsView:
    zone = org.zone
    by_status = dict(
        session.execute(
            select(Volunteer.status, func.count())
            .where(Volunteer.forgotten_at.is_(None))
            .group_by(Volunteer.status)
        ).all()
    )
    new_this_week = (
        session.scalar(
            select(func.count())
            .select_from(Volunteer)
            .where(
                Volunteer.created_at >= now - timedelta(days=7), Volunteer.forgotten_at.is_(None)
            )
        )
        or 0
    )
    shifts, _ = upcoming_shifts(session, now=now, limit=NEXT_SHIFTS)
    broadcasts = list(
        session.scalars(
            select(Broadcast)
            .where(Broadcast.status != BroadcastStatus.DRAFT)
            .order_by(Broadcast.created_at.desc(), Broadcast.id.desc())
            .limit(LAST_BROADCASTS)
        )
    )
    lines = []
    for b in broadcasts:
        report = broadcast_report(session, b.id)
        lines.append(
            views.BroadcastLine(
                id=b.id,
                body=b.body,
                audience=b.audience,
                status=str(b.status),
                when=local_when(b.confirmed_at or b.created_at, None, zone),
                recipients=b.recipient_count,
                # the report's `sent` is "accepted, not yet reported delivered": out is both
                sent=report.sent + report.delivered,
                delivered=report.delivered,
                replied=report.replied,
            )
        )
    return views.StatsView(
        active=by_status.get(VolunteerStatus.ACTIVE, 0),
        new_this_week=new_this_week,
        opted_out=by_status.get(VolunteerStatus.OPTED_OUT, 0),
        unreachable=by_status.get(VolunteerStatus.UNREACHABLE, 0),
        next_shifts=tuple(shift_lines(session, shifts, org)),
        last_broadcasts=tuple(lines),
        signups_by_week=signups_by_week(session, now=now, org=org),
        as_of=local_when(now, None, zone),
        targets=district_counts(session, now=now, state=None, targets_only=True).rows,
        last_call=last_call_to_action(session, org=org),
    )


def last_call_to_action(session: Session, *, org: OrgConfig) -> views.CallToActionLine | None:
    """The latest call to action that went out (not a draft, not a ballot's reminder), with its
    sent / delivered / YES / NO / DONE counts as `/muster broadcast N` shows them."""
    b = session.scalars(
        select(Broadcast)
        .where(
            Broadcast.is_call_to_action.is_(True),
            Broadcast.status.not_in((BroadcastStatus.DRAFT, BroadcastStatus.CANCELLED)),
            Broadcast.confirmed_at.is_not(None),
        )
        .order_by(Broadcast.confirmed_at.desc(), Broadcast.id.desc())
        .limit(1)
    ).first()
    if b is None:
        return None
    c = call_totals(session, b.id)
    return views.CallToActionLine(
        id=b.id,
        body=b.body,
        audience=b.audience,
        when=local_when(b.confirmed_at, None, org.zone),
        sent=c.sent,
        delivered=c.delivered,
        yes=c.yes,
        no=c.no,
        done=c.done,
    )


def signups_by_week(
    session: Session, *, now: datetime, org: OrgConfig
) -> tuple[views.WeekBar, ...]:
    """Shift sign-ups per week (Monday to Sunday, organizers' zone) over the last 8 weeks."""
    zone = org.zone
    local_now = now.astimezone(zone)
    this_monday = (local_now - timedelta(days=local_now.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    starts = [this_monday - timedelta(weeks=WEEKS - 1 - i) for i in range(WEEKS)]
    when = func.coalesce(Commitment.committed_at, Commitment.created_at)
    times = session.scalars(select(when).where(when >= starts[0]))
    counts = [0] * WEEKS
    for at in times:
        if at is None:
            continue
        if at.tzinfo is None:  # a coalesce on SQLite comes back naive: stored as UTC
            at = at.replace(tzinfo=UTC)
        index = (at.astimezone(zone) - starts[0]).days // 7
        if 0 <= index < WEEKS:
            counts[index] += 1
    return tuple(
        views.WeekBar(label=f"{s:%b} {s.day}", count=n) for s, n in zip(starts, counts, strict=True)
    )
