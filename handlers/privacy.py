"""Erasing a volunteer's personal data on request (`muster forget PHONE`, and Slack later).

What goes: the volunteer's name, ZIP (and the state and time zone derived from it and from the
number), tags, the bodies of their texts and of the texts sent to them, what the organizers' inbox
was told about them, and the phone number itself on every row that is not the consent ledger.

What stays, on purpose: the consent ledger (`consent_events`), which is append-only and keeps the
phone number, because it is the proof of when this person opted in and out. Erasure also counts as
a request to stop texting: unless the volunteer had opted out already (their status, or the
number's latest ledger entry, says so), an opt-out is appended to the ledger (through
`handlers.consent.record_opt_out`), whatever their status was (`active`, or `unreachable`:
imported without consent, or after a carrier error), and for a number with no volunteer on file
as well, so a later import cannot quietly sign the number up again, and the number's next texts
get no answer but HELP's until it opts in again (`handlers.volunteer.dispatch`). The volunteer's
row itself stays as an anonymous record, so that shift rosters and counts keep adding up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, delete, func, or_, select, update
from sqlalchemy.orm import Session

from handlers.consent import opted_out_on_record, record_opt_out
from handlers.phones import masked
from storage.audit import audit
from storage.chapters import drop_membership
from storage.districts import cancel_lookups, clear_districts
from storage.models import (
    Delivery,
    DeliveryStatus,
    InboundMessage,
    SlackPost,
    SlackPostStatus,
    Volunteer,
    VolunteerStatus,
    VolunteerTag,
)

ERASED = "[erased]"
# deliveries.to_phone is NOT NULL (every outbox row names its recipient); an erased row says so.
ERASED_PHONE = "erased"
ERASE_REASON = "volunteer's data erased on request"


@dataclass(frozen=True, slots=True)
class ForgetOutcome:
    """What `forget_volunteer` erased (counts of rows), for the operator and the audit log."""

    phone_masked: str
    volunteer_found: bool
    inbound_erased: int
    deliveries_erased: int
    deliveries_stopped: int
    slack_posts_erased: int
    opted_out_now: bool

    @property
    def anything_erased(self) -> bool:
        return bool(self.volunteer_found or self.inbound_erased or self.deliveries_erased)

    @property
    def anything_done(self) -> bool:
        """Something erased, or the number's opt-out recorded now."""
        return self.anything_erased or self.opted_out_now

    def summary(self) -> str:
        if not self.anything_erased:
            held = f"No volunteer, text or delivery is held for {self.phone_masked}."
            if self.opted_out_now:
                return (
                    f"{held} Its opt-out is recorded in the consent ledger all the same: "
                    "it will not be texted, nor answered but for HELP, until it opts in again."
                )
            return held
        parts = [
            f"Erased the personal data of {self.phone_masked}:",
            "volunteer profile" if self.volunteer_found else "no volunteer profile",
            f"{self.inbound_erased} texts received",
            f"{self.deliveries_erased} texts sent or queued ({self.deliveries_stopped} not sent)",
            f"{self.slack_posts_erased} inbox posts.",
            "The consent ledger keeps this number's opt-in/opt-out record, as the law requires.",
        ]
        if self.slack_posts_erased:
            parts.append("Posts already in Slack stay there: delete the volunteer's thread.")
        return " ".join(parts)

    def as_detail(self) -> dict[str, int | bool]:
        return {
            "volunteer_found": self.volunteer_found,
            "inbound_erased": self.inbound_erased,
            "deliveries_erased": self.deliveries_erased,
            "deliveries_stopped": self.deliveries_stopped,
            "slack_posts_erased": self.slack_posts_erased,
            "opted_out_now": self.opted_out_now,
        }


