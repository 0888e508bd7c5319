"""Volunteers and consent: the people Muster texts, how they would like to help (`volunteer_tags`),
and the append-only consent ledger (`consent_events`). One phone per volunteer is enforced by the
database.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import Base, StrEnum, enum_column, utcnow


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
