"""The ZIP-to-district crosswalk: loading it, and what a volunteer's ZIP says of their districts.

`muster districts load FILE.csv` reads either
- Muster's own columns `zip`, `district` (a short or full OCD id of any chamber), optional `share`
  (0-1, or a percentage above 1), or
- the ZCTA-to-US-House file of `../shared/data/zcta-cd118.csv` as it is (`state_fips`,
  `state_abbr`, `zcta`, `cd`: a district number; `0`, or `1` in a one-seat state, is at-large).

Muster ships that file as its default congressional crosswalk (vintage `zcta-cd118`, the 118th
Congress's lines), loaded into an empty crosswalk by `muster db upgrade` and by `muster serve` on
SQLite. A ZIP inside one district of a chamber gives it (source `zip_crosswalk`, with the vintage);
a ZIP split between districts gives none for sure: the volunteer's district stays unknown (and,
with a geocoder on, onboarding asks for the street address once).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO

from sqlalchemy.orm import Session

from handlers.district_names import UnknownDistrict, lookup, parse_district
from handlers.districts import put_districts
from storage.districts import (
    DistrictSource,
    clear_districts,
    crosswalk_size,
    delete_zip_rows,
    upsert_zip_rows,
    zip_rows,
)

DEFAULT_CROSSWALK = Path(__file__).parent / "data" / "zcta-cd118.csv"
DEFAULT_VINTAGE = "zcta-cd118"


@dataclass
class CrosswalkLoad:
    rows: int = 0
    loaded: int = 0
    zips: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)

    def summary(self) -> str:
        lines = [f"{self.rows} rows read, {self.loaded} loaded for {self.zips} ZIP codes"]
        lines.append(f"  {len(self.rejected)} rejected")
        lines += [f"    line {n}: {why}" for n, why in self.rejected[:20]]
        if len(self.rejected) > 20:
            lines.append(f"    ... and {len(self.rejected) - 20} more")
        return "\n".join(lines)


def read_crosswalk(
    stream: IO[str], *, vintage: str
) -> tuple[list[dict[str, object]], CrosswalkLoad]:
    """The file's rows as crosswalk rows (zip, district, chamber, share, vintage), and the count."""
    reader = csv.DictReader(stream)
    header = {(h or "").strip().lower() for h in reader.fieldnames or []}
    zcta = {"zcta", "cd", "state_abbr"} <= header
    if not zcta and not {"zip", "district"} <= header:
        raise UnknownDistrict(
            "",
            [],
            why=": the crosswalk needs the columns zip,district[,share] (or the "
            "state_abbr,zcta,cd of zcta-cd118.csv)",
        )
    report = CrosswalkLoad()
    found: dict[tuple[str, str], dict[str, object]] = {}
    for raw in reader:
        report.rows += 1
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        try:
            zip5, district, share = _zcta_row(row) if zcta else _muster_row(row)
        except ValueError as exc:
            report.rejected.append((reader.line_num, str(exc)))
            continue
        found[(zip5, district.id)] = {
            "zip": zip5,
            "district": district.id,
            "chamber": district.chamber,
            "share": share,
            "vintage": vintage,
        }
    rows = list(found.values())
    report.zips = len({r["zip"] for r in rows})
    return rows, report


def _zip5(text: str) -> str:
    if not text.isdigit() or not 3 <= len(text) <= 5:
        raise ValueError(f"zip: {text!r} is not a ZIP code")
    return text.zfill(5)


def _muster_row(row: dict[str, str]):
    zip5 = _zip5(row.get("zip", ""))
    try:
        district = parse_district(row.get("district", ""))
    except UnknownDistrict as exc:
        raise ValueError(exc.message) from None
    share_text = row.get("share", "")
    share = None
    if share_text:
        try:
            share = float(share_text)
        except ValueError:
            raise ValueError(f"share: {share_text!r} is not a number") from None
        share = share / 100 if share > 1 else share
    return zip5, district, share


def _zcta_row(row: dict[str, str]):
    zip5 = _zip5(row.get("zcta", ""))
    state = row.get("state_abbr", "").lower()
    number = row.get("cd", "").lstrip("0") or "0"
    district = lookup(f"{state}/cd:{number}")
    if district is None and number in ("0", "1"):
        district = lookup(f"{state}/cd:at-large") or lookup(state)  # DC, PR: the delegate
    if district is None:
        raise ValueError(f"cd: no US House district {number} in {state.upper()}")
    return zip5, district, None


def load_crosswalk(session: Session, rows: list[dict[str, object]]) -> int:
    """Replace, for each chamber the rows cover, the crosswalk of their ZIPs with these rows."""
    by_chamber: dict[str, set[str]] = {}
    for r in rows:
        by_chamber.setdefault(str(r["chamber"]), set()).add(str(r["zip"]))
    for chamber, zips in by_chamber.items():
        delete_zip_rows(session, zips=sorted(zips), chamber=chamber)
    return upsert_zip_rows(session, rows)


def load_default_crosswalk(session: Session) -> int:
    """The shipped congressional crosswalk, if no row of its vintage is loaded yet; rows loaded."""
    if crosswalk_size(session, vintage=DEFAULT_VINTAGE) > 0 or not DEFAULT_CROSSWALK.is_file():
        return 0
    with DEFAULT_CROSSWALK.open(newline="", encoding="utf-8") as stream:
        rows, _ = read_crosswalk(stream, vintage=DEFAULT_VINTAGE)
    return load_crosswalk(session, rows)


@dataclass(frozen=True, slots=True)
class ZipRow:
    zip: str
    district: str
    chamber: str
    share: float | None
    vintage: str | None


@dataclass(frozen=True, slots=True)
class ZipDistricts:
    """What a ZIP says: the sure districts by chamber, and the chambers it is split in."""

    zip: str
    sure: dict[str, ZipRow]
    split: dict[str, list[ZipRow]]


def districts_of_zip(session: Session, zip_code: str) -> ZipDistricts:
    by_chamber: dict[str, list[ZipRow]] = {}
    for r in zip_rows(session, zip_code):
        row = ZipRow(r.zip, r.district, r.chamber, r.share, r.vintage)
        by_chamber.setdefault(row.chamber, []).append(row)
    sure = {c: rows[0] for c, rows in by_chamber.items() if len(rows) == 1}
    split = {c: rows for c, rows in by_chamber.items() if len(rows) > 1}
    return ZipDistricts(zip_code, sure, split)


def apply_zip(session: Session, volunteer_id: int, zip_code: str, *, now: datetime) -> ZipDistricts:
    """A new ZIP: the districts an older ZIP gave go, the ones this ZIP is sure of are set (never
    over a district from an import or an address)."""
    found = districts_of_zip(session, zip_code)
    clear_districts(session, volunteer_id, sources=[DistrictSource.ZIP_CROSSWALK])
    for chamber, row in found.sure.items():
        put_districts(
            session,
            volunteer_id,
            {chamber: row.district},
            source=DistrictSource.ZIP_CROSSWALK,
            vintage=row.vintage,
            now=now,
        )
    return found


def iter_rows(rows: Iterable[ZipRow]) -> Iterator[str]:
    for r in rows:
        share = f" ({r.share:.0%} of the ZIP)" if r.share is not None else ""
        yield f"{r.district}{share} [{r.vintage or 'no vintage'}]"
