"""`/muster find QUERY`: look volunteers up by phone, name, ZIP prefix or tag.

Rosters, the inbox and the logs show a number masked to its last four digits (***-***-0111): that
form, or the four digits alone, finds the volunteer (four digits also match ZIP prefixes)."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from handlers import views
from handlers.config import OrgConfig
from handlers.messages import OrganizerCommand
from handlers.organizer.display import volunteer_name
from handlers.organizer.parsing import SMART_QUOTES, USAGE, usage_error
from handlers.organizer.rights import OutsideChapter, Scope, refuse, scope_for
from handlers.phones import display, to_e164
from handlers.ports import Clock
from handlers.results import Result
from storage.models import Commitment, CommitmentStatus, Shift, Volunteer, VolunteerTag
from storage.uow import UnitOfWork

FIND_LIMIT = 25
_MASKED = re.compile(r"[*x•]{3}[-. ]?[*x•]{3}[-. ]?(\d{4})", re.IGNORECASE)


def find_volunteers(
    cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock
) -> Result:
    query = cmd.args.strip().translate(SMART_QUOTES).strip("\"'")
    if not query:
        raise usage_error(USAGE["find"], "missing QUERY")
    conditions, how = _find_condition(query)
    now = clock.now()
    scope = scope_for(cmd.user_id, uow=uow, org=org)
    if not scope.whole and how == "phone":
        _refuse_outside(cmd, conditions, scope, uow=uow, clock=clock)
    with uow:
        base = select(Volunteer).where(
            Volunteer.forgotten_at.is_(None), conditions, scope.volunteers()
        )
        total = uow.session.scalar(select(func.count()).select_from(base.subquery())) or 0
        found = list(
            uow.session.scalars(base.order_by(Volunteer.first_name, Volunteer.id).limit(FIND_LIMIT))
        )
        upcoming = _upcoming_counts(uow.session, [v.id for v in found], now)
        zone = org.zone
        lines = tuple(
            views.VolunteerLine(
                id=v.id,
                name=volunteer_name(v),
                phone=display(v.phone),
                zip=v.zip,
                status=str(v.status),
                tags=tuple(v.tag_names),
                upcoming=upcoming.get(v.id, 0),
                joined=f"{v.created_at.astimezone(zone):%b} {v.created_at.astimezone(zone).day}",
            )
            for v in found
        )
    view = views.FindView(query=query, how=how, volunteers=lines, more=max(total - len(lines), 0))
    return Result(view=view, intent="find")


def _refuse_outside(
    cmd: OrganizerCommand, condition: object, scope: Scope, *, uow: UnitOfWork, clock: Clock
) -> None:
    """A chapter leader looking up the number of another chapter's volunteer: refused, audited."""
    with uow:
        found = uow.session.execute(
            select(Volunteer.id, scope.volunteers()).where(
                Volunteer.forgotten_at.is_(None), condition
            )
        ).first()
    if found is not None and not found[1]:
        refuse(cmd.user_id, f"find volunteer:{found[0]}", uow=uow, clock=clock)
        raise OutsideChapter(
            f"You lead {scope.names}: that number belongs to a volunteer of another chapter."
        )


def _find_condition(query: str) -> tuple[object, str]:
    lowered = query.lower()
    if lowered.startswith("tag:"):
        tag = lowered[4:].strip()
        return Volunteer.tags.any(VolunteerTag.tag == tag), "tag"
    masked = _MASKED.fullmatch(query)
    if masked:  # as a roster or a log shows a number: ***-***-0111
        return Volunteer.phone.endswith(masked[1], autoescape=True), "last four digits"
    if re.fullmatch(r"\d{4}", query):  # the last four of a masked number, or a ZIP prefix
        zip_prefix = Volunteer.zip.startswith(query, autoescape=True)
        last_four = Volunteer.phone.endswith(query, autoescape=True)
        return or_(zip_prefix, last_four), "ZIP prefix or last four digits"
    if re.fullmatch(r"\d{1,5}", query):
        return Volunteer.zip.startswith(query, autoescape=True), "ZIP prefix"
    digits = re.sub(r"\D", "", query)
    if len(digits) >= 10 and re.fullmatch(r"[\d\s()+.-]+", query):
        phone = to_e164(query)
        if phone is None:
            raise usage_error(USAGE["find"], f"{query} is not a valid phone number")
        return Volunteer.phone == phone, "phone"
    name = Volunteer.first_name.ilike(f"%{_escape_like(query)}%", escape="\\")
    return or_(name, Volunteer.tags.any(VolunteerTag.tag == lowered)), "name or tag"


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _upcoming_counts(session: Session, ids: list[int], now: datetime) -> dict[int, int]:
    if not ids:
        return {}
    rows = session.execute(
        select(Commitment.volunteer_id, func.count())
        .join(Shift, Shift.id == Commitment.shift_id)
        .where(
            Commitment.volunteer_id.in_(ids),
            Commitment.status.in_((CommitmentStatus.COMMITTED, CommitmentStatus.CONFIRMED)),
            Shift.starts_at >= now,
        )
        .group_by(Commitment.volunteer_id)
    )
    return {vid: n for vid, n in rows}
