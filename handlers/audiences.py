"""Who a broadcast goes to: the audience grammar, and the set-based query that expands it.

    all              every reachable volunteer
    tag:NAME         volunteers who said they would help that way (tag:canvass)
    zip:PREFIX       ZIP codes starting with 1-5 digits (zip:021, zip:02124)
    near:ZIP:MILES   ZIP codes within MILES of ZIP (near:02124:5), by the ZIP centroids of geo
    state:XX         a US state or territory by its USPS code (state:MA)
    shift:N          the volunteers committed to shift N (its roster, waitlist excluded)
    digest           the volunteers who opted into the weekly digest of open shifts (the clock's
                     digest schedule sends to it)
    district:ID      volunteers living in a district (district:ma/sldl:10th_bristol; the full OCD
                     id is accepted too)
    targets          volunteers living in any target district (`/muster target add`)
    chapter:SLUG     the volunteers of a chapter (chapter:needham; `/muster chapter add`)
    members          volunteers with a `member_since` day (who may vote)
    ballot:N         the members who may vote on ballot N (its list, fixed when it opened);
                     ballot:N:voted those who voted, ballot:N:waiting those who have not yet

Terms combine with `+` for "and": `targets+tag:canvass` is the canvassers who live in a target
district. Each term is one entry of `TERMS` (its parser, its SQL condition, its check), so a new
kind of audience is one line there and a function beside its own data.

An audience becomes a SQL condition over `volunteers`, never a Python loop over people, so a
broadcast to 100,000 volunteers expands in one INSERT ... SELECT. Reachable means active (not
opted out, not marked unreachable) and not forgotten; the sender checks again at send time.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, select, true
from sqlalchemy.orm import Session

from handlers.district_names import parse_district
from handlers.errors import UnknownShift, UsageError
from handlers.geo import zip_info, zips_within
from storage.chapters import Chapter, VolunteerChapter, all_chapters, chapter_by_slug
from storage.districts import TargetDistrict, VolunteerDistrict
from storage.models import (
    Commitment,
    CommitmentStatus,
    Shift,
    Volunteer,
    VolunteerStatus,
    VolunteerTag,
)
from storage.votes import Ballot, BallotEligibility, Vote

MAX_NEAR_MILES = 250
MAX_TERMS = 5

_STATE_CODES = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ "
    "NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR VI GU AS MP"
)
US_STATES = frozenset(_STATE_CODES.split())
ROSTER_STATUSES = (CommitmentStatus.COMMITTED, CommitmentStatus.CONFIRMED)

_TAG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")  # a chapter's slug


@dataclass(frozen=True, slots=True)
class Audience:
    kind: str  # a name in TERMS, or "and" for terms combined with +
    value: str = ""  # tag name, ZIP prefix, ZIP, state code, shift number, district id
    miles: float | None = None  # near: only
    parts: tuple[Audience, ...] = ()  # and: only

    def __str__(self) -> str:
        if self.kind == "and":
            return "+".join(str(p) for p in self.parts)
        if not self.value:
            return self.kind
        if self.kind == "near":
            return f"near:{self.value}:{self.miles:g}"
        return f"{self.kind}:{self.value}"

    @property
    def terms(self) -> tuple[Audience, ...]:
        return self.parts if self.kind == "and" else (self,)

    @property
    def shift_id(self) -> int | None:
        return int(self.value) if self.kind == "shift" else None


@dataclass(frozen=True, slots=True)
class Term:
    """One kind of audience: `parse` turns what follows `name:` ("" for a bare word) into an
    Audience, or None when it is not one; `condition` is its SQL over `volunteers`; `check`
    refuses one that names something that does not exist."""

    parse: Callable[[str, str], Audience | None]
    condition: Callable[[Audience], ColumnElement[bool]]
    example: str
    check: Callable[[Session, Audience], None] | None = None


def _bare(name: str, rest: str) -> Audience | None:
    return None if rest else Audience(name)


def _parse_tag(name: str, rest: str) -> Audience | None:
    return Audience(name, rest.lower()) if _TAG.match(rest.lower()) else None


def _parse_zip(name: str, rest: str) -> Audience | None:
    return Audience(name, rest) if re.fullmatch(r"\d{1,5}", rest) else None


def _parse_state(name: str, rest: str) -> Audience | None:
    return Audience(name, rest.upper()) if rest.upper() in US_STATES else None


def _parse_shift(name: str, rest: str) -> Audience | None:
    if re.fullmatch(r"#?\d{1,9}", rest):
        return Audience(name, str(int(rest.lstrip("#"))))
    return None


def _parse_near(name: str, rest: str) -> Audience | None:
    match = re.fullmatch(r"(\d{5}):(\d+(?:\.\d+)?)(?:\s*mi(?:les)?)?", rest.lower())
    if match and 0 < float(match.group(2)) <= MAX_NEAR_MILES:
        return Audience(name, match.group(1), float(match.group(2)))
    if match:
        raise UsageError(f"near: takes a distance above 0 and up to {MAX_NEAR_MILES} miles.")
    return None


def _parse_chapter(name: str, rest: str) -> Audience | None:
    return Audience(name, rest.lower()) if SLUG.match(rest.lower()) else None


def _parse_district(name: str, rest: str) -> Audience | None:
    return Audience(name, parse_district(rest).id) if rest else None  # UnknownDistrict: nearest


def _parse_ballot(name: str, rest: str) -> Audience | None:
    match = re.fullmatch(r"#?(\d{1,9})(?::(voted|waiting))?", rest.lower())
    if match is None:
        return None
    number = str(int(match.group(1)))
    return Audience(name, f"{number}:{match.group(2)}" if match.group(2) else number)


def _all(_: Audience) -> ColumnElement[bool]:
    return true()


def _digest(_: Audience) -> ColumnElement[bool]:
    return Volunteer.digest_opt_in.is_(True)


def _tag(audience: Audience) -> ColumnElement[bool]:
    return exists().where(
        VolunteerTag.volunteer_id == Volunteer.id,
        func.lower(VolunteerTag.tag) == audience.value,
    )


def _zip(audience: Audience) -> ColumnElement[bool]:
    if len(audience.value) == 5:
        return Volunteer.zip == audience.value
    return Volunteer.zip.startswith(audience.value, autoescape=True)


def _state(audience: Audience) -> ColumnElement[bool]:
    return func.upper(Volunteer.state) == audience.value


def _shift(audience: Audience) -> ColumnElement[bool]:
    return exists().where(
        Commitment.volunteer_id == Volunteer.id,
        Commitment.shift_id == audience.shift_id,
        Commitment.status.in_(ROSTER_STATUSES),
    )


def _near(audience: Audience) -> ColumnElement[bool]:
    assert audience.miles is not None
    zips = zips_within(audience.value, audience.miles)
    return Volunteer.zip.in_(zips) if zips else false()


def _district(audience: Audience) -> ColumnElement[bool]:
    return exists().where(
        VolunteerDistrict.volunteer_id == Volunteer.id,
        VolunteerDistrict.district == audience.value,
    )


def _targets(_: Audience) -> ColumnElement[bool]:
    return exists().where(
        VolunteerDistrict.volunteer_id == Volunteer.id,
        VolunteerDistrict.district == TargetDistrict.district,
    )


def _chapter(audience: Audience) -> ColumnElement[bool]:
    return exists().where(
        VolunteerChapter.volunteer_id == Volunteer.id,
        VolunteerChapter.chapter_id == Chapter.id,
        Chapter.slug == audience.value,
    )


def _check_chapter(session: Session, audience: Audience) -> None:
    if chapter_by_slug(session, audience.value) is None:
        known = ", ".join(c.slug for c in all_chapters(session)) or "none yet"
        raise UsageError(
            f"There is no chapter {audience.value!r} (chapters: {known}). "
            "Add one with `chapter add SLUG name=...`."
        )


def _members(_: Audience) -> ColumnElement[bool]:
    return Volunteer.member_since.is_not(None)


def _ballot(audience: Audience) -> ColumnElement[bool]:
    number, _, which = audience.value.partition(":")
    eligible = exists().where(
        BallotEligibility.volunteer_id == Volunteer.id,
        BallotEligibility.ballot_id == int(number),
    )
    if not which:
        return eligible
    voted = exists().where(Vote.volunteer_id == Volunteer.id, Vote.ballot_id == int(number))
    return and_(eligible, voted if which == "voted" else ~voted)


def _check_ballot(session: Session, audience: Audience) -> None:
    number = int(audience.value.partition(":")[0])
    if session.get(Ballot, number) is None:
        raise UsageError(f"There is no ballot {number}: `votes` lists them.")


def _check_shift(session: Session, audience: Audience) -> None:
    if session.get(Shift, audience.shift_id) is None:
        raise UnknownShift(audience.value)


def _check_near(session: Session, audience: Audience) -> None:
    if zip_info(audience.value) is None:
        raise UsageError(f"I don't know the ZIP code {audience.value}. {AUDIENCE_USAGE}")


def _check_targets(session: Session, audience: Audience) -> None:
    if session.scalar(select(func.count()).select_from(TargetDistrict)) == 0:
        raise UsageError(
            "There are no target districts yet: add one with `target add DISTRICT [goal=N]`."
        )


# The audience grammar: one entry per kind of audience (name -> how to parse, select, check).
TERMS: dict[str, Term] = {
    "all": Term(_bare, _all, "all"),
    "everyone": Term(lambda _, rest: _bare("all", rest), _all, ""),
    "digest": Term(_bare, _digest, ""),
    "tag": Term(_parse_tag, _tag, "tag:canvass"),
    "zip": Term(_parse_zip, _zip, "zip:021"),
    "near": Term(_parse_near, _near, "near:02124:5", _check_near),
    "state": Term(_parse_state, _state, "state:MA"),
    "shift": Term(_parse_shift, _shift, "shift:12", _check_shift),
    "district": Term(_parse_district, _district, "district:ma/sldl:10th_bristol"),
    "targets": Term(_bare, _targets, "targets", _check_targets),
    "chapter": Term(_parse_chapter, _chapter, "chapter:needham", _check_chapter),
    "members": Term(_bare, _members, "members"),
    "ballot": Term(_parse_ballot, _ballot, "ballot:3:waiting", _check_ballot),
}

AUDIENCE_USAGE = (
    "Audience must be one of: all, tag:NAME, zip:PREFIX, near:ZIP:MILES, state:XX, shift:N, "
    "district:ID, targets, chapter:SLUG, members, ballot:N[:voted|:waiting], or several "
    'joined by + for "and" (for example '
    + ", ".join(t.example for t in TERMS.values() if t.example and t.example != "all")
    + ", targets+tag:canvass)."
)


def parse_audience(text: str | Audience) -> Audience:
    """The audience an organizer typed; `UsageError` with the grammar when it is not one."""
    if isinstance(text, Audience):
        return text
    raw = (text or "").strip()
    pieces = [p.strip() for p in raw.split("+")]
    if len(pieces) > MAX_TERMS:
        raise UsageError(f"An audience combines at most {MAX_TERMS} terms with +.")
    parts = tuple(_parse_term(p, raw) for p in pieces)
    if len(parts) == 1:
        return parts[0]
    return Audience("and", parts=tuple(dict.fromkeys(parts)))


def _parse_term(piece: str, raw: str) -> Audience:
    kind, _, rest = piece.partition(":")
    term = TERMS.get(kind.strip().lower())
    found = term.parse(kind.strip().lower(), rest.strip()) if term else None
    if found is None:
        near = difflib.get_close_matches(kind.strip().lower(), [k for k in TERMS if k], n=1)
        fixed = near[0] + (f":{rest.strip()}" if rest.strip() else "") if near else ""
        mean = f" Did you mean {raw.replace(piece, fixed, 1)}?" if near and term is None else ""
        raise UsageError(f"I don't understand the audience {raw!r}.{mean} {AUDIENCE_USAGE}")
    return found


def reachable() -> ColumnElement[bool]:
    """Volunteers Muster may text at all: active, and with a phone number (not forgotten)."""
    return and_(Volunteer.status == VolunteerStatus.ACTIVE, Volunteer.phone.is_not(None))


def audience_condition(audience: Audience) -> ColumnElement[bool]:
    """The audience as a condition over `volunteers` (one SQL expression, every database)."""
    conditions = []
    for part in audience.terms:
        term = TERMS.get(part.kind)
        if term is None:
            raise UsageError(AUDIENCE_USAGE)
        conditions.append(term.condition(part))
    return conditions[0] if len(conditions) == 1 else and_(*conditions)


def recipients(audience: Audience) -> Select[tuple[Volunteer]]:
    """SELECT of the reachable volunteers in the audience (ordered, for stable previews)."""
    return select(Volunteer).where(reachable(), audience_condition(audience)).order_by(Volunteer.id)


def check_audience(session: Session, audience: Audience) -> None:
    """Refuse an audience that names something that does not exist (a shift, a ZIP code)."""
    for part in audience.terms:
        term = TERMS.get(part.kind)
        if term is not None and term.check is not None:
            term.check(session, part)
