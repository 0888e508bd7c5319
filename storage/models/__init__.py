"""Muster's core tables, as SQLAlchemy 2 typed models, one module per feature: `volunteers`
(volunteers, their tags, the consent ledger), `shifts` (shifts and commitments), `broadcasts`
(schedules, broadcasts, answers to calls to action), `outbox` (texts and Slack posts waiting to
go), `bookkeeping` (inbound texts, the audit log, what the processes share); `base` holds `Base`
and the column pieces. Importing the package declares them all on `Base.metadata`; the tables of
other features join it in `storage/schema.py`.

All times are stored in UTC (`UTCDateTime`); the zone a person typed a time in is kept beside it
where it matters (shifts, schedules). Uniqueness that the mission depends on is enforced by the
database itself, not by Python checks: one phone per volunteer, one commitment per volunteer and
shift, one delivery per broadcast and volunteer, one inbound row per Twilio MessageSid.
"""

from storage.models.base import Base, StrEnum, UTCDateTime, enum_column, utcnow
from storage.models.bookkeeping import AuditEntry, InboundMessage, Lease, ProcessedEvent, RateBucket
from storage.models.broadcasts import (
    Broadcast,
    BroadcastStatus,
    CtaResponse,
    Schedule,
    ScheduleStatus,
)
from storage.models.outbox import (
    Delivery,
    DeliveryStatus,
    Priority,
    SlackPost,
    SlackPostStatus,
    SlackReplyMark,
)
from storage.models.shifts import Commitment, CommitmentStatus, Shift, ShiftSource
from storage.models.volunteers import (
    ConsentAction,
    ConsentEvent,
    OnboardingStep,
    Volunteer,
    VolunteerStatus,
    VolunteerTag,
)

__all__ = [
    "AuditEntry",
    "Base",
    "Broadcast",
    "BroadcastStatus",
    "Commitment",
    "CommitmentStatus",
    "ConsentAction",
    "ConsentEvent",
    "CtaResponse",
    "Delivery",
    "DeliveryStatus",
    "InboundMessage",
    "Lease",
    "OnboardingStep",
    "Priority",
    "ProcessedEvent",
    "RateBucket",
    "Schedule",
    "ScheduleStatus",
    "Shift",
    "ShiftSource",
    "SlackPost",
    "SlackPostStatus",
    "SlackReplyMark",
    "StrEnum",
    "UTCDateTime",
    "Volunteer",
    "VolunteerStatus",
    "VolunteerTag",
    "enum_column",
    "utcnow",
]
