"""Legislators: who sits for each district (state house, state senate, US House), with their
office numbers, as loaded from Open States' people CSV or fetched from its API.

A district is its short Open Civic Data id (`ma/sldl:10th_bristol`, `ma/cd:4`), as in
`storage.districts`; a multi-member district (New Hampshire's) has a row per member. Phones are
E.164. `source` says where a row came from (`openstates-csv:ma.csv`, `openstates-api`) and
`loaded_at` when, so stale data is visibly so. A load replaces the rows of the districts it covers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage.models import Base, utcnow


class Legislator(Base):
    __tablename__ = "legislators"
    __table_args__ = (
        UniqueConstraint("district", "name"),
        Index("ix_legislators_chamber_district", "chamber", "district"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    district: Mapped[str] = mapped_column(String(120))  # short OCD id
    chamber: Mapped[str] = mapped_column(String(4))  # cd, sldu, sldl
    name: Mapped[str] = mapped_column(String(200))
    party: Mapped[str | None] = mapped_column(String(60))
    capitol_phone: Mapped[str | None] = mapped_column(String(20))  # E.164
    district_phone: Mapped[str | None] = mapped_column(String(20))  # E.164
    email: Mapped[str | None] = mapped_column(String(254))
    source: Mapped[str] = mapped_column(String(120))
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class CallReport(Base):
    """A volunteer's DONE: "I called" for one call to action (counted once)."""

    __tablename__ = "call_reports"
    __table_args__ = (UniqueConstraint("broadcast_id", "volunteer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(
        ForeignKey("broadcasts.id", ondelete="CASCADE"), index=True
    )
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="CASCADE"))
    reported_at: Mapped[datetime] = mapped_column(default=utcnow)


def legislators_in(session: Session, districts: Iterable[str]) -> list[Legislator]:
    wanted = sorted(set(districts))
    if not wanted:
        return []
    return list(
        session.scalars(
            select(Legislator)
            .where(Legislator.district.in_(wanted))
            .order_by(Legislator.district, Legislator.name)
        )
    )


def all_legislators(session: Session) -> list[Legislator]:
    return list(session.scalars(select(Legislator).order_by(Legislator.district, Legislator.name)))


def replace_legislators(
    session: Session, rows: Sequence[dict[str, object]], *, now: datetime
) -> int:
    """The rows (district, chamber, name, party, capitol_phone, district_phone, email, source)
    replace whatever was stored for their districts."""
    districts = sorted({str(r["district"]) for r in rows})
    for start in range(0, len(districts), 900):
        session.execute(
            delete(Legislator)
            .where(Legislator.district.in_(districts[start : start + 900]))
            .execution_options(synchronize_session=False)
        )
    seen: set[tuple[str, str]] = set()
    fresh = []
    for r in rows:
        key = (str(r["district"]), str(r["name"]))
        if key in seen:
            continue
        seen.add(key)
        fresh.append({**r, "loaded_at": now})
    if fresh:
        session.execute(Legislator.__table__.insert(), fresh)
    return len(fresh)


def record_call(session: Session, *, broadcast_id: int, volunteer_id: int, now: datetime) -> bool:
    """A DONE for this call to action; False when it was reported already."""
    found = session.scalar(
        select(CallReport.id).where(
            CallReport.broadcast_id == broadcast_id, CallReport.volunteer_id == volunteer_id
        )
    )
    if found is not None:
        return False
    session.add(CallReport(broadcast_id=broadcast_id, volunteer_id=volunteer_id, reported_at=now))
    session.flush()
    return True
