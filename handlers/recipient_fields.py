"""Each recipient's values for the fields of a message (`handlers.fields`), read set-based.

One SELECT over the audience gives every recipient's id, phone, first name, ZIP, chapter and the
districts the message's fields need (outer joins on `volunteer_districts`, one per chamber); the
legislators of those districts are read once (a few thousand rows at most) and joined in Python.
Rows are streamed (`yield_per`), so 100,000 recipients never sit in memory as ORM objects.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session, aliased

from handlers.fields import CHAMBER_OF
from handlers.legislators import LegislatorInfo, StoredLegislators, by_district
from handlers.phones import display
from storage.chapters import Chapter, VolunteerChapter
from storage.districts import VolunteerDistrict
from storage.models import Volunteer

STREAM = 5000


@dataclass(frozen=True, slots=True)
class Recipient:
    volunteer_id: int
    phone: str
    values: dict[str, str | None]


def field_values(
    first_name: str | None,
    zip_code: str | None,
    chapter: str | None,
    legislators: dict[str, LegislatorInfo | None],
) -> dict[str, str | None]:
    """The values of every field for one volunteer (legislators: chamber -> member or None)."""

    def name(chamber: str) -> str | None:
        person = legislators.get(chamber)
        return person.name if person else None

    def phone(chamber: str) -> str | None:
        person = legislators.get(chamber)
        if not person or not person.phone:
            return None
        # US numbers as people read them; others as stored (as handlers.rendered_sql does)
        return display(person.phone) if person.phone.startswith("+1") else person.phone

    return {
        "first_name": (first_name or "").strip() or None,
        "zip": zip_code,
        "chapter": chapter,
        "rep": name("sldl"),
        "rep_phone": phone("sldl"),
        "senator": name("sldu"),
        "senator_phone": phone("sldu"),
        "us_rep": name("cd"),
        "us_rep_phone": phone("cd"),
    }


def recipients_with_values(
    session: Session, where: ColumnElement[bool], names: Collection[str]
) -> Iterator[Recipient]:
    """Every volunteer matching `where`, with the values of the fields `names` need."""
    chambers = sorted({CHAMBER_OF[n] for n in names if n in CHAMBER_OF})
    joins = {c: aliased(VolunteerDistrict, name=f"vd_{c}") for c in chambers}
    columns = [Volunteer.id, Volunteer.phone, Volunteer.first_name, Volunteer.zip]
    stmt_columns = list(columns) + [joins[c].district for c in chambers]
    want_chapter = "chapter" in names
    if want_chapter:
        stmt_columns.append(Chapter.name)
    stmt = select(*stmt_columns).select_from(Volunteer)
    for c in chambers:
        vd = joins[c]
        stmt = stmt.outerjoin(vd, and_(vd.volunteer_id == Volunteer.id, vd.chamber == c))
    if want_chapter:
        stmt = stmt.outerjoin(VolunteerChapter, VolunteerChapter.volunteer_id == Volunteer.id)
        stmt = stmt.outerjoin(Chapter, Chapter.id == VolunteerChapter.chapter_id)
    stmt = stmt.where(where).order_by(Volunteer.id)
    members: dict[str, LegislatorInfo] = {}
    if chambers:
        members = by_district(p for p in StoredLegislators(session).all() if p.chamber in chambers)
    for row in session.execute(stmt.execution_options(yield_per=STREAM)):
        districts = row[4 : 4 + len(chambers)]
        chapter = row[4 + len(chambers)] if want_chapter else None
        people = {
            c: members.get(d) if d else None for c, d in zip(chambers, districts, strict=True)
        }
        yield Recipient(row[0], row[1], field_values(row[2], row[3], chapter, people))


def values_for(session: Session, volunteer: Volunteer) -> dict[str, str | None]:
    """One volunteer's values (a follow-up to their YES, a CALL)."""
    found = next(
        recipients_with_values(
            session, Volunteer.id == volunteer.id, set(CHAMBER_OF) | {"chapter"}
        ),
        None,
    )
    return found.values if found else field_values(volunteer.first_name, volunteer.zip, None, {})
