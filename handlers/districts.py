"""A volunteer's districts: reading them, setting them from their sources, and saying them.

Other rooms call `districts_of(session, volunteer_id)` (chamber -> short id; several
volunteers' at once with `districts_of_many`) and
`district_label(id)`; the names and the validation are in `handlers.district_names`. Sources, in
order of trust: an import's district columns (`import`), a street address through the geocoder
(`address`), the ZIP crosswalk (`zip_crosswalk`). A less trusted source never replaces a more
trusted one: a ZIP's guess does not overwrite what an address lookup found.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from handlers.district_names import (
    CHAMBER_WORDS,
    CHAMBERS,
    District,
    UnknownDistrict,
    districts_in,
    lookup,
    parse_district,
)
from storage.districts import (
    DistrictSource,
    clear_districts,
    districts_of_many,
    districts_rows,
    set_district,
)

__all__ = [
    "CHAMBERS",
    "District",
    "UnknownDistrict",
    "district_label",
    "districts_of",
    "districts_of_many",
    "parse_district",
]

TRUST = {DistrictSource.IMPORT: 3, DistrictSource.ADDRESS: 2, DistrictSource.ZIP_CROSSWALK: 1}
# Import columns -> chambers.
COLUMNS = {
    "congressional_district": "cd",
    "state_senate_district": "sldu",
    "state_house_district": "sldl",
}


@dataclass(frozen=True, slots=True)
class KnownDistrict:
    chamber: str
    district: str  # short id
    source: str
    vintage: str | None
    set_at: datetime

    @property
    def label(self) -> str:
        return district_label(self.district)


def districts_of(session: Session, volunteer_id: int) -> dict[str, str]:
    """The volunteer's districts as far as known: chamber (cd, sldu, sldl) -> short OCD id."""
    return districts_of_many(session, (volunteer_id,))[volunteer_id]


def known_districts(session: Session, volunteer_id: int) -> list[KnownDistrict]:
    """With where each came from and when, in chamber order (cd, sldu, sldl)."""
    rows = {r.chamber: r for r in districts_rows(session, volunteer_id)}
    return [
        KnownDistrict(c, rows[c].district, str(rows[c].source), rows[c].vintage, rows[c].set_at)
        for c in CHAMBERS
        if c in rows
    ]


def district_label(district_id: str) -> str:
    """`MA House 10th Bristol` for `ma/sldl:10th_bristol`; the id itself if no longer listed."""
    found = lookup(district_id)
    return found.label if found else district_id


def put_districts(
    session: Session,
    volunteer_id: int,
    districts: dict[str, str],
    *,
    source: DistrictSource,
    vintage: str | None,
    now: datetime,
    replace: bool = False,
) -> dict[str, str]:
    """Sets the given districts (chamber -> short id) unless a more trusted source set that
    chamber already; with `replace`, a source's own older rows for other chambers go (an address
    lookup that found no state house district clears the one an older address gave).
    Returns what was set."""
    current = {r.chamber: r for r in districts_rows(session, volunteer_id)}
    done: dict[str, str] = {}
    for chamber, district in districts.items():
        row = current.get(chamber)
        if row is not None and TRUST[DistrictSource(row.source)] > TRUST[source]:
            continue
        set_district(
            session,
            volunteer_id=volunteer_id,
            chamber=chamber,
            district=district,
            source=source,
            vintage=vintage,
            now=now,
        )
        done[chamber] = district
    if replace:
        for chamber, row in current.items():
            if chamber not in districts and DistrictSource(row.source) == source:
                session.delete(row)
        session.flush()
    return done


def forget_districts(session: Session, volunteer_id: int) -> None:
    clear_districts(session, volunteer_id)


def describe_districts(known: list[KnownDistrict]) -> str:
    """One line per chamber for a text: `US House MA-4; MA House 10th Bristol (from your ZIP)`."""
    parts = []
    for k in known:
        note = " (from your ZIP, may be wrong)" if k.source == DistrictSource.ZIP_CROSSWALK else ""
        parts.append(f"{k.label}{note}")
    return "; ".join(parts)


def missing_chambers(known: dict[str, str], state: str | None) -> list[str]:
    """The chambers a volunteer in `state` has and we do not know yet (Nebraska and DC: no
    state house)."""
    if not state:
        return [c for c in CHAMBERS if c not in known]
    return [c for c in CHAMBERS if c not in known and districts_in(state, c)]


def chamber_word(chamber: str) -> str:
    return CHAMBER_WORDS[chamber]
