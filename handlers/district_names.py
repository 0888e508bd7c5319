"""Every valid district, from the `openstates-metadata` package, and parsing what people type.

A district is named by its Open Civic Data division id with the country and state prefix shortened
(`ocd-division/country:us/state:ma/sldl:10th_bristol` -> `ma/sldl:10th_bristol`), exactly the ids
the package lists:

- US House (`cd`): the package's `US` entry, `ma/cd:4`; at-large seats `ak/cd:at-large`; the
  non-voting delegates of DC and the territories are the whole jurisdiction: `dc`, `pr`, `gu` ...
- State senate (`sldu`) and state house (`sldl`): each state's chambers. Nebraska's unicameral
  legislature, Guam's and the Virgin Islands' are `sldu` (their ids say so: `ne/sldu:12`); DC's
  council wards (`dc/ward:1`) are stored as DC's `sldu`. A multi-member district (New Hampshire's
  `nh/sldl:belknap_2`, 2 seats) is one district; its seat count is kept for its label. Seats
  elected by a whole state or DC (DC's chairman and at-large members, Puerto Rico's at-large
  senators) are not districts anyone lives in apart from the rest, so they are not listed here.

Anything else is refused (`UnknownDistrict`) with the nearest valid ids (difflib).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import openstates_metadata

from handlers.errors import MusterError

OCD_PREFIX = "ocd-division/country:us/"
CHAMBERS = ("cd", "sldu", "sldl")
CHAMBER_WORDS = {"cd": "US House", "sldu": "state senate", "sldl": "state house"}


@dataclass(frozen=True, slots=True)
class District:
    id: str  # short: ma/sldl:10th_bristol
    full_id: str  # ocd-division/country:us/state:ma/sldl:10th_bristol
    chamber: str  # cd, sldu, sldl
    state: str  # lowercase USPS code: ma
    name: str  # the package's name: "10th Bristol", "MA-4", "Ward 1"
    body: str  # "US House", "House", "Senate", "Nebraska Legislature", "Assembly"
    seats: int = 1

    @property
    def label(self) -> str:
        """`MA House 10th Bristol`, `US House MA-4`, `NE Legislature District 12`, `DC Ward 1`."""
        if self.chamber == "cd":
            return f"US House {self.name}"
        body = "Legislature" if "legislature" in self.body.lower() else self.body
        if self.state == "dc":
            body = "Council"
        name = (
            f"District {self.name}"
            if self.name[:1].isdigit() and " " not in self.name
            else self.name
        )
        seats = f" ({self.seats} seats)" if self.seats > 1 else ""
        return f"{self.state.upper()} {body} {name}{seats}"


class UnknownDistrict(MusterError):
    def __init__(self, text: str, nearest: list[str], *, why: str = ""):
        hint = f" Nearest: {', '.join(nearest)}." if nearest else ""
        super().__init__(f"I don't know the district {text!r}{why}.{hint}")
        self.text = text
        self.nearest = nearest


def short_id(division_id: str) -> str:
    """`ocd-division/country:us/state:ma/cd:4` -> `ma/cd:4`; `.../district:dc` -> `dc`."""
    rest = division_id.strip()
    if rest.lower().startswith(OCD_PREFIX):
        rest = rest[len(OCD_PREFIX) :]
    head, sep, tail = rest.partition("/")
    _, colon, code = head.partition(":")
    return (code if colon else head) + (sep + tail if sep else "")


@lru_cache(maxsize=1)
def catalog() -> dict[str, District]:
    """Short id -> District, for the whole country (built once per process, ~7,900 entries)."""
    found: dict[str, District] = {}
    us = openstates_metadata.lookup(abbr="us")
    assert us.lower is not None
    for d in us.lower.districts:
        if not d.division_id:
            continue
        sid = short_id(d.division_id)
        found[sid] = District(sid, d.division_id, "cd", sid.split("/")[0], d.name, "US House")
    for abbr, state in openstates_metadata.STATES_BY_ABBR.items():
        if abbr in openstates_metadata.NON_US_INTERNATIONAL_ABBRS or abbr.upper() == "US":
            continue
        for chamber in state.chambers:
            for d in chamber.districts:
                if not d.division_id or d.division_id == state.division_id:
                    continue  # a seat elected by the whole state or DC
                sid = short_id(d.division_id)
                kind = "sldl" if "/sldl:" in sid else "sldu"
                found[sid] = District(
                    sid, d.division_id, kind, abbr.lower(), d.name, chamber.name, d.num_seats
                )
    return found


@lru_cache(maxsize=1)
def _by_state_chamber() -> dict[tuple[str, str], list[District]]:
    index: dict[tuple[str, str], list[District]] = {}
    for d in catalog().values():
        index.setdefault((d.state, d.chamber), []).append(d)
    return index


def districts_in(state: str, chamber: str | None = None) -> list[District]:
    state = state.lower()
    chambers = [chamber] if chamber else list(CHAMBERS)
    return [d for c in chambers for d in _by_state_chamber().get((state, c), [])]


def lookup(district_id: str) -> District | None:
    """The district of a short or full id (any case), or None."""
    key = short_id(district_id).lower()
    return catalog().get(key)


def nearest(
    text: str, *, state: str | None = None, chamber: str | None = None, n: int = 3
) -> list[str]:
    """The valid ids nearest to what was typed, among the state's (and chamber's) if known."""
    key = short_id(text).lower()
    if state is None and "/" in key:
        state = key.split("/")[0]
    pool: Iterable[District]
    if state and districts_in(state, chamber):
        pool = districts_in(state, chamber)
    elif chamber:
        pool = [d for d in catalog().values() if d.chamber == chamber]
    else:
        pool = catalog().values()
    ids = [d.id for d in pool]
    close = difflib.get_close_matches(key, ids, n=n, cutoff=0.5)
    if not close and state:
        names = {_squash(d.name): d.id for d in districts_in(state, chamber)}
        close = [names[m] for m in difflib.get_close_matches(_squash(text), list(names), n=n)]
    return close


def _squash(text: str) -> str:
    text = text.lower().replace("_", " ").replace("-", " ")
    text = re.sub(r"\b(state|senate|house|assembly|district|dist|the|of|seat|ward)\b", " ", text)
    return " ".join(re.sub(r"[^a-z0-9 ]", " ", text).split())


def parse_district(text: str, *, state: str | None = None, chamber: str | None = None) -> District:
    """What a person typed -> a District: a short or full OCD id, or (with `state`) the
    district's name in that state (`10th Bristol`, `4`, `MA-4`, `at-large`); `UnknownDistrict`
    with the nearest valid ids otherwise, or when it is not in the expected chamber."""
    raw = (text or "").strip()
    found = lookup(raw) if raw else None
    if found is None and state:
        found = _by_name(raw, state.lower(), chamber)
    if found is None:
        raise UnknownDistrict(raw, nearest(raw, state=state, chamber=chamber))
    if chamber and found.chamber != chamber:
        raise UnknownDistrict(
            raw,
            nearest(raw, state=state or found.state, chamber=chamber),
            why=f" as a {CHAMBER_WORDS[chamber]} district (it is {CHAMBER_WORDS[found.chamber]})",
        )
    if state and found.state != state.lower():
        raise UnknownDistrict(
            raw, nearest(raw, state=state, chamber=chamber), why=f" in {state.upper()}"
        )
    return found


def _by_name(text: str, state: str, chamber: str | None) -> District | None:
    """A district's name within a state and chamber (without a chamber, names are ambiguous)."""
    want = _squash(text)
    if not want or chamber is None:
        return None
    if chamber == "cd":  # "4", "04", "MA-4", "at-large", "AL"
        m = re.fullmatch(rf"(?:{state}\s*)?0*(\d+|al|at large)", want)
        if m is None:
            return None
        code = "at-large" if m.group(1) in ("al", "at large", "0", "") else m.group(1)
        found = lookup(f"{state}/cd:{code}")
        if found is None and code in ("at-large", "1"):
            found = lookup(f"{state}/cd:at-large") or lookup(state)  # DC's delegate: `dc`
        return found
    candidates = districts_in(state, chamber)
    for key in (want, want.lstrip("0")):
        for named in (lambda d: d.name, lambda d: d.id.rpartition(":")[2]):
            matches = [d for d in candidates if _squash(named(d)) == key]
            if len(matches) == 1:
                return matches[0]
    return None
