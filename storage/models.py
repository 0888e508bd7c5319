"""Muster's tables, as SQLAlchemy 2 typed models.

All times are stored in UTC (`UTCDateTime`); the zone a person typed a time in is kept beside it
where it matters (shifts, schedules). Uniqueness that the mission depends on is enforced by the
database itself, not by Python checks: one phone per volunteer, one commitment per volunteer and
shift, one delivery per broadcast and volunteer, one inbound row per Twilio MessageSid.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored as UTC on every database (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


StrEnum = enum.StrEnum


def enum_column(enum_cls: type[enum.Enum], length: int = 20) -> Any:
    """Enums are stored as plain strings checked by a constraint (portable, easy to extend)."""
    from sqlalchemy import Enum

    return Enum(
        enum_cls,
        native_enum=False,
        length=length,
        values_callable=lambda e: [m.value for m in e],
        create_constraint=True,
        name=enum_cls.__name__.lower(),
    )


# --- Volunteers and consent ----------------------------------------------------------------


class VolunteerStatus(StrEnum):
    ACTIVE = "active"
    OPTED_OUT = "opted_out"
    UNREACHABLE = "unreachable"


class OnboardingStep(StrEnum):
    NAME = "name"
    ZIP = "zip"
    INTERESTS = "interests"
    DONE = "done"


class Volunteer(Base):
    __tablename__ = "volunteers"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)  # E.164; None once forgotten
    first_name: Mapped[str | None] = mapped_column(String(80))
    # Personal data: shown only to organizers, never logged, erased by `muster forget`.
    email: Mapped[str | None] = mapped_column(String(254))
    # The street line (personal data, like email): for the districts' lookup; masked in logs.
    address: Mapped[str | None] = mapped_column(String(300))
    # When onboarding asked for the street address (a split ZIP): asked once, never again.
    address_asked_at: Mapped[datetime | None]
    # A member of the organization since this day (None: not a member); who may vote.
    member_since: Mapped[date | None] = mapped_column(Date, index=True)
    zip: Mapped[str | None] = mapped_column(String(5), index=True)
    state: Mapped[str | None] = mapped_column(String(2), index=True)
    timezone: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(5), default="en")
    status: Mapped[VolunteerStatus] = mapped_column(
        enum_column(VolunteerStatus), default=VolunteerStatus.ACTIVE, index=True
    )
    onboarding_step: Mapped[OnboardingStep] = mapped_column(
        enum_column(OnboardingStep), default=OnboardingStep.NAME
    )
    zip_attempts: Mapped[int] = mapped_column(Integer, default=0)
    digest_opt_in: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(40), default="sms")
    # The organizers' inbox thread for this volunteer (Slack message ts in SLACK_INBOX_CHANNEL).
    inbox_thread_ts: Mapped[str | None] = mapped_column(String(32), unique=True)
    last_ack_at: Mapped[datetime | None]
    opted_in_at: Mapped[datetime | None]
    opted_out_at: Mapped[datetime | None]
    forgotten_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    tags: Mapped[list[VolunteerTag]] = relationship(
        back_populates="volunteer", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def tag_names(self) -> list[str]:
        return sorted(t.tag for t in self.tags)


class VolunteerTag(Base):
    """How a volunteer would like to help (phonebank, canvass, ...), kept as rows so audiences
    such as `tag:canvass` expand in one set-based statement on every database."""

    __tablename__ = "volunteer_tags"

    volunteer_id: Mapped[int] = mapped_column(
        ForeignKey("volunteers.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(40), primary_key=True, index=True)

    volunteer: Mapped[Volunteer] = relationship(back_populates="tags")


class ConsentAction(StrEnum):
    OPT_IN = "opt_in"
    OPT_OUT = "opt_out"


class ConsentEvent(Base):
    """The consent ledger: append-only, the legal record of every opt-in and opt-out.

    It keeps the phone number itself (not only the volunteer id) so that the proof of an
    opt-out survives `muster forget`.
    """

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)
    volunteer_id: Mapped[int | None] = mapped_column(
        ForeignKey("volunteers.id", ondelete="SET NULL"), index=True
    )
    action: Mapped[ConsentAction] = mapped_column(enum_column(ConsentAction))
    keyword: Mapped[str | None] = mapped_column(String(160))
    channel: Mapped[str] = mapped_column(String(20))  # sms, import, twilio_error, slack, console
    message_sid: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- Shifts and commitments ----------------------------------------------------------------


class ShiftSource(StrEnum):
    MUSTER = "muster"  # made by an organizer in Muster
    MOBILIZE = "mobilize"  # one timeslot of a Mobilize event, kept by `sync_mobilize`


class Shift(Base):
    __tablename__ = "shifts"
    __table_args__ = (
        CheckConstraint("capacity >= 0", name="capacity_nonneg"),
        CheckConstraint("committed_count >= 0 AND committed_count <= capacity", name="within_cap"),
        UniqueConstraint("mobilize_event_id", "mobilize_timeslot_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str | None] = mapped_column(String(40))  # phonebank, canvass, textbank, testify
    location: Mapped[str | None] = mapped_column(String(300))
    zip: Mapped[str | None] = mapped_column(String(5), index=True)
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime] = mapped_column(index=True)  # the check-in sweep's range
    timezone: Mapped[str] = mapped_column(String(64))  # the zone it was entered in
    capacity: Mapped[int] = mapped_column(Integer)
    # Committed + confirmed seats, kept by conditional UPDATEs so capacity holds under load.
    committed_count: Mapped[int] = mapped_column(Integer, default=0)
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    cancelled_at: Mapped[datetime | None]
    # Where the shift comes from; a Mobilize shift is edited in Mobilize, never in Muster.
    source: Mapped[ShiftSource] = mapped_column(
        enum_column(ShiftSource), default=ShiftSource.MUSTER, server_default="muster"
    )
    mobilize_event_id: Mapped[int | None] = mapped_column(BigInteger)
    mobilize_timeslot_id: Mapped[int | None] = mapped_column(BigInteger)
    url: Mapped[str | None] = mapped_column(String(500))  # the event's page (Mobilize browser_url)
    # The Action Network event whose attendances this shift's sign-ups are recorded as (its id).
    action_network_event_id: Mapped[str | None] = mapped_column(String(80))
    # The district the shift works for (short OCD id, `ma/sldl:10th_bristol`), if any.
    district: Mapped[str | None] = mapped_column(String(120), index=True)

    @property
    def spots_left(self) -> int:
        return max(self.capacity - self.committed_count, 0)


class CommitmentStatus(StrEnum):
    COMMITTED = "committed"
    WAITLISTED = "waitlisted"
    CONFIRMED = "confirmed"
    DROPPED = "dropped"
    ATTENDED = "attended"
    NO_SHOW = "no_show"


class Commitment(Base):
    __tablename__ = "commitments"
    __table_args__ = (
        UniqueConstraint("volunteer_id", "shift_id"),
        Index("ix_commitments_shift_status", "shift_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="CASCADE"))
    shift_id: Mapped[int] = mapped_column(ForeignKey("shifts.id", ondelete="CASCADE"))
    status: Mapped[CommitmentStatus] = mapped_column(enum_column(CommitmentStatus))
    channel: Mapped[str] = mapped_column(String(20), default="sms")
    # Waitlist order: lower first. Set from a sequence-like max()+1 inside the shift's lock.
    waitlist_position: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    committed_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    confirmed_at: Mapped[datetime | None]
    dropped_at: Mapped[datetime | None]
    checked_in_at: Mapped[datetime | None]  # attended / no-show recorded
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    volunteer: Mapped[Volunteer] = relationship(lazy="joined")
    shift: Mapped[Shift] = relationship(lazy="joined")


# --- Calls to action, broadcasts and their timetable ----------------------------------------


class ScheduleStatus(StrEnum):
    ACTIVE = "active"
    DONE = "done"
    CANCELLED = "cancelled"


class Schedule(Base):
    """A broadcast planned ahead: once (`run_at`) or recurring (`cron`, in `timezone`).

    Organizers write these rows; the clock alone turns them into APScheduler jobs.
    """

    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    audience: Mapped[str] = mapped_column(String(200))
    run_at: Mapped[datetime | None]
    cron: Mapped[str | None] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20), default="broadcast")  # broadcast, digest
    deadline_minutes: Mapped[int | None] = mapped_column(Integer)
    quiet_hours_override: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[ScheduleStatus] = mapped_column(
        enum_column(ScheduleStatus), default=ScheduleStatus.ACTIVE, index=True
    )
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)
    last_fired_at: Mapped[datetime | None]
    # When run_at / cron / timezone were last set: fire times before it belong to an older
    # timetable and are neither sent nor reported as missed.
    timing_set_at: Mapped[datetime | None]
    # A call to action's follow-ups, texted once in answer to a bare YES or NO (with fields).
    on_yes: Mapped[str | None] = mapped_column(Text)
    on_no: Mapped[str | None] = mapped_column(Text)


class BroadcastStatus(StrEnum):
    DRAFT = "draft"  # previewed, waiting for Confirm
    QUEUED = "queued"  # deliveries expanded into the outbox
    SENDING = "sending"
    SENT = "sent"
    CANCELLED = "cancelled"
    MISSED = "missed"  # a schedule fired too late to go out; reported, not sent


class Broadcast(Base):
    """One call to action going out to one audience (a firing of a schedule, or sent now)."""

    __tablename__ = "broadcasts"
    __table_args__ = (UniqueConstraint("schedule_id", "run_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("schedules.id", ondelete="SET NULL"))
    run_at: Mapped[datetime | None]  # the schedule's fire time this broadcast is for
    body: Mapped[str] = mapped_column(Text)
    audience: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="broadcast")
    status: Mapped[BroadcastStatus] = mapped_column(
        enum_column(BroadcastStatus), default=BroadcastStatus.DRAFT, index=True
    )
    is_call_to_action: Mapped[bool] = mapped_column(Boolean, default=True)
    deadline: Mapped[datetime | None]  # not sent after this
    quiet_hours_override: Mapped[bool] = mapped_column(Boolean, default=False)
    recipient_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str | None] = mapped_column(String(40))
    confirmed_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    cancelled_by: Mapped[str | None] = mapped_column(String(40))
    # Follow-ups texted once in answer to a bare YES or NO (fields rendered for the volunteer).
    on_yes: Mapped[str | None] = mapped_column(Text)
    on_no: Mapped[str | None] = mapped_column(Text)


class CtaResponse(Base):
    """A volunteer's bare YES / NO to the latest call to action sent to them."""

    __tablename__ = "cta_responses"
    __table_args__ = (UniqueConstraint("broadcast_id", "volunteer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"))
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="CASCADE"))
    answer: Mapped[str] = mapped_column(String(10))  # yes / no
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- The outbox ------------------------------------------------------------------------------


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting to be claimed (maybe held for quiet hours or a retry)
    CLAIMED = "claimed"  # a sender has it in flight
    QUEUED = "queued"  # accepted by Twilio (queued / accepted)
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    CANCELLED = "cancelled"  # broadcast cancelled before this went
    EXPIRED = "expired"  # past its deadline before it could go
    SKIPPED = "skipped"  # the volunteer opted out / became unreachable before send


