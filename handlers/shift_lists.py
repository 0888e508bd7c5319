"""The upcoming shifts with a free seat, as the SHIFTS keyword lists them: soonest first, or
nearest first when the volunteer's ZIP is known, and those working for the volunteer's own
districts apart. Read in one query each, without loading whole `Shift` objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from handlers import geo
from storage.models import Shift

# How many upcoming shifts `list_open_shifts` considers before sorting by distance.
CANDIDATES = 200


@dataclass(frozen=True, slots=True)
class OpenShift:
    """An upcoming shift with a free seat, as a volunteer's list shows it (read in one query,
    without loading whole `Shift` objects: SHIFTS is the keyword volunteers text most)."""

    id: int
    title: str
    starts_at: datetime
    zip: str | None
    spots_left: int
    timezone: str | None = None  # the zone it was entered in (named when not the volunteer's)


_OPEN_SHIFTS = (
    select(
        Shift.id,
        Shift.title,
        Shift.starts_at,
        Shift.zip,
        (Shift.capacity - Shift.committed_count).label("spots_left"),
        Shift.timezone,
    )
    .where(
        Shift.starts_at > bindparam("now", type_=Shift.starts_at.type),
        Shift.cancelled_at.is_(None),
        Shift.committed_count < Shift.capacity,
    )
    .order_by(Shift.starts_at, Shift.id)
    .limit(CANDIDATES)
)


def open_shifts(session: Session, *, now: datetime) -> list[OpenShift]:
    """The next upcoming shifts with a free seat (at most `CANDIDATES`), soonest first: the
    ones `nearest_first` chooses from."""
    return [OpenShift(*row) for row in session.execute(_OPEN_SHIFTS, {"now": now})]


def open_shifts_in_districts(
    session: Session, *, now: datetime, districts: Sequence[str], limit: int = 5
) -> list[OpenShift]:
    """Upcoming shifts with a free seat that work for one of these districts, soonest first
    (SHIFTS lists a volunteer's own districts' shifts before the nearest ones)."""
    if not districts:
        return []
    stmt = _OPEN_SHIFTS.where(Shift.district.in_(list(districts))).limit(None).limit(limit)
    return [OpenShift(*row) for row in session.execute(stmt, {"now": now})]


def nearest_first(
    rows: Sequence[OpenShift], *, now: datetime, near_zip: str | None = None, limit: int = 5
) -> list[OpenShift]:
    """Of `open_shifts`, those still ahead at `now`: nearest first when `near_zip` is a known
    ZIP (shifts without a ZIP after those with one), soonest first otherwise and between
    equals."""
    ahead = [r for r in rows if r.starts_at > now]
    home = geo.zip_info(near_zip) if near_zip else None
    if home is not None:
        # Whole miles, so that shifts in the same neighbourhood stay in time order.
        miles = {z: geo.miles_between(home, z) if z else None for z in {r.zip for r in ahead}}
        far = float("inf")
        ahead.sort(
            key=lambda r: (
                far if miles[r.zip] is None else float(round(miles[r.zip])),
                r.starts_at,
                r.id,
            )
        )
    return ahead[:limit]


def list_open_shifts(
    session: Session, *, now: datetime, near_zip: str | None = None, limit: int = 5
) -> list[OpenShift]:
    """Upcoming shifts with a free seat, as `nearest_first` orders them."""
    return nearest_first(open_shifts(session, now=now), now=now, near_zip=near_zip, limit=limit)
