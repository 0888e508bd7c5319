"""Who a broadcast goes to: the audience grammar, and the set-based query that expands it.

    all              every reachable volunteer
    tag:NAME         volunteers who said they would help that way (tag:canvass)
    zip:PREFIX       ZIP codes starting with 1-5 digits (zip:021, zip:02124)
    near:ZIP:MILES   ZIP codes within MILES of ZIP (near:02124:5), by the ZIP centroids of geo
    state:XX         a US state or territory by its USPS code (state:MA)
    shift:N          the volunteers committed to shift N (its roster, waitlist excluded)
    digest           the volunteers who opted into the weekly digest of open shifts (the clock's
                     digest schedule sends to it)

An audience becomes a SQL condition over `volunteers`, never a Python loop over people, so a
broadcast to 100,000 volunteers expands in one INSERT ... SELECT. Reachable means active (not
opted out, not marked unreachable) and not forgotten; the sender checks again at send time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, select, true
from sqlalchemy.orm import Session

from handlers.errors import UnknownShift, UsageError
from handlers.geo import zip_info, zips_within
from storage.models import (
    Commitment,
    CommitmentStatus,
    Shift,
    Volunteer,
    VolunteerStatus,
    VolunteerTag,
)

AUDIENCE_USAGE = (
    "Audience must be one of: all, tag:NAME, zip:PREFIX, near:ZIP:MILES, state:XX, shift:N "
    "(for example tag:canvass, zip:021, near:02124:5, state:MA, shift:12)."
)
MAX_NEAR_MILES = 250

_STATE_CODES = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ "
    "NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR VI GU AS MP"
)
US_STATES = frozenset(_STATE_CODES.split())
ROSTER_STATUSES = (CommitmentStatus.COMMITTED, CommitmentStatus.CONFIRMED)

_TAG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


@dataclass(frozen=True, slots=True)
class Audience:
    kind: str  # all, tag, zip, near, state, shift, digest
    value: str = ""  # tag name, ZIP prefix, ZIP, state code, shift number
    miles: float | None = None  # near: only

    def __str__(self) -> str:
        if self.kind in ("all", "digest"):
            return self.kind
        if self.kind == "near":
            return f"near:{self.value}:{self.miles:g}"
        return f"{self.kind}:{self.value}"

    @property
    def shift_id(self) -> int | None:
        return int(self.value) if self.kind == "shift" else None


def parse_audience(text: str | Audience) -> Audience:
    """The audience an organizer typed; `UsageError` with the grammar when it is not one."""
    if isinstance(text, Audience):
        return text
    raw = (text or "").strip()
    kind, _, rest = raw.partition(":")
    kind, rest = kind.strip().lower(), rest.strip()
    if kind in {"all", "everyone"} and not rest:
        return Audience("all")
    if kind == "digest" and not rest:
        return Audience("digest")
    if kind == "tag" and _TAG.match(rest.lower()):
        return Audience("tag", rest.lower())
    if kind == "zip" and re.fullmatch(r"\d{1,5}", rest):
        return Audience("zip", rest)
    if kind == "state" and rest.upper() in US_STATES:
        return Audience("state", rest.upper())
    if kind == "shift" and re.fullmatch(r"#?\d{1,9}", rest):
        return Audience("shift", str(int(rest.lstrip("#"))))
    if kind == "near":
        match = re.fullmatch(r"(\d{5}):(\d+(?:\.\d+)?)(?:\s*mi(?:les)?)?", rest.lower())
        if match and 0 < float(match.group(2)) <= MAX_NEAR_MILES:
            return Audience("near", match.group(1), float(match.group(2)))
        if match:
            raise UsageError(f"near: takes a distance above 0 and up to {MAX_NEAR_MILES} miles.")
    raise UsageError(f"I don't understand the audience {raw!r}. {AUDIENCE_USAGE}")


def reachable() -> ColumnElement[bool]:
    """Volunteers Muster may text at all: active, and with a phone number (not forgotten)."""
    return and_(Volunteer.status == VolunteerStatus.ACTIVE, Volunteer.phone.is_not(None))


def audience_condition(audience: Audience) -> ColumnElement[bool]:
    """The audience as a condition over `volunteers` (one SQL expression, every database)."""
    if audience.kind == "all":
        return true()
    if audience.kind == "digest":
        return Volunteer.digest_opt_in.is_(True)
    if audience.kind == "tag":
        return exists().where(
            VolunteerTag.volunteer_id == Volunteer.id,
            func.lower(VolunteerTag.tag) == audience.value,
        )
    if audience.kind == "zip":
        if len(audience.value) == 5:
            return Volunteer.zip == audience.value
        return Volunteer.zip.startswith(audience.value, autoescape=True)
    if audience.kind == "state":
        return func.upper(Volunteer.state) == audience.value
    if audience.kind == "shift":
        return exists().where(
            Commitment.volunteer_id == Volunteer.id,
            Commitment.shift_id == audience.shift_id,
            Commitment.status.in_(ROSTER_STATUSES),
        )
    if audience.kind == "near":
        assert audience.miles is not None
        zips = zips_within(audience.value, audience.miles)
        return Volunteer.zip.in_(zips) if zips else false()
    raise UsageError(AUDIENCE_USAGE)


def recipients(audience: Audience) -> Select[tuple[Volunteer]]:
    """SELECT of the reachable volunteers in the audience (ordered, for stable previews)."""
    return select(Volunteer).where(reachable(), audience_condition(audience)).order_by(Volunteer.id)


def check_audience(session: Session, audience: Audience) -> None:
    """Refuse an audience that names something that does not exist (a shift, a ZIP code)."""
    if audience.kind == "shift" and session.get(Shift, audience.shift_id) is None:
        raise UnknownShift(audience.value)
    if audience.kind == "near" and zip_info(audience.value) is None:
        raise UsageError(f"I don't know the ZIP code {audience.value}. {AUDIENCE_USAGE}")
