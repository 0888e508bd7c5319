"""The outbox tables' persistence: inserting effect rows inside the caller's transaction, and the
queries the sender runs (claiming with SKIP LOCKED, pacing, settling, releasing).

Storage keeps no rules here: which rows may go now, and what a handler's result becomes as rows,
are decided in `handlers/sending.py`, which hands this module plain values (lists of row dicts,
sets of ids and statuses, datetimes). Inserts are idempotent on `deliveries.idempotency_key`: a
producer that runs twice (a retried webhook, two clocks, a restart) leaves one row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import (
    Broadcast,
    BroadcastStatus,
    Commitment,
    Delivery,
    DeliveryStatus,
    RateBucket,
    Shift,
    SlackPost,
    Volunteer,
)


def insert_ignoring_conflicts(session: Session, table: Any, rows: list[dict[str, Any]]) -> int:
    """INSERT ... ON CONFLICT DO NOTHING on either database; returns rows actually inserted."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    # One cached statement, executed for many rows (SQLAlchemy batches it as "insertmanyvalues"),
    # rather than a VALUES list compiled afresh for every call. Counted from RETURNING: a
    # multi-row INSERT on psycopg reports rowcount -1 (SQLAlchemy 2.1), which made a conflict look
    # like an insert.
    stmt = module.insert(table).on_conflict_do_nothing().returning(*table.primary_key.columns)
    return len(session.execute(stmt, rows).all())


def insert_deliveries(session: Session, rows: list[dict[str, Any]]) -> int:
    """Delivery rows (already complete: see handlers.sending.sms_rows); returns rows inserted."""
    return insert_ignoring_conflicts(session, Delivery.__table__, rows)


_INSERT_POST = insert(SlackPost.__table__)  # (a Core insert: no ORM bookkeeping for these rows)


def insert_posts(session: Session, rows: list[dict[str, Any]]) -> None:
    """Slack post rows (already complete: see handlers.sending.post_rows)."""
    if rows:
        session.execute(_INSERT_POST, rows)


# --- The sender's side: claiming, pacing, settling ---------------------------------------------
#
# The sender's claim (handlers.sending.claim_due) runs these queries in one short transaction,
# in a worker thread; releasing and settling are transactions of their own. On
# PostgreSQL, rows are claimed with FOR UPDATE SKIP LOCKED, so any number of workers on any number
# of machines share one outbox and no row is handed to two of them. On SQLite the same statements
# run under BEGIN IMMEDIATE (storage/db.py): the write lock serializes claimers, so the one-process
# default is just as safe. The shared pacing row (`rate_buckets`) is locked in the same
# transaction: starts are spread over time at SEND_RATE_MPS segments per second across workers.

RATE_BUCKET = "sms"
WENT = (
    DeliveryStatus.QUEUED,
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.UNDELIVERED,
)


def ensure_rate_bucket(session: Session) -> None:
    insert_ignoring_conflicts(
        session, RateBucket.__table__, [{"name": RATE_BUCKET, "next_slot": 0.0}]
    )


def lock_rate_bucket(session: Session) -> RateBucket:
    """The shared pacing row, locked until the transaction ends (every claimer takes it)."""
    return session.execute(
        select(RateBucket).where(RateBucket.name == RATE_BUCKET).with_for_update()
    ).scalar_one()


