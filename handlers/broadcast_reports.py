"""Where a broadcast stands: its texts by delivery status, the segments sent and their estimated
cost, and who opted out, replied or answered YES / NO since it went, for `/muster stats`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from handlers.broadcasts import PRICE_PER_SEGMENT_USD, UnknownBroadcastId
from storage.models import (
    Broadcast,
    ConsentAction,
    ConsentEvent,
    CtaResponse,
    Delivery,
    DeliveryStatus,
    InboundMessage,
)


@dataclass(frozen=True, slots=True)
class BroadcastReport:
    """Where a broadcast stands, for Slack's report and the console."""

    broadcast_id: int
    status: str
    audience: str
    body: str
    recipients: int
    queued: int  # in the outbox, not yet handed to Twilio (held for quiet hours included)
    sent: int  # accepted by Twilio, not yet reported delivered
    delivered: int
    failed: int  # failed or undelivered
    skipped: int  # opted out or unreachable by the time their turn came
    expired: int  # past the deadline before they could go
    cancelled: int
    opted_out_since: int
    replied: int
    yes: int
    no: int
    segments_sent: int

    @property
    def estimated_cost_usd(self) -> Decimal:
        return PRICE_PER_SEGMENT_USD * self.segments_sent


def broadcast_report(session: Session, broadcast_id: int) -> BroadcastReport:
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None:
        raise UnknownBroadcastId(broadcast_id)
    rows = session.execute(
        select(Delivery.status, func.count(), func.coalesce(func.sum(Delivery.segments), 0))
        .where(Delivery.broadcast_id == broadcast_id)
        .group_by(Delivery.status)
    ).all()
    counts = {DeliveryStatus(status): (n, segs) for status, n, segs in rows}

    def n(*statuses: DeliveryStatus) -> int:
        return sum(counts.get(s, (0, 0))[0] for s in statuses)

    went = (DeliveryStatus.QUEUED, DeliveryStatus.SENT, DeliveryStatus.DELIVERED,
            DeliveryStatus.UNDELIVERED)  # fmt: skip
    since = broadcast.confirmed_at or broadcast.created_at
    members = select(Delivery.volunteer_id).where(Delivery.broadcast_id == broadcast_id)
    opted_out = session.scalar(
        select(func.count(func.distinct(ConsentEvent.volunteer_id))).where(
            ConsentEvent.action == ConsentAction.OPT_OUT,
            ConsentEvent.occurred_at >= since,
            ConsentEvent.volunteer_id.in_(members),
        )
    )
    replied = session.scalar(
        select(func.count(func.distinct(InboundMessage.volunteer_id))).where(
            InboundMessage.received_at >= since, InboundMessage.volunteer_id.in_(members)
        )
    )
    answers = dict(
        session.execute(
            select(CtaResponse.answer, func.count())
            .where(CtaResponse.broadcast_id == broadcast_id)
            .group_by(CtaResponse.answer)
        ).all()
    )
    return BroadcastReport(
        broadcast_id=broadcast.id,
        status=str(broadcast.status),
        audience=broadcast.audience,
        body=broadcast.body,
        recipients=broadcast.recipient_count,
        queued=n(DeliveryStatus.PENDING, DeliveryStatus.CLAIMED),
        sent=n(DeliveryStatus.QUEUED, DeliveryStatus.SENT),
        delivered=n(DeliveryStatus.DELIVERED),
        failed=n(DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED),
        skipped=n(DeliveryStatus.SKIPPED),
        expired=n(DeliveryStatus.EXPIRED),
        cancelled=n(DeliveryStatus.CANCELLED),
        opted_out_since=opted_out or 0,
        replied=replied or 0,
        yes=answers.get("yes", 0),
        no=answers.get("no", 0),
        segments_sent=sum(counts.get(s, (0, 0))[1] for s in went),
    )
