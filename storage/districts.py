"""Districts: where each volunteer lives, the districts organizers target, the ZIP crosswalk, and
the queue of street addresses waiting for the geocoder.

A district is stored as its short Open Civic Data id (`ma/sldl:10th_bristol`, `ma/cd:4`); the
names and the validation are in `handlers.districts`. Each volunteer has at most one district per
chamber (`cd`, `sldu`, `sldl`), with where it came from (`import`, `address`, `zip_crosswalk`),
the data's vintage (`census:Current_Current`, `zcta-cd118`) and when it was set, so a guessed or
stale district is visibly so.

`zip_districts` is the ZIP-to-district crosswalk: one row per ZIP and district, with the share of
the ZIP inside it when the source says. A ZIP with one district in a chamber gives it; a ZIP split
between several gives none for sure.

`address_lookups` is the geocoder's outbox: one row per street address to look up, written in the
transaction that took the address, claimed and retried by the clock, so a text is answered at once
whatever the geocoder does and nothing is lost when it is down.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import (
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    bindparam,
    delete,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage.models import Base, StrEnum, enum_column, utcnow

CHAMBERS = ("cd", "sldu", "sldl")


class DistrictSource(StrEnum):
    IMPORT = "import"
    ADDRESS = "address"
    ZIP_CROSSWALK = "zip_crosswalk"


class VolunteerDistrict(Base):
    __tablename__ = "volunteer_districts"
    __table_args__ = (Index("ix_volunteer_districts_district", "district", "volunteer_id"),)

    volunteer_id: Mapped[int] = mapped_column(
        ForeignKey("volunteers.id", ondelete="CASCADE"), primary_key=True
    )
    chamber: Mapped[str] = mapped_column(String(4), primary_key=True)  # cd, sldu, sldl
    district: Mapped[str] = mapped_column(String(120))  # short OCD id
    source: Mapped[DistrictSource] = mapped_column(enum_column(DistrictSource))
    vintage: Mapped[str | None] = mapped_column(String(60))
    set_at: Mapped[datetime] = mapped_column(default=utcnow)


class TargetDistrict(Base):
    __tablename__ = "target_districts"

    district: Mapped[str] = mapped_column(String(120), primary_key=True)
    goal: Mapped[int | None] = mapped_column(Integer)
    set_by: Mapped[str | None] = mapped_column(String(80))
    reason: Mapped[str | None] = mapped_column(Text)
    set_at: Mapped[datetime] = mapped_column(default=utcnow)


class ZipDistrict(Base):
    __tablename__ = "zip_districts"

    zip: Mapped[str] = mapped_column(String(5), primary_key=True)
    district: Mapped[str] = mapped_column(String(120), primary_key=True)
    chamber: Mapped[str] = mapped_column(String(4))
    share: Mapped[float | None] = mapped_column(Float)  # of the ZIP inside the district, 0-1
    vintage: Mapped[str | None] = mapped_column(String(60))


class LookupStatus(StrEnum):
    PENDING = "pending"  # due at next_attempt_at
    DONE = "done"  # districts set (or the geocoder found the address outside every district)
    NO_MATCH = "no_match"  # the geocoder did not know the address; kept, the volunteer told
    CANCELLED = "cancelled"  # a newer address replaced it, or the volunteer was forgotten


class AddressLookup(Base):
    __tablename__ = "address_lookups"
    __table_args__ = (Index("ix_address_lookups_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    volunteer_id: Mapped[int | None] = mapped_column(
        ForeignKey("volunteers.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[LookupStatus] = mapped_column(
        enum_column(LookupStatus), default=LookupStatus.PENDING
    )
    # Whether the volunteer is texted the result (an ADDRESS text: yes; an import: no).
    notify: Mapped[bool] = mapped_column(default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]


# --- volunteers' districts --------------------------------------------------------------------


def districts_rows(session: Session, volunteer_id: int) -> list[VolunteerDistrict]:
    return list(
        session.scalars(
            select(VolunteerDistrict).where(VolunteerDistrict.volunteer_id == volunteer_id)
        )
    )


_DISTRICTS_OF_MANY = select(
    VolunteerDistrict.volunteer_id, VolunteerDistrict.chamber, VolunteerDistrict.district
).where(VolunteerDistrict.volunteer_id.in_(bindparam("ids", expanding=True)))


def districts_of_many(
    session: Session, volunteer_ids: Collection[int]
) -> dict[int, dict[str, str]]:
    """Several volunteers' districts in one query: id -> chamber -> short id (every id given is
    a key, with {} when none is known)."""
    found: dict[int, dict[str, str]] = {vid: {} for vid in volunteer_ids}
    if found:
        for row in session.execute(_DISTRICTS_OF_MANY, {"ids": sorted(found)}):
            found[row.volunteer_id][row.chamber] = row.district
    return found


def set_district(
    session: Session,
    *,
    volunteer_id: int,
    chamber: str,
    district: str,
    source: DistrictSource,
    vintage: str | None,
    now: datetime,
) -> None:
    """Sets (or replaces) the volunteer's district in that chamber."""
    row = session.get(VolunteerDistrict, (volunteer_id, chamber))
    if row is None:
        session.add(
            VolunteerDistrict(
                volunteer_id=volunteer_id,
                chamber=chamber,
                district=district,
                source=source,
                vintage=vintage,
                set_at=now,
            )
        )
    else:
        row.district, row.source, row.vintage, row.set_at = district, source, vintage, now