def forget_volunteer(
    session: Session, *, phone: str, actor: str, channel: str, now: datetime
) -> ForgetOutcome:
    """Erase what Muster holds about `phone` (E.164), inside the caller's unit of work.

    Safe to run twice: the second run finds nothing left to erase and says so.
    """
    volunteer = session.scalar(select(Volunteer).where(Volunteer.phone == phone))
    volunteer_id = volunteer.id if volunteer is not None else None
    deliveries, stopped = _erase_deliveries(session, phone, volunteer_id, now)
    opted_out_now = False
    # Whatever the status (active, or unreachable: imported without consent, or after a carrier
    # error), and whether or not a volunteer is on file for the number, unless its opt-out is on
    # record already.
    already = volunteer is not None and volunteer.status == VolunteerStatus.OPTED_OUT
    if not already and not opted_out_on_record(session, phone):
        record_opt_out(
            session,
            phone=phone,
            volunteer=volunteer,
            keyword=None,
            channel=channel,
            now=now,
            detail="asked for their data to be erased (muster forget)",
        )
        opted_out_now = True
    if volunteer is not None:
        _anonymize(session, volunteer, now)
    inbound = session.execute(
        update(InboundMessage)
        .where(_about(InboundMessage.from_phone, InboundMessage.volunteer_id, phone, volunteer_id))
        .values(from_phone=None, body=None, reply=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    posts = 0
    if volunteer_id is not None:
        session.execute(
            update(SlackPost)
            .where(
                SlackPost.volunteer_id == volunteer_id,
                SlackPost.status == SlackPostStatus.PENDING,
            )
            .values(status=SlackPostStatus.FAILED, error=ERASE_REASON)
            .execution_options(synchronize_session=False)
        )
        posts = session.execute(
            update(SlackPost)
            .where(SlackPost.volunteer_id == volunteer_id)
            .values(text=ERASED, blocks=None)
            .execution_options(synchronize_session=False)
        ).rowcount

    outcome = ForgetOutcome(
        phone_masked=masked(phone),
        volunteer_found=volunteer is not None,
        inbound_erased=inbound or 0,
        deliveries_erased=deliveries or 0,
        deliveries_stopped=stopped,
        slack_posts_erased=posts or 0,
        opted_out_now=opted_out_now,
    )
    audit(
        session,
        actor=actor,
        action="volunteer.forget",
        at=now,
        target=masked(phone),
        detail=outcome.as_detail(),
    )
    return outcome


def _about(phone_col, volunteer_col, phone: str, volunteer_id: int | None):  # type: ignore[no-untyped-def]
    if volunteer_id is None:
        return phone_col == phone
    return or_(phone_col == phone, volunteer_col == volunteer_id)


def _anonymize(session: Session, volunteer: Volunteer, now: datetime) -> None:
    session.execute(delete(VolunteerTag).where(VolunteerTag.volunteer_id == volunteer.id))
    session.expire(volunteer, ["tags"])
    volunteer.phone = None
    volunteer.first_name = None
    volunteer.email = None
    volunteer.address = None  # and the districts it gave, and any lookup still to run
    clear_districts(session, volunteer.id)
    drop_membership(session, volunteer.id)  # their chapter
    cancel_lookups(session, volunteer.id, now=now)
    volunteer.zip = None
    volunteer.state = None
    volunteer.timezone = None
    volunteer.inbox_thread_ts = None
    volunteer.forgotten_at = now
    session.flush()


def _erase_deliveries(
    session: Session, phone: str, volunteer_id: int | None, now: datetime
) -> tuple[int, int]:
    """Erase the texts sent to them; those still waiting in the outbox are not sent at all.

    One UPDATE (every SET sees the row as it was), so a sender cannot slip between two steps.
    """
    about = _about(Delivery.to_phone, Delivery.volunteer_id, phone, volunteer_id)
    pending = Delivery.status == DeliveryStatus.PENDING
    stopped = session.scalar(select(func.count()).select_from(Delivery).where(about, pending))
    erased = session.execute(
        update(Delivery)
        .where(about)
        .values(
            status=case((pending, DeliveryStatus.SKIPPED.value), else_=Delivery.status),
            error_message=case(
                (pending, ERASE_REASON),
                (Delivery.error_message.is_(None), None),
                else_=ERASED,
            ),
            to_phone=ERASED_PHONE,
            body=ERASED,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    return erased or 0, stopped or 0
