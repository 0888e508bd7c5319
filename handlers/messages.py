"""What the transports hand to the handler layer: normalized, immutable messages.

Twilio, Slack and the console each turn their own payload into one of these; nothing from a raw
Slack or Twilio payload goes further than the adapter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from storage.models import StrEnum


class Channel(StrEnum):
    SMS = "sms"
    SLACK = "slack"
    CONSOLE = "console"
    CLI = "cli"


@dataclass(frozen=True, slots=True)
class InboundText:
    """A text from a volunteer's phone (Twilio webhook, or the console's phone pane)."""

    channel: Channel
    phone: str  # E.164, already normalized by the adapter
    text: str
    received_at: datetime
    message_id: str  # Twilio MessageSid, or a console-made id; unique per message
    to: str | None = None
    opt_out_type: str | None = None  # Twilio Advanced Opt-Out: STOP, START or HELP
    from_zip: str | None = None  # Twilio's FromZip, a hint only


@dataclass(frozen=True, slots=True)
class OrganizerCommand:
    """`/muster <name> <args>` from Slack or the console's organizer pane."""

    channel: Channel
    user_id: str  # Slack user id (or "console" / "cli")
    name: str  # "shift add", "roster", "broadcast", ... ("" for a bare /muster)
    args: str  # the raw rest of the line, parsed by the handler
    issued_at: datetime
    channel_id: str | None = None  # where it was typed (never posted to if it carries PII)


@dataclass(frozen=True, slots=True)
class OrganizerAction:
    """A button press or modal submission, already reduced to a name and its values."""

    channel: Channel
    user_id: str
    name: str  # "broadcast.confirm", "broadcast.cancel", "roster.attended", "shift.submit", ...
    values: dict[str, str] = field(default_factory=dict)
    issued_at: datetime | None = None
    action_id: str | None = None  # unique per click/submission, for idempotency
