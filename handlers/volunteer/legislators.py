"""CALL: the volunteer's state representative, state senator and US representative, with their
office numbers, from the legislators directory; without districts, the question for the street
address (ADDRESS, handlers.volunteer.districts). With TWILIO_VOICE=on, the answer also offers to
connect the volunteer by phone (handlers.volunteer.patch_through)."""

from __future__ import annotations

from sqlalchemy import select

from handlers.districts import district_label, districts_of
from handlers.legislators import CALL_ORDER, TITLES, StoredLegislators, by_district
from handlers.phones import display
from handlers.volunteer import calls_to_action, patch_through
from handlers.volunteer.turn import Answer, Turn
from storage.districts import AddressLookup, LookupStatus


def call_my_legislators(t: Turn) -> Answer:
    v = t.volunteer
    assert v is not None
    known = districts_of(t.session, v.id)
    if not known:
        pending = t.session.scalar(
            select(AddressLookup.id)
            .where(AddressLookup.volunteer_id == v.id, AddressLookup.status == LookupStatus.PENDING)
            .limit(1)
        )
        return t.say("call_pending" if pending else "call_needs_address"), "call_no_districts"
    members = by_district(StoredLegislators(t.session).legislators_of(list(known.values())))
    people, missing, options = [], [], []
    for chamber in CALL_ORDER:
        district = known.get(chamber)
        if district is None:
            continue
        person = members.get(district)
        if person is None:
            missing.append(district_label(district))
            continue
        phone = f" {display(person.phone)}" if person.phone else ""
        people.append(f"{TITLES[chamber]} {person.name}{phone}")
        if person.phone:
            options.append({"title": TITLES[chamber], "name": person.name, "phone": person.phone})
    if not people:
        return t.say("call_unknown", districts="; ".join(missing)), "call_unknown"
    reply = t.say("call_known", people="; ".join(people))
    patch = patch_through.offer(t, options, calls_to_action.latest_call_to_action(t))
    return (f"{reply} {patch}" if patch else reply), "call"
