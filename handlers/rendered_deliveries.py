"""A broadcast with fields, previewed: each recipient's text rendered in Python (the samples,
the longest's segments, the cost summed over recipients, who is left out and for which field).

The deliveries themselves are rendered inside the database (`handlers.rendered_sql`), once, into
each recipient's outbox row, so a retry, a quiet-hours hold or a second worker sends exactly the
text that was rendered; a schedule's firing renders afresh (the firing is a new broadcast). Both
follow `handlers.fields` and `handlers.recipient_fields`; tests/integration/test_broadcast_fields.py
checks that what is sent is what Python renders.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from handlers.fields import template
from handlers.recipient_fields import Recipient, recipients_with_values
from handlers.segments import SegmentInfo, count_segments

SAMPLES = 3


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