class Priority(enum.IntEnum):
    TRANSACTIONAL = 0  # waitlist promotions, organizer replies, confirmations
    REMINDER = 1
    BULK = 5  # broadcasts


class Delivery(Base):
    """One text to one volunteer: the outbox row the sender claims, sends and tracks.

    `idempotency_key` makes every producer's insert idempotent: `bc:<broadcast>:<volunteer>`,
    `rem:<commitment>:<kind>`, `promo:<commitment>`, `reply:<slack event id>` ...
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "volunteer_id"),
        Index("ix_deliveries_due", "status", "priority", "send_after"),
        Index("ix_deliveries_to_phone_created", "to_phone", "created_at"),
        # Unique among rows with a sid: every row is written without one (NULLs never conflict).
        Index(
            "uq_deliveries_provider_sid",
            "provider_sid",
            unique=True,
            postgresql_where=text("provider_sid IS NOT NULL"),
            sqlite_where=text("provider_sid IS NOT NULL"),
        ),
        # Only reminders and check-ins name a commitment: the index leaves out the rest (a
        # broadcast's 100,000 rows), which it would otherwise grow by at every expansion.
        Index(
            "ix_deliveries_commitment_id",
            "commitment_id",
            postgresql_where=text("commitment_id IS NOT NULL"),
            sqlite_where=text("commitment_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    # (Found by the unique (broadcast_id, volunteer_id), which leads with it: no index of its own.)
    broadcast_id: Mapped[int | None] = mapped_column(
        ForeignKey("broadcasts.id", ondelete="CASCADE")
    )
    volunteer_id: Mapped[int | None] = mapped_column(
        ForeignKey("volunteers.id", ondelete="SET NULL"), index=True
    )
    # Reminders and check-ins name the commitment they are about (a Y/N answers the latest one).
    commitment_id: Mapped[int | None] = mapped_column(
        ForeignKey("commitments.id", ondelete="SET NULL")
    )
    to_phone: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20))  # broadcast, reminder, promotion, reply, ...
    priority: Mapped[int] = mapped_column(Integer, default=int(Priority.BULK))
    status: Mapped[DeliveryStatus] = mapped_column(
        enum_column(DeliveryStatus), default=DeliveryStatus.PENDING
    )
    send_after: Mapped[datetime] = mapped_column(default=utcnow)
    deadline: Mapped[datetime | None]
    quiet_hours_override: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claimed_at: Mapped[datetime | None]
    provider_sid: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[str | None] = mapped_column(String(20))
    error_message: Mapped[str | None] = mapped_column(Text)
    segments: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SlackPostStatus(StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    FAILED = "failed"


class SlackPost(Base):
    """A post for the organizers' Slack, kept until Slack accepts it (retried, never lost)."""

    __tablename__ = "slack_posts"
    __table_args__ = (Index("ix_slack_posts_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))  # inbox, signup, drop, alert, unconfirmed ...
    channel: Mapped[str | None] = mapped_column(String(40))  # None: SLACK_INBOX_CHANNEL
    volunteer_id: Mapped[int | None] = mapped_column(
        ForeignKey("volunteers.id", ondelete="SET NULL"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    blocks: Mapped[list[Any] | None] = mapped_column(JSON)
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[SlackPostStatus] = mapped_column(
        enum_column(SlackPostStatus), default=SlackPostStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    posted_ts: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SlackReplyMark(Base):
    """An organizer's reply in a volunteer's inbox thread, and the text it became
    (`deliveries.idempotency_key`): the poster reacts on the reply once the text went or failed."""

    __tablename__ = "slack_reply_marks"

    delivery_key: Mapped[str] = mapped_column(String(120), primary_key=True)
    channel: Mapped[str] = mapped_column(String(40))
    message_ts: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str | None] = mapped_column(String(20), index=True)  # None until marked
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- Inbound, audit, coordination -------------------------------------------------------------


class InboundMessage(Base):
    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    message_sid: Mapped[str] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(20), default="sms")
    from_phone: Mapped[str | None] = mapped_column(String(20), index=True)
    to_phone: Mapped[str | None] = mapped_column(String(20))
    body: Mapped[str | None] = mapped_column(Text)
    volunteer_id: Mapped[int | None] = mapped_column(
        ForeignKey("volunteers.id", ondelete="SET NULL"), index=True
    )
    intent: Mapped[str | None] = mapped_column(String(30))
    reply: Mapped[str | None] = mapped_column(Text)  # what we answered, to answer a retry the same
    opt_out_type: Mapped[str | None] = mapped_column(String(10))
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(80))  # Slack user id, "cli", "system"
    action: Mapped[str] = mapped_column(String(60), index=True)
    target: Mapped[str | None] = mapped_column(String(120))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ProcessedEvent(Base):
    """Slack event ids and button clicks already acted on (Slack retries; Bolt does not dedupe)."""

    __tablename__ = "processed_events"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Lease(Base):
    """A named lease (the clock's leadership): only the holder acts until it expires."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    holder: Mapped[str] = mapped_column(String(120))
    expires_at: Mapped[datetime]
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)


class RateBucket(Base):
    """Shared pacing for every sender process: the next free start time, in epoch seconds."""

    __tablename__ = "rate_buckets"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    next_slot: Mapped[float] = mapped_column(Float, default=0.0)
