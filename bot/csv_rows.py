"""Reading and checking the rows of a volunteers file for `muster import volunteers`: the columns
and their aliases, one row validated into an `ImportRow` (pure, no database), the import's counts
(`ImportReport`), and the rejects file. The rules the rows follow are in `bot/csv_import.py`'s
docstring and docs/data.md; adding an import column is a field of `ImportRow`, its cleaning here,
and its writing in `bot/csv_batch.py`.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import IO, Any
from zoneinfo import ZoneInfo

from handlers.chapters import SLUG
from handlers.district_names import UnknownDistrict, parse_district
from handlers.districts import COLUMNS as DISTRICT_COLUMNS
from handlers.emails import normalized_email
from handlers.errors import InvalidInput, MusterError
from handlers.geo import zip_info
from handlers.phones import to_e164, zone_from_number
from storage.models import (
    VolunteerStatus,
)

log = logging.getLogger(__name__)

IMPORT_COLUMNS: tuple[str, ...] = (
    "phone",
    "name",
    "zip",
    "tags",
    "opted_in_at",
    "source",
    "address",
    *DISTRICT_COLUMNS,
    "chapter",
)
# Header names other tools use for the same thing (Action Network, spreadsheets).
COLUMN_ALIASES = {
    "phone_number": "phone",
    "mobile": "phone",
    "mobile_number": "phone",
    "first_name": "name",
    "given_name": "name",
    "zip_code": "zip",
    "zipcode": "zip",
    "postal_code": "zip",
    "opt_in_date": "opted_in_at",
    "opted_in": "opted_in_at",
    "street": "address",
    "street_address": "address",
    "address1": "address",
    "address_line_1": "address",
    "address_line1": "address",
    "cd": "congressional_district",
    "us_house_district": "congressional_district",
    "state_senate": "state_senate_district",
    "senate_district": "state_senate_district",
    "state_house": "state_house_district",
    "house_district": "state_house_district",
    "state_representative_district": "state_house_district",
}
BATCH_ROWS = 1000
NAME_MAX = 80
SOURCE_MAX = 40
ADDRESS_MAX = 300
DEFAULT_SOURCE = "import"
IMPORT_CHANNEL = "import"  # the consent ledger's channel for opt-ins and opt-outs from a file
# The `status` column `muster export volunteers` writes; only `opted_out` changes what is imported.
STATUSES = (VolunteerStatus.ACTIVE, VolunteerStatus.OPTED_OUT, VolunteerStatus.UNREACHABLE)
TAG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
ZIP_RE = re.compile(r"^(\d{3,5})(?:-\d{4})?$")
# Consent evidence may be a little ahead of our clock (another system's clock); not a day ahead.
FUTURE_SLACK = timedelta(hours=24)


class ImportFileError(MusterError):
    """The file as a whole cannot be imported (missing, unreadable, no phone column)."""


@dataclass(frozen=True, slots=True)
class ImportRow:
    line: int
    raw: dict[str, str]
    phone: str
    name: str | None
    zip: str | None
    state: str | None
    timezone: str | None
    tags: tuple[str, ...]
    opted_in_at: datetime | None
    source: str
    opted_out: bool = False  # the file says they opted out: never subscribed
    opted_out_at: datetime | None = None
    email: str | None = None  # checked by email-validator; Mobilize needs it for sign-ups
    member_since: date | None = None  # a member from this day (who may vote); None: not one
    # The file marks the row `unreachable` but gives an `opted_in_at`: the status wins, the
    # opt-in is not taken as consent evidence, and the summary counts it.
    unreachable_over_opt_in: bool = False
    address: str | None = None  # the street line (personal data)
    districts: tuple[tuple[str, str], ...] = ()  # (chamber, short OCD id)
    chapter: str | None = None  # a chapter's slug (checked against the chapters in the batch)


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0  # new volunteers, subscribed or not
    subscribed: int = 0  # opt-ins written to the ledger (new or existing volunteers)
    not_subscribed: int = 0  # new volunteers kept without consent evidence
    kept_opted_out: int = 0  # new volunteers kept on file as opted out
    opted_out: int = 0  # opt-outs written to the ledger (new or existing volunteers)
    updated: int = 0  # volunteers already on file that gained something
    unchanged: int = 0
    unreachable_over_opt_in: int = 0  # rows marked unreachable whose opted_in_at was not taken
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def reject(self, reason: str) -> None:
        self.rejected += 1
        kind = reason.split(":", 1)[0]
        self.reasons[kind] = self.reasons.get(kind, 0) + 1

    def summary(self) -> str:
        lines = [
            f"{self.rows} rows read",
            f"  {self.created} new volunteers "
            f"({self.created - self.not_subscribed - self.kept_opted_out} subscribed, "
            f"{self.not_subscribed} kept unsubscribed: no opted_in_at, "
            f"{self.kept_opted_out} kept as opted out)",
            f"  {self.updated} already on file and updated, {self.unchanged} already on file "
            "and unchanged",
            f"  {self.subscribed} opt-ins written to the consent ledger",
            f"  {self.opted_out} opt-outs written to the consent ledger",
            f"  {self.rejected} rejected",
        ]
        if self.unreachable_over_opt_in:
            lines.insert(
                -1,
                f"  {self.unreachable_over_opt_in} marked unreachable kept unreachable: their "
                "status wins over their opted_in_at",
            )
        lines += [f"    {n} x {kind}" for kind, n in sorted(self.reasons.items())]
        return "\n".join(lines)


# --- Validating one row (pure) --------------------------------------------------------------


class RowError(ValueError):
    """Why a row cannot be imported; the message goes to the rejects file's `reason`."""


