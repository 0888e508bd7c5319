"""Street addresses to districts, through a geocoder port, never in the way of a text's answer.

Taking an address (`take_address`: the ADDRESS keyword, onboarding's question, an import) stores it
on the volunteer and writes an `address_lookups` row in the same transaction; the reply goes at
once. The drain (`drain_lookups`, run by the worker and by `muster serve`'s embedded parts when
GEOCODER is on) claims due rows, leases each by moving its `next_attempt_at` on before it calls the
geocoder outside any transaction, then sets the districts (source `address`, with the geocoder's
vintage) and texts the volunteer what they are. A geocoder that is down or slow
(`GeocoderUnavailable`) leaves the row pending for a later try (1, 2, 4 ... minutes); an address it
does not know ends the row as `no_match` and the volunteer is told, once. A crash between the two
transactions loses nothing: the lease runs out and the row is tried again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from handlers import sms_text
from handlers.districts import describe_districts, known_districts, put_districts
from handlers.ports import Clock
from handlers.results import OutboundSms, Result
from handlers.sending import record_effects
from storage.districts import (
    AddressLookup,
    DistrictSource,
    LookupStatus,
    claim_due_lookups,
    enqueue_lookup,
    lookup_backoff,
)
from storage.models import Volunteer, VolunteerStatus
from storage.uow import SqlAlchemyUnitOfWork

log = logging.getLogger(__name__)

MAX_ADDRESS = 300


@dataclass(frozen=True, slots=True)
class AddressQuery:
    key: str  # the caller's id for the row (a lookup's id, a batch's line)
    street: str
    zip: str | None
    state: str | None


@dataclass(frozen=True, slots=True)
class GeocodeMatch:
    districts: dict[str, str]  # chamber -> short OCD id (only the chambers the geocoder gave)
    vintage: str  # e.g. census:Public_AR_Current/Current_Current


class GeocoderUnavailable(Exception):
    """Down, slow, or answering garbage: try again later (the message says which)."""


class Geocoder(Protocol):
    def lookup(self, query: AddressQuery) -> GeocodeMatch | None:
        """The districts of one address, or None when the geocoder does not know it."""
        ...

    def lookup_many(self, queries: list[AddressQuery]) -> dict[str, GeocodeMatch | None]:
        """Many at once (a batch endpoint where the geocoder has one)."""
        ...


def clean_address(text: str | None) -> str | None:
    address = " ".join((text or "").split())
    address = "".join(ch for ch in address if ch.isprintable())[:MAX_ADDRESS]
    return address or None


def take_address(
    session, volunteer: Volunteer, address: str, *, now: datetime, notify: bool, lookup: bool
) -> None:
    """Store the street line; with a geocoder on (`lookup`), queue its lookup."""
    volunteer.address = address
    if lookup:
        enqueue_lookup(session, volunteer_id=volunteer.id, notify=notify, now=now)


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: int
    volunteer_id: int
    query: AddressQuery


def drain_lookups(
    uow: Callable[[], SqlAlchemyUnitOfWork],
    geocoder: Geocoder,
    clock: Clock,
    *,
    limit: int = 20,
) -> int:
    """One pass over the due lookups; returns how many were settled (set, or no match)."""
    claimed = _claim(uow, clock, limit)
    if not claimed:
        return 0
    results: dict[str, GeocodeMatch | GeocoderUnavailable | None] = {}
    try:
        found = geocoder.lookup_many([c.query for c in claimed])
        results.update(found)
    except GeocoderUnavailable as exc:
        results = dict.fromkeys((c.query.key for c in claimed), exc)
    settled = 0
    with uow() as work:
        now = clock.now()
        for c in claimed:
            outcome = results.get(c.query.key, GeocoderUnavailable("no answer for this row"))
            settled += _settle(work.session, c, outcome, now=now)
        work.commit()
    return settled


def _claim(uow: Callable[[], SqlAlchemyUnitOfWork], clock: Clock, limit: int) -> list[_Claimed]:
    out: list[_Claimed] = []
    with uow() as work:
        now = clock.now()
        for row in claim_due_lookups(work.session, now=now, limit=limit):
            volunteer = work.session.get(Volunteer, row.volunteer_id) if row.volunteer_id else None
            if volunteer is None or not volunteer.address or volunteer.phone is None:
                row.status, row.done_at = LookupStatus.CANCELLED, now
                continue
            row.attempts += 1
            row.next_attempt_at = now + lookup_backoff(row.attempts)  # the lease, and the retry
            query = AddressQuery(str(row.id), volunteer.address, volunteer.zip, volunteer.state)
            out.append(_Claimed(row.id, volunteer.id, query))
        work.commit()
    return out


def _settle(
    session, c: _Claimed, outcome: GeocodeMatch | GeocoderUnavailable | None, *, now: datetime
) -> int:
    row = session.get(AddressLookup, c.id)
    volunteer = session.get(Volunteer, c.volunteer_id)
    if row is None or row.status != LookupStatus.PENDING or volunteer is None:
        return 0
    if volunteer.address != c.query.street:
        return 0  # the address changed meanwhile: its own lookup is queued
    if isinstance(outcome, GeocoderUnavailable):
        row.last_error = str(outcome)[:500]
        log.info("address lookup %s: geocoder unavailable (%s); retry later", row.id, outcome)
        return 0
    row.done_at = now
    if outcome is None:
        row.status = LookupStatus.NO_MATCH
        _tell(session, volunteer, row, sms_text.say("address_no_match", volunteer.language))
        return 1
    row.status = LookupStatus.DONE
    put_districts(
        session,
        volunteer.id,
        outcome.districts,
        source=DistrictSource.ADDRESS,
        vintage=outcome.vintage,
        now=now,
        replace=True,
    )
    if not row.notify:
        return 1
    described = describe_districts(known_districts(session, volunteer.id))
    if described:
        body = sms_text.say("address_districts", volunteer.language, districts=described)
    else:
        body = sms_text.say("address_no_districts", volunteer.language)
    _tell(session, volunteer, row, body)
    return 1


def _tell(session, volunteer: Volunteer, row: AddressLookup, body: str) -> None:
    if not row.notify or volunteer.phone is None or volunteer.status != VolunteerStatus.ACTIVE:
        return
    sms = OutboundSms(
        phone=volunteer.phone,
        body=body,
        kind="districts",
        idempotency_key=f"addr:{row.id}",
        volunteer_id=volunteer.id,
    )
    record_effects(session, Result(sms=[sms]))
