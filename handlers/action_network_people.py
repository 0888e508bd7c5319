"""People from Action Network: its webhooks (`POST /actionnetwork/webhook/{secret}`, bot/).

Action Network POSTs a batch: a JSON array of items, each one action keyed by its type
(`osdi:submission`, `osdi:signature`, `osdi:attendance`, `osdi:donation`, `action_network:action`
...) beside `action_network:sponsor` and an `idempotency_key`. Each action carries the `person`
as they entered it. For a person with a phone number, by the number's SMS `status`:

- `subscribed`: someone new becomes a volunteer (source `action_network`), the opt-in goes in the
  consent ledger from channel `action_network`, and the confirmation text is sent ("You signed up
  on our form..."). A volunteer on file without consent (`unreachable`) is subscribed the same
  way. One who texted STOP stays opted out (only their own START brings them back), and the
  organizers are told.
- `unsubscribed`: an opt-out here, in the ledger (nothing is texted: they left elsewhere); a
  number Muster never had is kept opted out, so the proof is on file.
- anything else (no status: no SMS consent given): someone new is kept as `unreachable`.

What is already on file is never overwritten (a name, email or ZIP fills a gap only). The whole
batch is one transaction, and each item's key is remembered (`processed_events`): a batch
delivered again changes nothing and texts no one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from handlers import geo, sms_text
from handlers.action_network import SOURCE, SUBSCRIBED, UNSUBSCRIBED
from handlers.action_network_writes import PERSON
from handlers.chapters import follow_zip
from handlers.config import OrgConfig
from handlers.consent import record_opt_in, record_opt_out
from handlers.district_crosswalk import apply_zip
from handlers.emails import normalized_email
from handlers.errors import InvalidInput
from handlers.onboarding_answers import INTEREST_TAGS
from handlers.phones import to_e164, zone_from_number
from handlers.ports import Clock
from handlers.results import InboxPost, OutboundSms, Result
from handlers.sending import record_effects
from storage.integrations import IntegrationWrite, WriteStatus
from storage.models import (
    ConsentEvent,
    OnboardingStep,
    Priority,
    ProcessedEvent,
    Volunteer,
    VolunteerStatus,
    VolunteerTag,
)
from storage.outbox import insert_ignoring_conflicts
from storage.uow import UnitOfWork

NOT_ACTIONS = {"action_network:sponsor", "idempotency_key"}
INTERESTS = set(INTEREST_TAGS.values())


@dataclass
class WebhookReport:
    items: int = 0
    joined: int = 0  # subscribed: new volunteers, and unreachable ones now subscribed
    unreachable: int = 0  # new, kept without SMS consent
    opted_out: int = 0
    kept_out: int = 0  # subscribed on Action Network after a STOP here: still opted out
    updated: int = 0  # on file already: gaps filled, nothing else
    stale: int = 0  # Muster's own consent news is newer (or not yet told there): kept
    duplicates: int = 0  # delivered before
    ignored: int = 0  # no person or no usable phone number

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class Person:
    phone: str
    status: str | None
    name: str | None
    email: str | None
    zip: str | None
    tags: tuple[str, ...]


def receive_webhook(
    items: list[Any], *, uow: UnitOfWork, org: OrgConfig, clock: Clock
) -> WebhookReport:
    """One webhook batch, in one transaction."""
    report = WebhookReport(items=len(items))
    now = clock.now()
    with uow:
        effects = Result()
        for item in items:
            effects = _item(uow.session, item, org=org, now=now, report=report, effects=effects)
        record_effects(uow.session, effects)
        uow.commit()
    return report


def _item(
    session: Session,
    item: Any,
    *,
    org: OrgConfig,
    now: datetime,
    report: WebhookReport,
    effects: Result,
) -> Result:
    found = _action(item)
    if found is None:
        report.ignored += 1
        return effects
    kind, action = found
    digest = _digest(item, action)
    if not remember(session, f"an.webhook:{digest}", now=now):
        report.duplicates += 1
        return effects
    person = parse_person(action["person"], action.get("add_tags"))
    if person is None:
        report.ignored += 1
        return effects
    return apply_person(session, person, kind=kind, key=digest, as_of=when(action), org=org,
                        now=now, report=report, effects=effects)  # fmt: skip


def remember(session: Session, key: str, *, now: datetime) -> bool:
    """True the first time this key is seen (it is kept in `processed_events`)."""
    return bool(insert_ignoring_conflicts(session, ProcessedEvent.__table__,
                                          [{"key": key, "at": now}]))  # fmt: skip


def apply_person(
    session: Session,
    person: Person,
    *,
    kind: str,
    key: str,
    as_of: datetime | None,
    org: OrgConfig,
    now: datetime,
    report: WebhookReport,
    effects: Result,
    announce: bool = True,
) -> Result:
    """What one person from Action Network comes to here (see the module's docstring); `key`
    names the delivery, for the confirmation text's idempotency; `as_of` is when Action Network
    knew this. Their SMS status is taken only when it is news: not when Muster has a consent
    change Action Network has not been told yet, or a later one than `as_of`. `announce`: a
    subscribe after a STOP here is told to the organizers (a webhook's fresh action)."""
    v = session.scalars(select(Volunteer).where(Volunteer.phone == person.phone)).one_or_none()
    detail = f"Action Network {kind}"
    sms: list[OutboundSms] = []
    posts: list[InboxPost] = []
    new = v is None
    if v is None:
        v = _new_volunteer(session, person, now=now)
    else:
        report.updated += int(_fill_gaps(session, v, person, now=now))
    if not new and person.status and _muster_is_newer(session, v, as_of):
        report.stale += 1
    elif person.status == SUBSCRIBED:
        if v.status == VolunteerStatus.OPTED_OUT:
            if not announce:
                return Result(sms=[*effects.sms], posts=[*effects.posts])
            report.kept_out += 1
            posts.append(InboxPost("signup", "signed up on Action Network, but had opted out "
                                   "here: still opted out (a START by text brings them back)",
                                   volunteer_id=v.id))  # fmt: skip
        elif v.status == VolunteerStatus.UNREACHABLE:
            record_opt_in(session, phone=person.phone, volunteer=v, keyword=None, channel=SOURCE,
                          now=now, detail=detail)  # fmt: skip
            report.joined += 1
            sms.append(_confirmation(v, org, key))
            posts.append(InboxPost("signup", f"joined through Action Network ({kind})",
                                   volunteer_id=v.id))  # fmt: skip
    elif person.status == UNSUBSCRIBED:
        if v.status != VolunteerStatus.OPTED_OUT:
            record_opt_out(session, phone=person.phone, volunteer=v, keyword=None, channel=SOURCE,
                           now=now, detail=detail)  # fmt: skip
            report.opted_out += 1
    elif new:
        report.unreachable += 1
    return Result(sms=[*effects.sms, *sms], posts=[*effects.posts, *posts])


def _muster_is_newer(session: Session, v: Volunteer, as_of: datetime | None) -> bool:
    untold = session.scalar(
        select(
            exists().where(
                IntegrationWrite.volunteer_id == v.id,
                IntegrationWrite.kind == PERSON,
                IntegrationWrite.status == WriteStatus.PENDING,
            )
        )
    )
    if untold or as_of is None or v.phone is None:
        return bool(untold)
    latest = session.scalar(
        select(func.max(ConsentEvent.occurred_at)).where(ConsentEvent.phone == v.phone)
    )
    return latest is not None and latest > as_of


def when(action: dict[str, Any]) -> datetime | None:
    """When Action Network last changed this action or person (`modified_date`, else
    `created_date`: ISO 8601, UTC)."""
    raw = str(action.get("modified_date") or action.get("created_date") or "")
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _action(item: Any) -> tuple[str, dict[str, Any]] | None:
    if not isinstance(item, dict):
        return None
    for kind, value in item.items():
        if (
            kind not in NOT_ACTIONS
            and isinstance(value, dict)
            and isinstance(value.get("person"), dict)
        ):
            return kind, value
    return None


def _digest(item: dict[str, Any], action: dict[str, Any]) -> str:
    """What names this delivery: Action Network's idempotency key and the action's identifiers
    (or, lacking both, the item itself)."""
    key = [item.get("idempotency_key"), action.get("identifiers")]
    if not any(key):
        key = [item]
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


def _primary(entries: Any) -> dict[str, Any]:
    rows = [e for e in entries or [] if isinstance(e, dict)]
    return next((e for e in rows if e.get("primary")), rows[0] if rows else {})


def parse_person(person: dict[str, Any], add_tags: Any = None) -> Person | None:
    """A person hash (a webhook's, or one of `GET /people`); None without a usable number."""
    numbers = [p for p in person.get("phone_numbers") or [] if isinstance(p, dict)]
    mobile = next(
        (p for p in numbers if str(p.get("number_type") or "").lower() == "mobile"),
        _primary(numbers),
    )
    phone = to_e164(str(mobile.get("number") or ""))
    if phone is None:
        return None
    name = " ".join(str(person.get(k) or "").strip() for k in ("given_name", "family_name")).strip()
    try:
        email = normalized_email(_primary(person.get("email_addresses")).get("address"))
    except InvalidInput:
        email = None
    info = geo.zip_info(str(_primary(person.get("postal_addresses")).get("postal_code") or ""))
    tags = tuple(str(t).lower() for t in add_tags or [] if str(t).lower() in INTERESTS)
    status = mobile.get("status")
    return Person(phone=phone, status=str(status) if status else None, name=name[:80] or None,
                  email=email, zip=info.zip if info else None, tags=tags)  # fmt: skip


def _new_volunteer(session: Session, person: Person, *, now: datetime) -> Volunteer:
    info = geo.zip_info(person.zip)
    step = (
        OnboardingStep.NAME
        if not person.name
        else OnboardingStep.ZIP
        if not person.zip
        else OnboardingStep.DONE
    )
    v = Volunteer(
        phone=person.phone,
        first_name=person.name,
        email=person.email,
        zip=person.zip,
        state=info.state if info else None,
        timezone=(info.timezone if info else None) or zone_from_number(person.phone),
        language="en",
        status=VolunteerStatus.UNREACHABLE,
        onboarding_step=step,
        zip_attempts=0,
        source=SOURCE,
        created_at=now,
        updated_at=now,
    )
    v.tags = [VolunteerTag(tag=t) for t in dict.fromkeys(person.tags)]
    session.add(v)
    session.flush()
    if person.zip:
        apply_zip(session, v.id, person.zip, now=now)
        follow_zip(session, v.id, person.zip, now=now)
    return v


def _fill_gaps(session: Session, v: Volunteer, person: Person, *, now: datetime) -> bool:
    """What the volunteer has not told us yet; what is on file is kept."""
    changed = False
    if person.name and not v.first_name:
        v.first_name, changed = person.name, True
    if person.email and not v.email:
        v.email, changed = person.email, True
    if person.zip and not v.zip:
        info = geo.zip_info(person.zip)
        v.zip, v.state, changed = person.zip, (info.state if info else v.state), True
        session.flush()
        apply_zip(session, v.id, person.zip, now=now)
        follow_zip(session, v.id, person.zip, now=now)
    have = {t.tag for t in v.tags}
    for tag in person.tags:
        if tag not in have:
            v.tags.append(VolunteerTag(tag=tag))
            changed = True
    if changed:
        v.updated_at = now
    return changed


def _confirmation(v: Volunteer, org: OrgConfig, digest: str) -> OutboundSms:
    assert v.phone is not None
    body = sms_text.say("form_welcome", v.language, org=org.org_name)
    if v.onboarding_step == OnboardingStep.NAME:
        body = f"{body} {sms_text.say('ask_name', v.language)}"
    elif v.onboarding_step == OnboardingStep.ZIP:
        body = f"{body} {sms_text.say('ask_zip', v.language)}"
    return OutboundSms(
        phone=v.phone,
        body=body,
        kind="confirmation",
        idempotency_key=f"an-confirm:{digest[:40]}",
        volunteer_id=v.id,
        priority=int(Priority.TRANSACTIONAL),
    )
