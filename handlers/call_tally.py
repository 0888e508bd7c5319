"""Counting a call to action: sent, delivered, YES, NO and DONE, overall, by district in each
chamber (state house, state senate, US House) and by chapter, live from the outbox and the
answers; and who did what, for the CSV export.

Each count is one GROUP BY over the broadcast's rows (deliveries, cta_responses, call_reports)
joined to the recipient's district in one chamber (`volunteer_districts`) or their chapter; and
the patch-through calls asked for in answer to it (`patch_calls`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from handlers.broadcasts import UnknownBroadcastId
from handlers.districts import district_label
from handlers.phones import display
from storage.calls import PatchCall
from storage.chapters import Chapter, VolunteerChapter
from storage.districts import VolunteerDistrict
from storage.legislators import CallReport
from storage.models import Broadcast, CtaResponse, Delivery, DeliveryStatus, Volunteer
from storage.outbox import WENT

UNKNOWN = "(not known)"
CSV_COLUMNS = (
    "first_name",
    "phone",
    "zip",
    "district",
    "state_senate_district",
    "congressional_district",
    "chapter",
    "status",
    "answer",
    "done",
)
# The report's groupings by district, one per chamber, in the order they are shown.
CHAMBERS = (
    ("sldl", "By state house district"),
    ("sldu", "By state senate district"),
    ("cd", "By US House district"),
)


@dataclass
class Counts:
    sent: int = 0
    delivered: int = 0
    yes: int = 0
    no: int = 0
    done: int = 0

    def line(self) -> str:
        return (
            f"sent {self.sent:,}, delivered {self.delivered:,}, YES {self.yes:,}, "
            f"NO {self.no:,}, DONE {self.done:,}"
        )


@dataclass(frozen=True)
class PatchThrough:
    """The patch-through calls volunteers asked for in answer to this call to action."""

    asked: int = 0
    connected: int = 0
    talk_seconds: int = 0  # with the offices, over the connected calls

    def line(self) -> str:
        minutes, seconds = divmod(self.talk_seconds, 60)
        return (
            f"Patch-through calls: {self.asked:,} asked for, {self.connected:,} connected "
            f"({minutes}m {seconds:02d}s with offices)"
        )


@dataclass
class CallTally:
    broadcast_id: int
    body: str
    total: Counts = field(default_factory=Counts)
    # title ("By state house district", ..., "By chapter") -> group label -> its counts
    groups: dict[str, dict[str, Counts]] = field(default_factory=dict)
    calls: PatchThrough = field(default_factory=PatchThrough)

    def text(self) -> str:
        lines = [f"Broadcast #{self.broadcast_id}: {self.total.line()}", f"> {self.body[:200]}"]
        if self.calls.asked:
            lines.append(self.calls.line())
        for title, groups in self.groups.items():
            if groups and set(groups) != {UNKNOWN}:
                lines.append(f"{title}:")
                lines += [f"  {name}: {c.line()}" for name, c in sorted(groups.items())]
        return "\n".join(lines)


def _in_chamber(chamber: str):
    return aliased(VolunteerDistrict, name=f"vd_{chamber}")


def call_tally(session: Session, broadcast_id: int) -> CallTally:
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None:
        raise UnknownBroadcastId(broadcast_id)
    tally = CallTally(broadcast_id, broadcast.body)
    tally.total = call_totals(session, broadcast_id)
    tally.calls = patch_through(session, broadcast_id)
    for chamber, title in CHAMBERS:
        vd = _in_chamber(chamber)
        on = and_(vd.volunteer_id == Volunteer.id, vd.chamber == chamber)
        groups = tally.groups.setdefault(title, {})
        for row_key, what, n in _counts(session, broadcast_id, vd, on, vd.district):
            label = district_label(row_key) if row_key else UNKNOWN
            _add(groups.setdefault(label, Counts()), what, n)
    names = dict(session.execute(select(Chapter.id, Chapter.name)).all())
    on = VolunteerChapter.volunteer_id == Volunteer.id
    groups = tally.groups.setdefault("By chapter", {})
    for row_key, what, n in _counts(
        session, broadcast_id, VolunteerChapter, on, VolunteerChapter.chapter_id
    ):
        _add(
            groups.setdefault(names.get(row_key, UNKNOWN) if row_key else UNKNOWN, Counts()),
            what,
            n,
        )
    return tally


def call_totals(session: Session, broadcast_id: int) -> Counts:
    """The broadcast's counts over all its recipients (the App Home's last call to action)."""
    total = Counts()
    for _, what, n in _counts(session, broadcast_id, None, None, None):
        _add(total, what, n)
    return total


def patch_through(session: Session, broadcast_id: int) -> PatchThrough:
    asked, connected, talk = session.execute(
        select(
            func.count(),
            func.count().filter(PatchCall.connected),
            func.coalesce(func.sum(PatchCall.dial_seconds).filter(PatchCall.connected), 0),
        ).where(PatchCall.broadcast_id == broadcast_id, PatchCall.choice.is_not(None))
    ).one()
    return PatchThrough(asked, connected, int(talk))


def _add(c: Counts, what: str, n: int) -> None:
    setattr(c, what, getattr(c, what) + n)


def _counts(session: Session, broadcast_id: int, target, on, key) -> Iterator[tuple]:
    """(group key, sent|delivered|yes|no|done, count) rows; with no `target`, one row each
    over all recipients (key None)."""

    def grouped(stmt, volunteer_id, *extra):
        stmt = stmt.join(Volunteer, Volunteer.id == volunteer_id)
        if target is None:
            return stmt.group_by(*extra) if extra else stmt
        return stmt.outerjoin(target, on).group_by(key, *extra)

    first = () if target is None else (key,)
    went = [s.value for s in WENT]
    for status, column in (("sent", went), ("delivered", [DeliveryStatus.DELIVERED.value])):
        stmt = (
            select(*first, func.count())
            .select_from(Delivery)
            .where(Delivery.broadcast_id == broadcast_id, Delivery.status.in_(column))
        )
        for *k, n in session.execute(grouped(stmt, Delivery.volunteer_id)):
            yield (k[0] if k else None), status, n
    answers = (
        select(*first, CtaResponse.answer, func.count())
        .select_from(CtaResponse)
        .where(CtaResponse.broadcast_id == broadcast_id, CtaResponse.answer.in_(("yes", "no")))
    )
    for *k, answer, n in session.execute(
        grouped(answers, CtaResponse.volunteer_id, CtaResponse.answer)
    ):
        yield (k[0] if k else None), answer, n
    done = (
        select(*first, func.count())
        .select_from(CallReport)
        .where(CallReport.broadcast_id == broadcast_id)
    )
    for *k, n in session.execute(grouped(done, CallReport.volunteer_id)):
        yield (k[0] if k else None), "done", n


def who_did_what(session: Session, broadcast_id: int) -> Iterator[dict[str, str]]:
    """One CSV row per recipient: their delivery's status, their answer, whether they called."""
    if session.get(Broadcast, broadcast_id) is None:
        raise UnknownBroadcastId(broadcast_id)
    house, senate, us_house = (_in_chamber(c) for c, _ in CHAMBERS)
    stmt = (
        select(
            Volunteer.first_name,
            Delivery.to_phone,
            Volunteer.zip,
            house.district,
            senate.district,
            us_house.district,
            Chapter.name,
            Delivery.status,
            CtaResponse.answer,
            CallReport.reported_at,
        )
        .select_from(Delivery)
        .join(Volunteer, Volunteer.id == Delivery.volunteer_id)
        .outerjoin(house, and_(house.volunteer_id == Volunteer.id, house.chamber == "sldl"))
        .outerjoin(senate, and_(senate.volunteer_id == Volunteer.id, senate.chamber == "sldu"))
        .outerjoin(us_house, and_(us_house.volunteer_id == Volunteer.id, us_house.chamber == "cd"))
        .outerjoin(VolunteerChapter, VolunteerChapter.volunteer_id == Volunteer.id)
        .outerjoin(Chapter, Chapter.id == VolunteerChapter.chapter_id)
        .outerjoin(
            CtaResponse,
            and_(
                CtaResponse.broadcast_id == broadcast_id, CtaResponse.volunteer_id == Volunteer.id
            ),
        )
        .outerjoin(
            CallReport,
            and_(CallReport.broadcast_id == broadcast_id, CallReport.volunteer_id == Volunteer.id),
        )
        .where(Delivery.broadcast_id == broadcast_id)
        .order_by(Delivery.id)
    )
    for row in session.execute(stmt):
        name, phone, zip5, district, senate_district, cd, chapter, status, answer, done_at = row
        yield {
            "first_name": name or "",
            "phone": display(phone),
            "zip": zip5 or "",
            "district": district or "",
            "state_senate_district": senate_district or "",
            "congressional_district": cd or "",
            "chapter": chapter or "",
            "status": str(status),
            "answer": answer or "",
            "done": done_at.isoformat() if done_at else "",
        }
