"""Writing effects into the outbox tables, inside the caller's transaction.

Inserts are idempotent on `deliveries.idempotency_key`: a producer that runs twice (a retried
webhook, two clocks, a restart) leaves one row.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from handlers.results import InboxPost, OutboundSms, Result
from storage.models import Delivery, SlackPost, utcnow


def insert_ignoring_conflicts(session: Session, table: Any, rows: list[dict[str, Any]]) -> int:
    """INSERT ... ON CONFLICT DO NOTHING on either database; returns rows actually inserted."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(table).values(rows).on_conflict_do_nothing()
    # Counted from RETURNING: a multi-row INSERT on psycopg reports rowcount -1 (seen on
    # SQLAlchemy 2.1), which made a conflict look like an insert.
    stmt = stmt.returning(*table.primary_key.columns)
    return len(session.execute(stmt).all())


def sms_rows(messages: Iterable[OutboundSms]) -> list[dict[str, Any]]:
    now = utcnow()
    return [
        {
            "idempotency_key": m.idempotency_key,
            "broadcast_id": m.broadcast_id,
            "volunteer_id": m.volunteer_id,
            "commitment_id": m.commitment_id,
            "to_phone": m.phone,
            "body": m.body,
            "kind": m.kind,
            "priority": m.priority,
            "status": "pending",
            "send_after": m.send_after or now,
            "deadline": m.deadline,
            "created_at": now,
            "updated_at": now,
        }
        for m in messages
    ]


def enqueue_sms(session: Session, messages: Iterable[OutboundSms]) -> int:
    return insert_ignoring_conflicts(session, Delivery.__table__, sms_rows(messages))


def enqueue_posts(session: Session, posts: Iterable[InboxPost]) -> None:
    now = utcnow()
    rows = [
        {
            "kind": p.kind,
            "channel": p.channel,
            "volunteer_id": p.volunteer_id,
            "text": p.text,
            "blocks": p.blocks,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for p in posts
    ]
    if rows:
        session.execute(insert(SlackPost), rows)


def record_effects(session: Session, result: Result) -> Result:
    """Persist a result's effects in the current transaction; returns the result unchanged."""
    enqueue_sms(session, result.sms)
    enqueue_posts(session, result.posts)
    return result
