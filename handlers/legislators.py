"""The legislators directory: who sits for a district, and their office numbers.

`LegislatorDirectory` is the port: `legislators_of(districts)` answers the current members for
short OCD ids (`ma/sldl:10th_bristol`, `ma/sldu:1st_bristol_and_plymouth`, `ma/cd:4`). Two
implementations: `StoredLegislators` (the `legislators` table, what texts and broadcasts read, so
rendering 100,000 messages never waits on a peer) and the Open States API v3 adapter
(`bot.openstates_api.OpenStatesDirectory`, with `OPENSTATES_API_KEY`), whose answers
`refresh_legislators` stores.

`read_people_csv` reads Open States' people CSV (one file per state: `name`, `current_party`,
`current_district`, `current_chamber` `upper`/`lower`/`legislature`, `capitol_voice`,
`district_voice`, `email`); the state comes from a `state` column, a `jurisdiction` column (the
OCD jurisdiction id or the state's name) or the file's name (`ma.csv`). A file for the US (`us.csv`
or jurisdiction `us`) holds US representatives: `current_district` `MA-4` (or `4` with a `state`).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Protocol

import openstates_metadata
from sqlalchemy.orm import Session

from handlers.district_names import UnknownDistrict, parse_district
from handlers.errors import MusterError
from handlers.phones import to_e164
from storage.legislators import (
    Legislator,
    all_legislators,
    legislators_in,
    replace_legislators,
)

REQUIRED = ("name", "current_district", "current_chamber")
STATE_CHAMBERS = {"upper": "sldu", "lower": "sldl", "legislature": "sldu"}
# What a volunteer is told to call, in this order (CALL, DISTRICTS).
CALL_ORDER = ("sldl", "sldu", "cd")
TITLES = {"sldl": "State Rep.", "sldu": "State Sen.", "cd": "US Rep."}


class BadPeopleFile(MusterError):
    pass


@dataclass(frozen=True, slots=True)
class LegislatorInfo:
    district: str  # short OCD id
    chamber: str  # cd, sldu, sldl
    name: str
    party: str | None = None
    capitol_phone: str | None = None  # E.164
    district_phone: str | None = None
    email: str | None = None
    source: str = ""

    @property
    def phone(self) -> str | None:
        """The number to call: the capitol office's, else the district office's."""
        return self.capitol_phone or self.district_phone

    def row(self) -> dict[str, object]:
        return {
            "district": self.district,
            "chamber": self.chamber,
            "name": self.name,
            "party": self.party,
            "capitol_phone": self.capitol_phone,
            "district_phone": self.district_phone,
            "email": self.email,
            "source": self.source,
        }


class LegislatorDirectory(Protocol):
    def legislators_of(self, districts: Sequence[str]) -> list[LegislatorInfo]:
        """The current members for these districts (any order; none for an unknown one)."""
        ...


class StoredLegislators:
    """The directory as loaded into the database (CSV loads and API refreshes)."""

    def __init__(self, session: Session):
        self.session = session

    def legislators_of(self, districts: Sequence[str]) -> list[LegislatorInfo]:
        return [_info(r) for r in legislators_in(self.session, districts)]

    def all(self) -> list[LegislatorInfo]:
        return [_info(r) for r in all_legislators(self.session)]


def _info(r: Legislator) -> LegislatorInfo:
    return LegislatorInfo(
        r.district, r.chamber, r.name, r.party, r.capitol_phone, r.district_phone, r.email,
        r.source,
    )  # fmt: skip


def by_district(found: Iterable[LegislatorInfo]) -> dict[str, LegislatorInfo]:
    """One member per district (a multi-member district: the first by name)."""
    chosen: dict[str, LegislatorInfo] = {}
    for person in sorted(found, key=lambda p: (p.district, p.name)):
        chosen.setdefault(person.district, person)
    return chosen


# --- loading ------------------------------------------------------------------------------------


@dataclass
class PeopleLoad:
    rows: int = 0
    loaded: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)

    def summary(self) -> str:
        lines = [f"{self.rows} rows read, {self.loaded} legislators loaded"]
        lines.append(f"  {len(self.rejected)} rejected")
        lines += [f"    line {n}: {why}" for n, why in self.rejected[:20]]
        if len(self.rejected) > 20:
            lines.append(f"    ... and {len(self.rejected) - 20} more")
        return "\n".join(lines)


def state_of_jurisdiction(text: str) -> str | None:
    """`ma`, `MA`, `Massachusetts`, `ocd-jurisdiction/country:us/state:ma/government` -> `ma`;
    `us` / `United States` -> `us`; None when it names no state."""
    t = (text or "").strip()
    if not t:
        return None
    m = re.search(r"/(?:state|district|territory):([a-z]{2})(?:/|$)", t.lower())
    if m:
        return m.group(1)
    if t.lower() in ("us", "usa", "united states", "ocd-jurisdiction/country:us/government"):
        return "us"
    try:
        found = openstates_metadata.lookup(abbr=t) if len(t) == 2 else None
        found = found or openstates_metadata.lookup(name=t)
    except (KeyError, ValueError):
        return None
    return found.abbr.lower() if found else None


def read_people_csv(
    stream: IO[str], *, file_name: str, source: str | None = None
) -> tuple[list[LegislatorInfo], PeopleLoad]:
    reader = csv.DictReader(stream)
    header = {(h or "").strip().lower() for h in reader.fieldnames or []}
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise BadPeopleFile(
            f"the people CSV needs the columns {', '.join(REQUIRED)} (missing {', '.join(missing)})"
        )
    stem = file_name.rsplit("/", 1)[-1].split(".")[0]
    file_state = state_of_jurisdiction(stem) if len(stem) == 2 else None
    source = source or f"openstates-csv:{file_name.rsplit('/', 1)[-1]}"
    report, people = PeopleLoad(), []
    for raw in reader:
        report.rows += 1
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        try:
            people.append(_person(row, file_state, source))
        except (ValueError, UnknownDistrict) as exc:
            reason = exc.message if isinstance(exc, MusterError) else str(exc)
            report.rejected.append((reader.line_num, reason))
    return people, report


def _person(row: dict[str, str], file_state: str | None, source: str) -> LegislatorInfo:
    name = row.get("name", "")
    if not name:
        raise ValueError("name is empty")
    state = (
        state_of_jurisdiction(row.get("state", ""))
        or state_of_jurisdiction(row.get("jurisdiction", ""))
        or file_state
    )
    district_text, chamber_text = row.get("current_district", ""), row.get("current_chamber", "")
    if state == "us" or (state is None and re.match(r"^[A-Za-z]{2}-", district_text)):
        m = re.match(r"^([A-Za-z]{2})-(.+)$", district_text)
        if not m:
            raise ValueError(f"a US House district is STATE-N (MA-4), not {district_text!r}")
        state, district_text, chamber = m.group(1).lower(), m.group(2), "cd"
    else:
        if state is None:
            raise ValueError("no state (give a state column, or name the file ma.csv)")
        if chamber_text.lower() not in STATE_CHAMBERS:
            raise ValueError(f"current_chamber must be upper or lower, not {chamber_text!r}")
        chamber = STATE_CHAMBERS[chamber_text.lower()]
    district = parse_district(district_text, state=state, chamber=chamber)
    return LegislatorInfo(
        district=district.id,
        chamber=chamber,
        name=name[:200],
        party=row.get("current_party") or None,
        capitol_phone=to_e164(row.get("capitol_voice")),
        district_phone=to_e164(row.get("district_voice")),
        email=row.get("email") or None,
        source=source,
    )


def load_legislators(session: Session, people: Sequence[LegislatorInfo], *, now: datetime) -> int:
    """Replace the stored members of every district these people sit for."""
    return replace_legislators(session, [p.row() for p in people], now=now)


def refresh_legislators(
    session: Session, directory: LegislatorDirectory, districts: Sequence[str], *, now: datetime
) -> int:
    """Ask a directory (the Open States API) for these districts and store what it says."""
    found = directory.legislators_of(districts)
    return load_legislators(session, found, now=now) if found else 0
