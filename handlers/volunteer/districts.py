"""The volunteer's district keywords: ADDRESS 12 Main St (the street line, looked up after the
reply) and DISTRICTS (my districts, as far as known); and onboarding's one question for the street
address when the ZIP is split between districts and a geocoder is on."""

from __future__ import annotations

from sqlalchemy import select

from handlers.district_crosswalk import ZipDistricts
from handlers.districts import chamber_word, describe_districts, known_districts
from handlers.geocoding import clean_address
from handlers.volunteer.turn import Answer, Turn
from storage.districts import AddressLookup, LookupStatus, enqueue_lookup

_COUNT_WORDS = {2: "two", 3: "three", 4: "four"}
# Which split to name when a ZIP is split in several chambers: the smallest districts first.
_ASK_ORDER = ("sldl", "sldu", "cd")


def set_address(t: Turn) -> Answer:
    address = clean_address(t.parsed.arg)
    if address is None:
        return t.say("address_usage"), "address_usage"
    return _take(t, address), "address"


def _take(t: Turn, address: str) -> str:
    v = t.volunteer
    assert v is not None
    t.update(address=address)
    if not t.org.geocoder:
        return t.say("address_kept")
    enqueue_lookup(t.session, volunteer_id=v.id, notify=True, now=t.now)
    return t.say("address_taken")


def my_districts(t: Turn) -> Answer:
    v = t.volunteer
    assert v is not None
    known = known_districts(t.session, v.id)
    pending = t.session.scalar(
        select(AddressLookup.id)
        .where(AddressLookup.volunteer_id == v.id, AddressLookup.status == LookupStatus.PENDING)
        .limit(1)
    )
    later = t.say("districts_pending") if pending is not None else ""
    if not known:
        return (later.strip() if later else t.say("districts_unknown")), "districts"
    return t.say("districts_known", districts=describe_districts(known)) + later, "districts"


def address_question(t: Turn, found: ZipDistricts) -> str | None:
    """After the ZIP: the question for the street address (once), when the ZIP is split and a
    geocoder is on; None otherwise."""
    v = t.volunteer
    assert v is not None
    if not found.split or not t.org.geocoder or v.address_asked_at is not None or v.address:
        return None
    chamber = next(c for c in _ASK_ORDER if c in found.split)
    count = len(found.split[chamber])
    t.update(address_asked_at=t.now)
    return t.say(
        "ask_address_split",
        count=_COUNT_WORDS.get(count, str(count)),
        chamber=chamber_word(chamber),
    )


def awaiting_address(t: Turn) -> bool:
    """Onboarding asked for the street address and this text is its answer (or SKIP)."""
    v = t.volunteer
    return bool(v is not None and v.address_asked_at is not None and not v.address and v.zip)


def answer_address(t: Turn, *, skip: bool) -> str | None:
    """The onboarding answer: the street line (looked up after the reply), or SKIP."""
    if skip:
        return None
    address = clean_address(t.msg.text)
    if address is None:
        return None
    _take(t, address)
    return t.say("address_taken")
