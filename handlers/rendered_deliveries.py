"""A broadcast with fields: one body per recipient, rendered when its delivery row is written.

`handlers.broadcasts` keeps the one set-based INSERT ... SELECT for a message without fields;
a message with fields comes here. Each recipient's text is rendered once, into their row of the
outbox, so a retry, a quiet-hours hold or a second worker sends exactly the text that was
rendered; a schedule's firing renders afresh (the firing is a new broadcast). A recipient who
lacks a field that has no fallback is left out (counted, and the preview says how many).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ColumnElement
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from handlers.fields import template
from handlers.recipient_fields import Recipient, recipients_with_values
from handlers.segments import SegmentInfo, count_segments
from storage.models import Broadcast, Delivery, DeliveryStatus, Priority

SAMPLES = 3
CHUNK = 2000


@dataclass
class RenderedPreview:
    recipients: int = 0  # who would get a text
    left_out: int = 0  # lacking a field without fallback
    left_out_fields: dict[str, int] = field(default_factory=dict)  # field -> recipients lacking it
    total_segments: int = 0
    longest: SegmentInfo = field(default_factory=lambda: count_segments(""))
    longest_body: str = ""
    samples: list[str] = field(default_factory=list)

    def cost(self, price: Decimal) -> Decimal:
        return price * self.total_segments


def rendered(
    session: Session, where: ColumnElement[bool], body: str
) -> Iterator[tuple[Recipient, str | None]]:
    """Each recipient matching `where` with their text, or None when they are left out."""
    tpl = template(body)
    for r in recipients_with_values(session, where, tpl.names):
        yield r, tpl.render(r.values)


def preview_rendered(session: Session, where: ColumnElement[bool], body: str) -> RenderedPreview:
    """Samples, the longest text's segments, segments summed over recipients, who is left out."""
    tpl, p = template(body), RenderedPreview()
    longest_units = -1
    for r, text in rendered(session, where, body):
        if text is None:
            p.left_out += 1
            for name in tpl.missing(r.values):
                p.left_out_fields[name] = p.left_out_fields.get(name, 0) + 1
            continue
        info = count_segments(text)
        p.recipients += 1
        p.total_segments += info.segments
        if (info.segments, info.units) > (p.longest.segments, longest_units):
            p.longest, p.longest_body, longest_units = info, text, info.units
        if len(p.samples) < SAMPLES:
            p.samples.append(text)
    return p


def expand_rendered(
    session: Session, broadcast: Broadcast, where: ColumnElement[bool], *, now: datetime
) -> int:
    """Write one rendered delivery per recipient who has every field; returns those left out.

    Idempotent like the set-based path: rows keyed `bc:<broadcast>:<volunteer>`, conflicts
    ignored, so running it again writes nothing (and never renders a second text for anyone)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(Delivery.__table__).on_conflict_do_nothing()
    base = {
        "broadcast_id": broadcast.id,
        "kind": broadcast.kind or "broadcast",
        "priority": int(Priority.BULK),
        "status": DeliveryStatus.PENDING.value,
        "send_after": now,
        "deadline": broadcast.deadline,
        "quiet_hours_override": bool(broadcast.quiet_hours_override),
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }
    prefix = f"bc:{broadcast.id}:"
    rows: list[dict[str, object]] = []
    left_out = 0
    for r, text in rendered(session, where, broadcast.body):
        if text is None:
            left_out += 1
            continue
        rows.append(
            {
                **base,
                "idempotency_key": prefix + str(r.volunteer_id),
                "volunteer_id": r.volunteer_id,
                "to_phone": r.phone,
                "body": text,
                "segments": max(count_segments(text).segments, 1),
            }
        )
        if len(rows) >= CHUNK:
            session.execute(stmt, rows)
            rows = []
    if rows:
        session.execute(stmt, rows)
    return left_out