def validate_row(
    line: int,
    raw: dict[str, str],
    *,
    now: datetime,
    zone: ZoneInfo,
) -> ImportRow:
    phone = to_e164(raw.get("phone"))
    if phone is None:
        shown = (raw.get("phone") or "").strip()
        raise RowError(f"phone: {shown!r} is not a valid phone number" if shown else "phone: empty")
    name = _clean_name(raw.get("name"))
    zip5, state, timezone = _clean_zip(raw.get("zip"))
    status = _clean_status(raw.get("status"))
    opted_out_at = _clean_time(raw.get("opted_out_at"), now=now, zone=zone, column="opted_out_at")
    opted_in_at = _clean_time(raw.get("opted_in_at"), now=now, zone=zone, column="opted_in_at")
    unreachable_over_opt_in = status == VolunteerStatus.UNREACHABLE and opted_in_at is not None
    return ImportRow(
        line=line,
        raw=raw,
        phone=phone,
        name=name,
        zip=zip5,
        state=state,
        timezone=timezone or zone_from_number(phone),
        tags=_clean_tags(raw.get("tags")),
        opted_in_at=None if unreachable_over_opt_in else opted_in_at,
        source=_clean_source(raw.get("source")),
        opted_out=status == VolunteerStatus.OPTED_OUT or opted_out_at is not None,
        opted_out_at=opted_out_at,
        unreachable_over_opt_in=unreachable_over_opt_in,
        address=_clean_address(raw.get("address")),
        districts=_clean_districts(raw, state),
        email=_clean_email(raw.get("email")),
        member_since=_clean_member_since(raw.get("member_since"), now=now),
        chapter=_clean_chapter(raw.get("chapter")),
    )


def _clean_chapter(value: str | None) -> str | None:
    text = (value or "").strip().lower()
    if text and not SLUG.match(text):
        raise RowError(f"chapter: {value.strip()!r} is not a chapter slug (e.g. needham)")
    return text or None


def _clean_address(value: str | None) -> str | None:
    address = " ".join((value or "").split())
    address = "".join(ch for ch in address if ch.isprintable())
    if len(address) > ADDRESS_MAX:
        raise RowError(f"address: longer than {ADDRESS_MAX} characters")
    return address or None


def _clean_districts(raw: dict[str, str], state: str | None) -> tuple[tuple[str, str], ...]:
    """The district columns: a short or full OCD id, or the district's name within the row's
    state (from its ZIP); an unknown one rejects the row with the nearest valid names."""
    found = []
    for column, chamber in DISTRICT_COLUMNS.items():
        text = " ".join((raw.get(column) or "").split())
        if not text:
            continue
        try:
            district = parse_district(text, state=state, chamber=chamber)
        except UnknownDistrict as exc:
            hint = "" if state or "/" in text else " (give the row's zip to name it by its name)"
            raise RowError(f"{column}: {exc.message}{hint}") from None
        found.append((chamber, district.id))
    return tuple(found)


def _clean_member_since(value: str | None, *, now: datetime) -> date | None:
    text = (value or "").strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else None
    except ValueError:
        day = None
    if day is None:
        raise RowError(f"member_since: {text!r} is not a date (YYYY-MM-DD)")
    if day > now.date() + timedelta(days=366):
        raise RowError(f"member_since: {text} is more than a year ahead")
    return day


