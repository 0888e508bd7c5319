"""`/muster scheduled` (planned broadcasts, and those still going out) and `/muster unschedule`."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from handlers import schedules, views
from handlers.config import OrgConfig
from handlers.messages import OrganizerCommand
from handlers.organizer.broadcast_buttons import GOING, WAITING
from handlers.organizer.display import local_when
from handlers.organizer.parsing import no_args, one_number
from handlers.ports import Clock
from handlers.results import Result
from handlers.schedules import ScheduledView
from storage.models import Broadcast, Delivery
from storage.uow import UnitOfWork

# A schedule whose text is written when it fires (the digest lists the open shifts of that day).
_MADE_AT_SEND = {
    schedules.ScheduleKind.DIGEST: "(the digest of open shifts, written when it goes out)"
}
GOING_OUT_LIMIT = 10  # broadcasts still going out, listed by `scheduled` with Stop sending


def list_scheduled(
    cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock
) -> Result:
    no_args(cmd)
    with uow:
        rows = schedules.list_schedules(uow.session, now=clock.now())
        lines = tuple(
            views.ScheduleLine(
                id=s.id,
                audience=s.audience,
                body=s.body or _MADE_AT_SEND.get(s.kind, ""),
                when=_schedule_when(s),
                created_by=s.created_by,
            )
            for s in rows
        )
        going = going_out(uow.session, org=org, limit=GOING_OUT_LIMIT)
    return Result(view=views.ScheduleListView(lines, going_out=going), intent="scheduled")


def going_out(session: Session, *, org: OrgConfig, limit: int) -> tuple[views.GoingOutLine, ...]:
    """Broadcasts with texts not yet handed to Twilio, newest first: confirmed ones and those
    the clock fired, whose Stop sending is found here (the clock posts no message of its own)."""
    rows = session.execute(
        select(Broadcast, func.count(Delivery.id))
        .join(Delivery, Delivery.broadcast_id == Broadcast.id)
        .where(Broadcast.status.in_(GOING), Delivery.status.in_(WAITING))
        .group_by(Broadcast.id)
        .order_by(Broadcast.id.desc())
        .limit(limit)
    ).all()
    return tuple(
        views.GoingOutLine(
            id=b.id,
            audience=b.audience,
            body=b.body,
            when=local_when(b.confirmed_at or b.created_at, None, org.zone),
            left=left,
            recipients=b.recipient_count,
            schedule_id=b.schedule_id,
        )
        for b, left in rows
    )


def _schedule_when(s: ScheduledView) -> str:
    """`Thu Nov 19, 18:00 EST`, or `every 0 9 * * MON (America/New_York), next Mon Nov 23, ...`."""
    zone = ZoneInfo(s.timezone)
    if s.cron is None and s.run_at is not None:
        return local_when(s.run_at, None, zone)
    following = f", next {local_when(s.next_run_at, None, zone)}" if s.next_run_at else ""
    return f"every `{s.cron}` ({s.timezone}){following}"


def unschedule(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    schedule_id = one_number(cmd.args, "unschedule", "ID")
    now = clock.now()
    with uow:
        schedules.cancel_schedule(
            uow.session, schedule_id=schedule_id, user_id=cmd.user_id, now=now
        )
        uow.commit()
    view = views.NoticeView(f"Scheduled broadcast #{schedule_id} is cancelled.")
    return Result(view=view, intent="unscheduled")