def due_rows(session: Session, *, now: datetime, limit: int) -> Sequence[Delivery]:
    """Up to `limit` pending rows due by `now`, best priority first, locked for this transaction
    (SKIP LOCKED on PostgreSQL: rows another worker is claiming are passed over, not waited for)."""
    return (
        session.execute(
            select(Delivery)
            .where(Delivery.status == DeliveryStatus.PENDING, Delivery.send_after <= now)
            .order_by(Delivery.priority, Delivery.send_after, Delivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        .scalars()
        .all()
    )


def settle_claim(
    session: Session,
    bucket: RateBucket,
    rows: Sequence[Delivery],
    changes: list[dict[str, Any]],
    *,
    claimed_ids: set[int],
    next_slot: float,
    now: datetime,
) -> None:
    """Write a claim's decisions: each row's change (`b_id` and its new fields) in one
    executemany UPDATE; broadcasts whose last rows were settled unsent are finished; the
    bucket moves to `next_slot` and the claimed rows' broadcasts are marked sending."""
    _apply(session, changes, now)
    # A broadcast whose last rows were settled here (skipped, cancelled, expired) is finished too.
    finish_broadcasts(
        session,
        {r.broadcast_id for r in rows if r.broadcast_id is not None and r.id not in claimed_ids},
    )
    if claimed_ids:
        bucket.next_slot = next_slot
        _mark_sending(
            session, {r.broadcast_id for r in rows if r.id in claimed_ids and r.broadcast_id}
        )


def _apply(session: Session, changes: list[dict[str, Any]], now: datetime) -> None:
    """One executemany UPDATE for the batch (each row its own new status and fields)."""
    if not changes:
        return
    table = Delivery.__table__
    stmt = (
        table.update()
        .where(table.c.id == bindparam("b_id"))
        .values(
            status=bindparam("status"),
            send_after=bindparam("send_after"),
            claimed_by=bindparam("claimed_by"),
            claimed_at=bindparam("claimed_at"),
            error_code=bindparam("error_code"),
            error_message=bindparam("error_message"),
            updated_at=now,
        )
    )
    session.connection().execute(stmt, changes)


def volunteers_of(session: Session, rows: Sequence[Delivery]) -> dict[Any, tuple[str, str | None]]:
    """(status, timezone) of each row's volunteer, by id and by phone (rows without an id)."""
    ids = {r.volunteer_id for r in rows if r.volunteer_id is not None}
    phones = {r.to_phone for r in rows}
    found = session.execute(
        select(Volunteer.id, Volunteer.phone, Volunteer.status, Volunteer.timezone).where(
            or_(Volunteer.id.in_(ids), Volunteer.phone.in_(phones))
        )
    ).all()
    people: dict[Any, tuple[str, str | None]] = {}
    for vid, phone, status, tz in found:
        people[vid] = (str(status), tz)
        if phone:
            people[phone] = (str(status), tz)
    return people


def seated_commitments(
    session: Session, rows: Sequence[Delivery], seated: Collection[Any]
) -> set[int]:
    """Of the rows' commitments, those whose status is one of `seated` on a shift that was not
    cancelled."""
    ids = {r.commitment_id for r in rows if r.commitment_id is not None}
    if not ids:
        return set()
    return set(
        session.scalars(
            select(Commitment.id)
            .join(Shift, Shift.id == Commitment.shift_id)
            .where(
                Commitment.id.in_(ids),
                Commitment.status.in_(seated),
                Shift.cancelled_at.is_(None),
            )
        )
    )


def cancelled_broadcasts(session: Session, rows: Sequence[Delivery]) -> set[int]:
    ids = {r.broadcast_id for r in rows if r.broadcast_id is not None}
    if not ids:
        return set()
    return set(
        session.scalars(
            select(Broadcast.id).where(
                Broadcast.id.in_(ids), Broadcast.status == BroadcastStatus.CANCELLED
            )
        )
    )


def recent_identical(
    session: Session, rows: Sequence[Delivery], since: datetime
) -> Counter[tuple[str, str]]:
    """(phone, body) of texts to the rows' numbers that went, or were claimed, since `since`."""
    found = session.execute(
        select(Delivery.to_phone, Delivery.body).where(
            Delivery.to_phone.in_({r.to_phone for r in rows}),
            or_(
                and_(Delivery.status.in_(WENT), Delivery.sent_at >= since),
                and_(Delivery.status == DeliveryStatus.CLAIMED, Delivery.claimed_at >= since),
            ),
        )
    ).all()
    return Counter((phone, body) for phone, body in found)


def _mark_sending(session: Session, broadcast_ids: set[int]) -> None:
    if broadcast_ids:
        session.execute(
            update(Broadcast)
            .where(Broadcast.id.in_(broadcast_ids), Broadcast.status == BroadcastStatus.QUEUED)
            .values(status=BroadcastStatus.SENDING)
            .execution_options(synchronize_session=False)
        )


def finish_broadcasts(session: Session, broadcast_ids: set[int]) -> None:
    """Broadcasts with nothing left to send are marked sent."""
    if not broadcast_ids:
        return
    waiting = (
        select(Delivery.id)
        .where(
            Delivery.broadcast_id == Broadcast.id,
            Delivery.status.in_((DeliveryStatus.PENDING, DeliveryStatus.CLAIMED)),
        )
        .exists()
    )
    session.execute(
        update(Broadcast)
        .where(
            Broadcast.id.in_(broadcast_ids),
            Broadcast.status.in_((BroadcastStatus.QUEUED, BroadcastStatus.SENDING)),
            ~waiting,
        )
        .values(status=BroadcastStatus.SENT)
        .execution_options(synchronize_session=False)
    )


def sending_broadcasts(session: Session) -> set[int]:
    """The broadcasts going out now (some may in fact be done: `finish_broadcasts` tells)."""
    return set(
        session.scalars(select(Broadcast.id).where(Broadcast.status == BroadcastStatus.SENDING))
    )


def release_claims(session: Session, ids: Sequence[int], *, worker: str, now: datetime) -> int:
    """Give rows this worker claimed but did not start back to the outbox, untouched."""
    if not ids:
        return 0
    result = session.execute(
        update(Delivery)
        .where(
            Delivery.id.in_(ids),
            Delivery.status == DeliveryStatus.CLAIMED,
            Delivery.claimed_by == worker,
        )
        .values(status=DeliveryStatus.PENDING, claimed_by=None, claimed_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return max(result.rowcount or 0, 0)


def release_stale_claims(
    session: Session, *, now: datetime, timeout: timedelta, dead_workers: Sequence[str] = ()
) -> int:
    """Rows claimed by a worker that died (its claim is older than `timeout`, or it is known to
    be gone) go back to the outbox. Those it had already handed to Twilio are sent again: this
    is the bounded duplicate promised after kill -9 (at most SEND_CONCURRENCY per worker)."""
    stale = Delivery.claimed_at < now - timeout
    condition = or_(stale, Delivery.claimed_by.in_(dead_workers)) if dead_workers else stale
    result = session.execute(
        update(Delivery)
        .where(Delivery.status == DeliveryStatus.CLAIMED, condition)
        .values(status=DeliveryStatus.PENDING, claimed_by=None, claimed_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return max(result.rowcount or 0, 0)


def claim_holders(session: Session) -> list[str]:
    return list(
        session.scalars(
            select(Delivery.claimed_by)
            .where(Delivery.status == DeliveryStatus.CLAIMED, Delivery.claimed_by.is_not(None))
            .distinct()
        )
    )
