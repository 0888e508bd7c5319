"""Action Network, as the handler layer sees it: the port, and a volunteer as Action Network's
person hash.

The port (`ActionNetworkApi`) is implemented by `bot.action_network_api.ActionNetworkHttpApi`
(API v2, `OSDI-API-Token`, at most 4 requests a second) and, in tests, reached through a fake
Action Network server. Muster writes two things there, both through the integration outbox
(`handlers.action_network_writes`): a person (the person signup helper, `POST /people`), and an
attendance at an Action Network event (the record attendance helper,
`POST /events/{id}/attendances`). People come back by webhook (`handlers.action_network_people`).

`person_hash` is built when the write is sent, from the volunteer as they are then: the phone's
`status` is what Muster's consent ledger says at that moment (`subscribed` after an opt-in,
`unsubscribed` after an opt-out; none when the ledger has nothing), tags are their interests,
and their districts and chapter are custom fields.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.districts import districts_of
from handlers.peers import WriteOutcome
from storage.chapters import chapters_of
from storage.models import ConsentAction, ConsentEvent, Volunteer

SOURCE = "action_network"  # volunteers.source and consent_events.channel for what came from there
# Custom fields Muster fills on Action Network, named as Muster's CSV columns are.
DISTRICT_FIELDS = {
    "cd": "congressional_district",
    "sldu": "state_senate_district",
    "sldl": "state_house_district",
}
SUBSCRIBED, UNSUBSCRIBED = "subscribed", "unsubscribed"


class ActionNetworkApi(Protocol):
    """Action Network's API v2, as far as Muster uses it. Writes are tried once; the
    integration outbox retries them (a WriteOutcome says whether that is worth it). Reads raise
    PeerError when they fail."""

    def list_people(self, *, modified_since: datetime | None) -> Iterable[dict[str, Any]]:
        """Person hashes (as `GET /people` gives them), every page, changed since then."""
        ...

    def signup_person(self, body: dict[str, Any]) -> WriteOutcome: ...

    def record_attendance(self, *, event_id: str, body: dict[str, Any]) -> WriteOutcome: ...


def sms_status(session: Session, phone: str | None) -> str | None:
    """The phone's SMS status on Action Network, from the latest entry in the consent ledger."""
    if not phone:
        return None
    latest = session.scalars(
        select(ConsentEvent.action)
        .where(ConsentEvent.phone == phone)
        .order_by(ConsentEvent.occurred_at.desc(), ConsentEvent.id.desc())
        .limit(1)
    ).first()
    if latest is None:
        return None
    return SUBSCRIBED if latest == ConsentAction.OPT_IN else UNSUBSCRIBED


def an_number(phone: str) -> str:
    """Action Network keeps numbers as digits with the country code (16175551234)."""
    return phone.removeprefix("+")


def person_hash(session: Session, volunteer: Volunteer) -> dict[str, Any]:
    """The `person` of a signup or attendance helper POST, from the volunteer as they are now."""
    given, _, family = (volunteer.first_name or "").strip().partition(" ")
    person: dict[str, Any] = {}
    if given:
        person["given_name"] = given
    if family.strip():
        person["family_name"] = family.strip()
    if volunteer.email:
        person["email_addresses"] = [{"address": volunteer.email}]
    if volunteer.phone:
        number: dict[str, Any] = {"number": an_number(volunteer.phone), "number_type": "Mobile"}
        status = sms_status(session, volunteer.phone)
        if status is not None:
            number["status"] = status
        person["phone_numbers"] = [number]
    if volunteer.zip:
        address: dict[str, Any] = {"postal_code": volunteer.zip, "country": "US"}
        if volunteer.state:
            address["region"] = volunteer.state
        person["postal_addresses"] = [address]
    fields = custom_fields(session, volunteer)
    if fields:
        person["custom_fields"] = fields
    return person


def custom_fields(session: Session, volunteer: Volunteer) -> dict[str, str]:
    """Districts (short OCD ids) and the chapter (its slug) as custom fields."""
    known = districts_of(session, volunteer.id)
    fields = {name: known[chamber] for chamber, name in DISTRICT_FIELDS.items() if chamber in known}
    chapter = chapters_of(session, [volunteer.id]).get(volunteer.id)
    if chapter is not None:
        fields["chapter"] = chapter.slug
    return fields


def helper_body(session: Session, volunteer: Volunteer) -> dict[str, Any]:
    """A person signup (or record attendance) helper body: the person and their interests."""
    body: dict[str, Any] = {"person": person_hash(session, volunteer)}
    tags = volunteer.tag_names
    if tags:
        body["add_tags"] = tags
    return body