def clear_districts(
    session: Session, volunteer_id: int, *, sources: Iterable[DistrictSource] | None = None
) -> int:
    stmt = delete(VolunteerDistrict).where(VolunteerDistrict.volunteer_id == volunteer_id)
    if sources is not None:
        stmt = stmt.where(VolunteerDistrict.source.in_([s.value for s in sources]))
    result = session.execute(stmt.execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def counts_by_district(session: Session, districts: Sequence[str]) -> dict[str, int]:
    if not districts:
        return {}
    rows = session.execute(
        select(VolunteerDistrict.district, func.count())
        .where(VolunteerDistrict.district.in_(list(districts)))
        .group_by(VolunteerDistrict.district)
    )
    return {d: int(n) for d, n in rows}


# --- targets ------------------------------------------------------------------------------------


def target_rows(session: Session) -> list[TargetDistrict]:
    return list(session.scalars(select(TargetDistrict).order_by(TargetDistrict.district)))


def put_target(
    session: Session,
    *,
    district: str,
    goal: int | None,
    set_by: str | None,
    reason: str | None,
    now: datetime,
) -> TargetDistrict:
    row = session.get(TargetDistrict, district)
    if row is None:
        row = TargetDistrict(district=district)
        session.add(row)
    row.goal, row.set_by, row.reason, row.set_at = goal, set_by, reason, now
    session.flush()
    return row


def drop_target(session: Session, district: str) -> bool:
    row = session.get(TargetDistrict, district)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


# --- the crosswalk ------------------------------------------------------------------------------


def zip_rows(session: Session, zip_code: str) -> list[ZipDistrict]:
    return list(
        session.scalars(
            select(ZipDistrict)
            .where(ZipDistrict.zip == zip_code)
            .order_by(ZipDistrict.chamber, ZipDistrict.share.desc(), ZipDistrict.district)
        )
    )


def crosswalk_size(session: Session, *, vintage: str | None = None) -> int:
    stmt = select(func.count()).select_from(ZipDistrict)
    if vintage is not None:
        stmt = stmt.where(ZipDistrict.vintage == vintage)
    return int(session.scalar(stmt) or 0)


def upsert_zip_rows(session: Session, rows: Sequence[dict[str, object]]) -> int:
    """Insert or replace crosswalk rows (zip, district, chamber, share, vintage), in batches."""
    table = ZipDistrict.__table__
    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    done = 0
    for start in range(0, len(rows), 2000):
        chunk = list(rows[start : start + 2000])
        stmt = module.insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=["zip", "district"],
            set_={
                "chamber": stmt.excluded.chamber,
                "share": stmt.excluded.share,
                "vintage": stmt.excluded.vintage,
            },
        )
        session.execute(stmt, chunk)
        done += len(chunk)
    return done


def delete_zip_rows(session: Session, *, zips: Iterable[str], chamber: str) -> None:
    """Before a load replaces a chamber's rows for these ZIPs (a district that left a ZIP)."""
    zips = list(zips)
    for start in range(0, len(zips), 900):
        session.execute(
            delete(ZipDistrict)
            .where(ZipDistrict.zip.in_(zips[start : start + 900]), ZipDistrict.chamber == chamber)
            .execution_options(synchronize_session=False)
        )


# --- address lookups ----------------------------------------------------------------------------


def enqueue_lookup(
    session: Session, *, volunteer_id: int, notify: bool, now: datetime
) -> AddressLookup:
    """One pending lookup for this volunteer: an older one still pending is replaced."""
    for old in session.scalars(
        select(AddressLookup).where(
            AddressLookup.volunteer_id == volunteer_id,
            AddressLookup.status == LookupStatus.PENDING,
        )
    ):
        old.status, old.done_at = LookupStatus.CANCELLED, now
    row = AddressLookup(volunteer_id=volunteer_id, notify=notify, next_attempt_at=now)
    row.status, row.attempts, row.created_at = LookupStatus.PENDING, 0, now
    session.add(row)
    session.flush()
    return row


def claim_due_lookups(session: Session, *, now: datetime, limit: int) -> list[AddressLookup]:
    """Due lookups, oldest first, locked (SKIP LOCKED on PostgreSQL) until the caller commits."""
    stmt = (
        select(AddressLookup)
        .where(AddressLookup.status == LookupStatus.PENDING, AddressLookup.next_attempt_at <= now)
        .order_by(AddressLookup.next_attempt_at, AddressLookup.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(stmt))


def lookup_backoff(attempts: int) -> timedelta:
    """1, 2, 4 ... minutes between tries, at most six hours."""
    return timedelta(seconds=min(60 * 2 ** max(attempts - 1, 0), 6 * 3600))


def cancel_lookups(session: Session, volunteer_id: int, *, now: datetime) -> None:
    for row in session.scalars(
        select(AddressLookup).where(
            AddressLookup.volunteer_id == volunteer_id,
            AddressLookup.status == LookupStatus.PENDING,
        )
    ):
        row.status, row.done_at = LookupStatus.CANCELLED, now