def _clean_email(value: str | None) -> str | None:
    if not (value or "").strip():
        return None
    try:
        return normalized_email(value)
    except InvalidInput:
        raise RowError(f"email: {value.strip()!r} is not an email address") from None


def _clean_name(value: str | None) -> str | None:
    name = " ".join((value or "").split())
    name = "".join(ch for ch in name if ch.isprintable())
    if len(name) > NAME_MAX:
        raise RowError(f"name: longer than {NAME_MAX} characters")
    return name or None


def _clean_zip(value: str | None) -> tuple[str | None, str | None, str | None]:
    text = (value or "").strip()
    if not text:
        return None, None, None
    match = ZIP_RE.match(text)
    if not match:
        raise RowError(f"zip: {text!r} is not a US ZIP code")
    # Spreadsheets drop the leading zeros of New England ZIPs (02124 -> 2124): put them back.
    zip5 = match.group(1).zfill(5)
    info = zip_info(zip5)
    if info is None:
        raise RowError(f"zip: {zip5} is not a US ZIP code in use")
    return zip5, info.state, info.timezone


def _clean_tags(value: str | None) -> tuple[str, ...]:
    tags: list[str] = []
    for part in re.split(r"[,;|]", value or ""):
        tag = "-".join(part.strip().lower().split())
        if not tag:
            continue
        if not TAG_RE.match(tag):
            raise RowError(
                f"tags: {part.strip()!r} is not a tag (letters, digits, - and _, up to 40)"
            )
        if tag not in tags:
            tags.append(tag)
    return tuple(tags)


def _clean_status(value: str | None) -> VolunteerStatus | None:
    text = (value or "").strip()
    if not text:
        return None
    for status in STATUSES:
        if "_".join(text.lower().replace("-", " ").split()) == status.value:
            return status
    # Not guessed at: a status we cannot read might be an opt-out.
    raise RowError(f"status: {text!r} is not active, opted_out or unreachable")


def _clean_time(
    value: str | None, *, now: datetime, zone: ZoneInfo, column: str
) -> datetime | None:
    text = (value or "").strip()
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise RowError(
            f"{column}: {text!r} is not an ISO 8601 time (e.g. 2026-03-01T14:05:00-05:00)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)  # a time without a zone is in DEFAULT_TIMEZONE
    if when > now + FUTURE_SLACK:
        raise RowError(f"{column}: {text} is in the future")
    return when


def _clean_source(value: str | None) -> str:
    source = " ".join((value or "").split())
    if len(source) > SOURCE_MAX:
        raise RowError(f"source: longer than {SOURCE_MAX} characters")
    return source or DEFAULT_SOURCE


# --- Reading the file --------------------------------------------------------------------------


def read_rows(stream: IO[str]) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """The file's own header, and its rows as (line number, {our column: value})."""
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError(
            "the file is empty (it needs a header line: phone,name,...)"
        ) from None
    columns = [COLUMN_ALIASES.get(h.strip().lower(), h.strip().lower()) for h in header]
    if "phone" not in columns:
        raise ImportFileError(
            f"no phone column in the header {header!r}; expected: {','.join(IMPORT_COLUMNS)}"
        )

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        for values in reader:
            if not any(v.strip() for v in values):
                continue  # blank lines are not rows
            row = dict(zip(columns, values, strict=False))
            if len(values) > len(columns):
                row["__extra__"] = ",".join(values[len(columns) :])
            yield reader.line_num, {k: (v or "") for k, v in row.items()}

    return header, rows()


def batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class RejectsWriter:
    """The rejected rows, with the file's own columns, then `reason` and `line`."""

    def __init__(self, stream: IO[str] | None, header: list[str]):
        self._writer = csv.writer(stream) if stream else None
        self._width = len(header)
        if self._writer:
            self._writer.writerow([*header, "reason", "line"])

    def write(self, line: int, raw_values: list[str], reason: str) -> None:
        if self._writer:
            values = (raw_values + [""] * self._width)[: self._width]
            self._writer.writerow([*values, reason, line])


# --- Writing a batch (set-based) ----------------------------------------------------------------


@contextmanager
def maybe_open(path: str | None, default: IO[str] | None = None) -> Iterator[IO[str] | None]:
    if path is None:
        yield default
        return
    with open(path, "w", newline="", encoding="utf-8") as stream:
        yield stream
