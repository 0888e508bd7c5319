"""CSV rows for volunteers and shift rosters (`muster export`, and Slack's `/muster export`).

Both functions stream (`yield_per`), so an export of a large list stays small in memory, and both
run inside the caller's unit of work. Values are strings ready for `csv.DictWriter`; times are
ISO 8601 in UTC. The columns, and how they map to OSDI person and attendance fields (Action
Network and similar tools), are documented in docs/data.md.

Free text that came from a phone (a name a volunteer texted) or from an organizer could start with
`=`, `+`, `-` or `@`, which spreadsheet programs run as a formula; such values are written with a
leading apostrophe. Phone numbers (validated E.164) and times are written as they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, select, true
from sqlalchemy.orm import Session, aliased, lazyload

from handlers.districts import COLUMNS
from handlers.errors import UnknownShift
from handlers.shifts import place_in_line
from storage.chapters import Chapter, VolunteerChapter
from storage.districts import VolunteerDistrict
from storage.models import Commitment, CommitmentStatus, Shift, Volunteer

# The district columns, by chamber: the import's own (handlers.districts.COLUMNS), turned round.
DISTRICT_COLUMNS = {chamber: column for column, chamber in COLUMNS.items()}

# The import's columns come first, in the import's order, so an export can be imported again.
VOLUNTEER_COLUMNS: tuple[str, ...] = (
    "phone",
    "name",
    "zip",
    "tags",
    "opted_in_at",
    "source",
    "address",
    *COLUMNS,
    "chapter",
    "status",
    "opted_out_at",
    "state",
    "timezone",
    "volunteer_id",
    "created_at",
    "email",
)

ROSTER_COLUMNS: tuple[str, ...] = (
    "shift_id",
    "shift_title",
    "shift_starts_at",
    "phone",
    "name",
    "zip",
    "status",
    "attended",
    "waitlist_position",
    "signed_up_at",
    "confirmed_at",
    "dropped_at",
    "channel",
    "volunteer_id",
)

# Roster order: who is coming first, then the waitlist in its order, then who dropped out.
_ROSTER_ORDER = {
    CommitmentStatus.CONFIRMED: 0,
    CommitmentStatus.COMMITTED: 0,
    CommitmentStatus.ATTENDED: 0,
    CommitmentStatus.NO_SHOW: 0,
    CommitmentStatus.WAITLISTED: 1,
    CommitmentStatus.DROPPED: 2,
}
# Whom promotion would take off the waitlist (the rule of `handlers.shifts._first_in_line`).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value: str | None) -> str:
    """Free text as a spreadsheet will show it, never run it (CSV/formula injection)."""
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def volunteer_rows(
    session: Session, *, where: ColumnElement[bool] | None = None
) -> Iterator[dict[str, str]]:
    """Every volunteer with a phone on file (forgotten ones have none), oldest first, with their
    districts (short OCD ids) from one outer join per chamber and their chapter's slug. `where`
    narrows it (a chapter leader's export: their chapter's volunteers)."""
    joined = {c: aliased(VolunteerDistrict) for c in DISTRICT_COLUMNS}
    stmt = select(Volunteer, Chapter.slug, *(j.district for j in joined.values()))
    for chamber, j in joined.items():
        stmt = stmt.outerjoin(j, and_(j.volunteer_id == Volunteer.id, j.chamber == chamber))
    stmt = (
        stmt.outerjoin(VolunteerChapter, VolunteerChapter.volunteer_id == Volunteer.id)
        .outerjoin(Chapter, Chapter.id == VolunteerChapter.chapter_id)
        .where(Volunteer.phone.is_not(None), true() if where is None else where)
        .order_by(Volunteer.id)
        .execution_options(yield_per=1000)
    )
    for volunteer, chapter, *districts in session.execute(stmt):
        yield {
            "phone": volunteer.phone or "",
            "name": safe_text(volunteer.first_name),
            "zip": volunteer.zip or "",
            "tags": ",".join(volunteer.tag_names),
            "opted_in_at": iso(volunteer.opted_in_at),
            "source": safe_text(volunteer.source),
            "address": safe_text(volunteer.address),
            **{col: d or "" for col, d in zip(DISTRICT_COLUMNS.values(), districts, strict=True)},
            "chapter": chapter or "",
            "status": str(volunteer.status),
            "opted_out_at": iso(volunteer.opted_out_at),
            "state": volunteer.state or "",
            "timezone": volunteer.timezone or "",
            "volunteer_id": str(volunteer.id),
            "created_at": iso(volunteer.created_at),
            "email": safe_text(volunteer.email),
        }


def roster_rows(
    session: Session, shift_id: int, *, where: ColumnElement[bool] | None = None
) -> Iterator[dict[str, str]]:
    """Everyone on shift N's roster: committed, then the waitlist in order, then dropped.

    Raises `UnknownShift` before yielding anything when there is no such shift.
    """
    shift = session.get(Shift, shift_id)
    if shift is None:
        raise UnknownShift(shift_id)
    return _roster_rows(session, shift, true() if where is None else where)


def _roster_rows(
    session: Session, shift: Shift, where: ColumnElement[bool]
) -> Iterator[dict[str, str]]:
    order = case(
        *((Commitment.status == status, rank) for status, rank in _ROSTER_ORDER.items()),
        else_=3,
    )
    # The place in line each waitlisted volunteer is told (`handlers.shifts.waitlist_rank`).
    stmt = (
        select(Commitment, Volunteer, place_in_line())
        .join(Volunteer, Volunteer.id == Commitment.volunteer_id)
        .where(Commitment.shift_id == shift.id, where)
        .options(lazyload(Commitment.volunteer), lazyload(Commitment.shift))
        .options(lazyload(Volunteer.tags))
        .order_by(order, Commitment.waitlist_position, Commitment.created_at, Commitment.id)
        .execution_options(yield_per=1000)
    )
    for commitment, volunteer, waitlist_rank in session.execute(stmt):
        yield {
            "shift_id": str(shift.id),
            "shift_title": safe_text(shift.title),
            "shift_starts_at": iso(shift.starts_at),
            "phone": volunteer.phone or "",
            "name": safe_text(volunteer.first_name),
            "zip": volunteer.zip or "",
            "status": str(commitment.status),
            "attended": _attended(commitment.status),
            "waitlist_position": str(waitlist_rank) if waitlist_rank is not None else "",
            "signed_up_at": iso(commitment.committed_at or commitment.created_at),
            "confirmed_at": iso(commitment.confirmed_at),
            "dropped_at": iso(commitment.dropped_at),
            "channel": commitment.channel,
            "volunteer_id": str(volunteer.id),
        }


def _attended(status: CommitmentStatus) -> str:
    if status == CommitmentStatus.ATTENDED:
        return "true"
    if status == CommitmentStatus.NO_SHOW:
        return "false"
    return ""
