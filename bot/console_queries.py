"""What the local console's page reads (for `bot/console_web.py`'s JSON endpoints): the numbers to
pick from, what would go to the organizers' Slack inbox channel, and one phone's thread: its texts,
the bot's replies, and what the sender delivered to it through the console transport, with the
deliveries not yet sent shown as waiting.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from handlers.phones import display
from storage.models import (
    Delivery,
    DeliveryStatus,
    InboundMessage,
    SlackPost,
    Volunteer,
)

THREAD_LIMIT = 200
SHOWN_SENT = (DeliveryStatus.QUEUED, DeliveryStatus.SENT, DeliveryStatus.DELIVERED)
SHOWN_WAITING = (DeliveryStatus.PENDING, DeliveryStatus.CLAIMED)


def phones(session: Session) -> list[dict[str, Any]]:
    """The numbers to pick from: volunteers, newest activity first, with how many texts each got."""
    received = (
        select(Delivery.to_phone, func.count().label("n"))
        .where(Delivery.status.in_(SHOWN_SENT))
        .group_by(Delivery.to_phone)
        .subquery()
    )
    stmt = (
        select(Volunteer, func.coalesce(received.c.n, 0))
        .outerjoin(received, received.c.to_phone == Volunteer.phone)
        .where(Volunteer.phone.is_not(None))
        .order_by(Volunteer.updated_at.desc(), Volunteer.id.desc())
        .limit(100)
    )
    return [
        {
            "phone": v.phone,
            "display": display(v.phone),
            "name": v.first_name or "",
            "status": str(v.status),
            "zip": v.zip or "",
            "received": int(n),
        }
        for v, n in session.execute(stmt)
    ]


def inbox(session: Session) -> list[dict[str, Any]]:
    """What would go to the organizers' Slack inbox channel (free texts, sign-ups, alerts)."""
    posts = session.scalars(select(SlackPost).order_by(SlackPost.id.desc()).limit(50))
    return [
        {"id": p.id, "kind": p.kind, "text": p.text, "at": _iso(p.created_at)}
        for p in reversed(list(posts))
    ]


def thread_items(session: Session, phone: str, *, now: datetime) -> list[dict[str, Any]]:
    """One phone's conversation: its texts, the bot's replies, and the texts sent to it."""
    items: list[tuple[datetime, int, dict[str, Any]]] = []
    inbound = session.scalars(
        select(InboundMessage)
        .where(InboundMessage.from_phone == phone)
        .order_by(InboundMessage.id.desc())
        .limit(THREAD_LIMIT)
    )
    for msg in inbound:
        items.append((msg.received_at, 0, _item(f"in{msg.id}", "me", msg.body, msg.received_at)))
        if msg.reply:
            items.append(
                (msg.received_at, 1, _item(f"re{msg.id}", "bot", msg.reply, msg.received_at))
            )
    deliveries = session.scalars(
        select(Delivery)
        .where(Delivery.to_phone == phone, Delivery.status.in_(SHOWN_SENT + SHOWN_WAITING))
        .order_by(Delivery.id.desc())
        .limit(THREAD_LIMIT)
    )
    for d in deliveries:
        if d.status in SHOWN_SENT:
            at = d.sent_at or d.updated_at
            items.append((at, 2, _item(f"d{d.id}", "bot", d.body, at, kind=d.kind)))
        else:
            waiting = _item(f"w{d.id}", "bot", d.body, d.send_after, kind=d.kind)
            waiting["waiting"] = (
                f"waiting until {_iso(d.send_after)}" if d.send_after > now else "sending"
            )
            items.append((d.send_after, 3, waiting))
    items.sort(key=lambda item: (item[0], item[1]))
    return [item for _at, _order, item in items[-THREAD_LIMIT:]]


def _item(
    key: str, who: str, text: str | None, at: datetime | None, *, kind: str | None = None
) -> dict[str, Any]:
    return {"key": key, "who": who, "text": text or "", "at": _iso(at), "kind": kind}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
