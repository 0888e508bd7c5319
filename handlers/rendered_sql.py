"""Rendering a message's fields inside the database: the broadcast with fields stays one
INSERT ... SELECT, as fast (nearly) as one without.

Each field becomes a column expression over the audience's SELECT (the volunteer's name and ZIP,
their chapter's name, their district's member through a grouped subquery that picks the first
member by name, as `handlers.legislators.by_district` does, and the member's phone formatted as
`handlers.phones.display` formats a US number); the body is the concatenation of the literal text
and those expressions; a recipient lacking a field without fallback is filtered out by the WHERE.
Segments are counted in SQL for text that is plain GSM-7 ASCII (the usual case), and counted again
in Python (`count_segments`) for the few rows with any other character (accents, emoji, GSM-7's
escaped characters), so every row's count is exact.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from handlers.fields import CHAMBER_OF, template
from handlers.segments import count_segments
from storage.chapters import Chapter, VolunteerChapter
from storage.districts import VolunteerDistrict
from storage.legislators import Legislator
from storage.models import Broadcast, Delivery, DeliveryStatus, Priority, UTCDateTime, Volunteer

# ASCII characters that are not one plain GSM-7 unit (escaped, or not in the alphabet at all).
_NOT_PLAIN = ("`", "^", "{", "}", "\\", "[", "]", "~", "|", "\t")


def _phone(column: Any) -> Any:
    """+16177222600 -> (617) 722-2600 (other numbers as stored)."""

    def part(start: int) -> Any:
        return func.substr(column, start, 3 if start < 9 else 4, type_=String)

    digits = literal("(", String) + part(3) + ") " + part(6) + "-" + part(9)
    return case((and_(column.like("+1%"), func.length(column) == 12), digits), else_=column)


def _members(chamber: str) -> Any:
    """district -> the first member by name and their phone, for one chamber: the member no one
    in their district precedes by name (names are unique per district). An anti-join, not a
    grouped min() joined back, whose estimate of one row made PostgreSQL probe the volunteers
    by index one by one (a fifth of the expansion). A MATERIALIZED CTE: computed once (a few
    hundred rows), whatever the planner believes of the tables' sizes; inlined, on tables whose
    statistics were not yet gathered (just after an import) PostgreSQL ran the anti-join again
    for every volunteer (3.4 of 4.4 s at 100,000)."""
    member, before = aliased(Legislator), aliased(Legislator)
    earlier = (
        select(before.id)
        .where(
            before.chamber == chamber,
            before.district == member.district,
            before.name < member.name,
        )
        .exists()
    )
    return (
        select(
            member.district,
            member.name,
            func.coalesce(member.capitol_phone, member.district_phone).label("phone"),
        )
        .where(member.chamber == chamber, ~earlier)
        .cte(f"m_{chamber}")
        .prefix_with("MATERIALIZED")
    )


def expand_in_sql(
    session: Session, broadcast: Broadcast, where: ColumnElement[bool], *, now: Any
) -> int:
    """Insert the rendered deliveries; returns how many recipients were left out."""
    tpl = template(broadcast.body)
    chambers = sorted({CHAMBER_OF[n] for n in tpl.names if n in CHAMBER_OF})
    stmt = select(Volunteer.id).select_from(Volunteer)
    values: dict[str, Any] = {
        "first_name": func.nullif(func.trim(Volunteer.first_name, type_=String), "", type_=String),
        "zip": Volunteer.zip,
    }
    for c in chambers:
        vd = aliased(VolunteerDistrict, name=f"vd_{c}")
        m = _members(c)
        stmt = stmt.outerjoin(vd, and_(vd.volunteer_id == Volunteer.id, vd.chamber == c))
        stmt = stmt.outerjoin(m, m.c.district == vd.district)
        word = {"sldl": "rep", "sldu": "senator", "cd": "us_rep"}[c]
        values[word], values[f"{word}_phone"] = m.c.name, _phone(m.c.phone)
    if "chapter" in tpl.names:
        stmt = stmt.outerjoin(VolunteerChapter, VolunteerChapter.volunteer_id == Volunteer.id)
        stmt = stmt.outerjoin(Chapter, Chapter.id == VolunteerChapter.chapter_id)
        values["chapter"] = Chapter.name
    pieces: list[Any] = []
    required: list[Any] = []
    for text, name, fallback in tpl.parts:
        if name is None:
            pieces.append(literal(text, String))
        elif fallback is None:
            pieces.append(values[name])
            required.append(values[name].is_not(None))
        else:
            value = type_coerce(values[name], String)
            pieces.append(func.coalesce(value, literal(fallback, String), type_=String))
    pieces = [type_coerce(p, String) for p in pieces]
    body = pieces[0]
    for piece in pieces[1:]:
        body = body + piece
    length = func.length(body)
    segments = case((length <= 160, 1), else_=cast((length + 152) / 153, Integer))
    audience = stmt.where(where)
    first = not broadcast.recipient_count
    left_out = 0
    if required and not first:
        left_out = _count(session, audience.where(or_(*[~r for r in required])))
    # In the volunteers' order, as the plain expansion writes them: rows arriving by district
    # scattered the inserts over the outbox's indexes (by volunteer, key): a third slower.
    source = (
        audience.where(*required)
        .with_only_columns(
            *delivery_values(broadcast, body, segments, now=now), maintain_column_froms=True
        )
        .order_by(Volunteer.id)
    )
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    insert_recipients(
        session, broadcast, dialect.insert(Delivery.__table__).from_select(DELIVERY_COLUMNS, source)
    )
    if required and first:
        # One row per recipient who has every field (each join finds at most one row: one
        # district per chamber, one chapter), so the audience without its joins, less the rows
        # written, is who was left out: a count of the volunteers, not the joins run again.
        rows = select(Delivery.id).where(Delivery.broadcast_id == broadcast.id)
        left_out = _count(session, select(Volunteer.id).where(where)) - _count(session, rows)
    _recount_segments(session, broadcast.id)
    return int(left_out)


def _count(session: Session, query: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def insert_recipients(session: Session, broadcast: Broadcast, insert: Any) -> None:
    """The expansion's one INSERT ... SELECT. A first expansion (no rows yet: the usual case) is
    a plain INSERT, inside a savepoint: ON CONFLICT DO NOTHING makes PostgreSQL insert every row
    speculatively (a probe of each unique index, then the insert, then a confirmation: about a
    quarter of the statement's time at 100,000 rows). Should a row conflict after all (an
    expansion run again, a row inserted by another path), the savepoint is rolled back and the
    rows go in with ON CONFLICT DO NOTHING, as before: the same rows either way."""
    if not broadcast.recipient_count:
        try:
            with session.begin_nested():
                session.execute(insert)
            return
        except IntegrityError:
            pass
    session.execute(insert.on_conflict_do_nothing())


# The outbox columns a broadcast's expansion writes, in the order of `delivery_values`.
DELIVERY_COLUMNS = [
    "idempotency_key", "broadcast_id", "volunteer_id", "to_phone", "body", "kind", "priority",
    "status", "send_after", "deadline", "quiet_hours_override", "attempts", "segments",
    "created_at", "updated_at",
]  # fmt: skip


def delivery_values(broadcast: Broadcast, body: Any, segments: Any, *, now: datetime) -> list:
    """One outbox row per volunteer of the SELECT it goes in, as SQL expressions: the body and
    its segments are the caller's (one literal for everyone, or rendered per recipient)."""
    when = UTCDateTime()
    return [
        (literal(f"bc:{broadcast.id}:", String) + cast(Volunteer.id, String(20))).label("k"),
        literal(broadcast.id, Integer),
        Volunteer.id,
        Volunteer.phone,
        body,
        literal(broadcast.kind or "broadcast", String),
        literal(int(Priority.BULK), Integer),
        literal(DeliveryStatus.PENDING.value, String),
        literal(now, when),
        literal(broadcast.deadline, when),
        literal(bool(broadcast.quiet_hours_override), Boolean),
        literal(0, Integer),
        segments,
        literal(now, when),
        literal(now, when),
    ]


def _recount_segments(session: Session, broadcast_id: int) -> None:
    """Rows with any character outside plain GSM-7 ASCII: their segments counted exactly."""
    if session.get_bind().dialect.name == "postgresql":
        non_ascii = func.octet_length(Delivery.body) != func.char_length(Delivery.body)
    else:
        non_ascii = func.length(cast(Delivery.body, sqlite.BLOB)) != func.length(Delivery.body)
    odd = or_(non_ascii, *[Delivery.body.contains(ch, autoescape=True) for ch in _NOT_PLAIN])
    rows = session.execute(
        select(Delivery.id, Delivery.body, Delivery.segments).where(
            Delivery.broadcast_id == broadcast_id, odd
        )
    ).all()
    fixes = [
        {"b_id": i, "b_segments": max(count_segments(b).segments, 1)}
        for i, b, s in rows
        if max(count_segments(b).segments, 1) != s
    ]
    if fixes:
        table = Delivery.__table__
        session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(segments=bindparam("b_segments")),
            fixes,
        )
