"""What handlers give back: a reply to the sender plus effects for others.

Effects are persisted in the outbox (`handlers.sending.record_effects`) inside the handler's own
transaction, so a crash after commit loses none of them and a rollback sends none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.models import Priority


@dataclass(frozen=True, slots=True)
class OutboundSms:
    """A text for the sender to deliver later, through the outbox."""

    phone: str
    body: str
    kind: str  # promotion, reply, reminder, confirmation, broadcast, ...
    idempotency_key: str
    volunteer_id: int | None = None
    priority: int = int(Priority.TRANSACTIONAL)
    broadcast_id: int | None = None
    commitment_id: int | None = None
    send_after: datetime | None = None
    deadline: datetime | None = None


@dataclass(frozen=True, slots=True)
class InboxPost:
    """A post for the organizers' Slack inbox channel (delivered, and retried, by the poster)."""

    kind: str  # inbox (a volunteer's free text), signup, drop, alert, flagged, unconfirmed ...
    text: str
    volunteer_id: int | None = None
    blocks: list[dict[str, Any]] | None = None
    channel: str | None = None  # None means SLACK_INBOX_CHANNEL


@dataclass(frozen=True, slots=True)
class Result:
    """A handler's answer. `reply` goes back on the channel the message came from."""

    reply: str | None = None
    sms: tuple[OutboundSms, ...] = ()
    posts: tuple[InboxPost, ...] = ()
    view: Any = None  # organizer handlers: a typed view that bot/ renders (Block Kit, console)
    intent: str | None = None  # what the handler understood, for records and metrics

    def with_effects(
        self, *, sms: tuple[OutboundSms, ...] = (), posts: tuple[InboxPost, ...] = ()
    ) -> Result:
        return Result(
            reply=self.reply,
            sms=self.sms + sms,
            posts=self.posts + posts,
            view=self.view,
            intent=self.intent,
        )
