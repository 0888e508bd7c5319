"""Counting a call to action: sent, delivered, YES, NO and DONE, overall, by state house district
and by chapter, live from the outbox and the answers; and who did what, for the CSV export.

Each count is one GROUP BY over the broadcast's rows (deliveries, cta_responses, call_reports)
joined to the recipient's district (`volunteer_districts`, chamber `sldl`) or chapter.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from handlers.broadcasts import UnknownBroadcastId
from handlers.districts import district_label
from handlers.phones import display
from storage.chapters import Chapter, VolunteerChapter
from storage.districts import VolunteerDistrict
from storage.legislators import CallReport
from storage.models import Broadcast, CtaResponse, Delivery, DeliveryStatus, Volunteer
from storage.outbox import WENT

UNKNOWN = "(not known)"
CSV_COLUMNS = ("first_name", "phone", "zip", "district", "chapter", "status", "answer", "done")


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


@dataclass
class CallTally:
    broadcast_id: int
    body: str
    total: Counts = field(default_factory=Counts)
    by_district: dict[str, Counts] = field(default_factory=dict)
    by_chapter: dict[str, Counts] = field(default_factory=dict)

    def text(self) -> str:
        lines = [f"Broadcast #{self.broadcast_id}: {self.total.line()}", f"> {self.body[:200]}"]
        for title, groups in (("By district", self.by_district), ("By chapter", self.by_chapter)):
            if groups and set(groups) != {UNKNOWN}:
                lines.append(f"{title}:")
                lines += [f"  {name}: {c.line()}" for name, c in sorted(groups.items())]
        return "\n".join(lines)


def _house():
    return aliased(VolunteerDistrict, name="vd_house")


def call_tally(session: Session, broadcast_id: int) -> CallTally:
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None:
        raise UnknownBroadcastId(broadcast_id)
    tally = CallTally(broadcast_id, broadcast.body)
    vd = _house()
    by_district = (vd, and_(vd.volunteer_id == Volunteer.id, vd.chamber == "sldl"), vd.district)
    by_chapter = (
        VolunteerChapter,
        VolunteerChapter.volunteer_id == Volunteer.id,
        VolunteerChapter.chapter_id,
    )
    names = dict(session.execute(select(Chapter.id, Chapter.name)).all())
    for groups, (target, on, key) in ((tally.by_district, by_district),
                                      (tally.by_chapter, by_chapter)):  # fmt: skip
        for row_key, what, n in _counts(session, broadcast_id, target, on, key):
            if groups is tally.by_district:
                label = district_label(row_key) if row_key else UNKNOWN
            else:
                label = names.get(row_key, UNKNOWN) if row_key else UNKNOWN
            _add(groups.setdefault(label, Counts()), what, n)
            if groups is tally.by_district:
                _add(tally.total, what, n)
    return tally


def _add(c: Counts, what: str, n: int) -> None:
    setattr(c, what, getattr(c, what) + n)


def _counts(session: Session, broadcast_id: int, target, on, key) -> Iterator[tuple]:
    """(group key, sent|delivered|yes|no|done, count) rows."""
    went = [s.value for s in WENT]
    for status, column in (("sent", went), ("delivered", [DeliveryStatus.DELIVERED.value])):
        stmt = (
            select(key, func.count())
            .select_from(Delivery)
            .join(Volunteer, Volunteer.id == Delivery.volunteer_id)
            .outerjoin(target, on)
            .where(Delivery.broadcast_id == broadcast_id, Delivery.status.in_(column))
            .group_by(key)
        )
        for k, n in session.execute(stmt):
            yield k, status, n
    answers = (
        select(key, CtaResponse.answer, func.count())
        .select_from(CtaResponse)
        .join(Volunteer, Volunteer.id == CtaResponse.volunteer_id)
        .outerjoin(target, on)
        .where(CtaResponse.broadcast_id == broadcast_id, CtaResponse.answer.in_(("yes", "no")))
        .group_by(key, CtaResponse.answer)
    )
    for k, answer, n in session.execute(answers):
        yield k, answer, n
    done = (
        select(key, func.count())
        .select_from(CallReport)
        .join(Volunteer, Volunteer.id == CallReport.volunteer_id)
        .outerjoin(target, on)
        .where(CallReport.broadcast_id == broadcast_id)
        .group_by(key)
    )
    for k, n in session.execute(done):
        yield k, "done", n


def who_did_what(session: Session, broadcast_id: int) -> Iterator[dict[str, str]]:
    """One CSV row per recipient: their delivery's status, their answer, whether they called."""
    if session.get(Broadcast, broadcast_id) is None:
        raise UnknownBroadcastId(broadcast_id)
    vd = _house()
    stmt = (
        select(
            Volunteer.first_name,
            Delivery.to_phone,
            Volunteer.zip,
            vd.district,
            Chapter.name,
            Delivery.status,
            CtaResponse.answer,
            CallReport.reported_at,
        )
        .select_from(Delivery)
        .join(Volunteer, Volunteer.id == Delivery.volunteer_id)
        .outerjoin(vd, and_(vd.volunteer_id == Volunteer.id, vd.chamber == "sldl"))
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
    for name, phone, zip5, district, chapter, status, answer, done_at in session.execute(stmt):
        yield {
            "first_name": name or "",
            "phone": display(phone),
            "zip": zip5 or "",
            "district": district or "",
            "chapter": chapter or "",
            "status": str(status),
            "answer": answer or "",
            "done": done_at.isoformat() if done_at else "",
        }
