"""Writing effects into the outbox tables, inside the caller's transaction.

Inserts are idempotent on `deliveries.idempotency_key`: a producer that runs twice (a retried
webhook, two clocks, a restart) leaves one row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, bindparam, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from handlers.phones import zone_from_number
from handlers.quiet_hours import next_allowed_time
from handlers.results import InboxPost, OutboundSms, Result
from handlers.segments import count_segments
from handlers.shifts import SEATED
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
    VolunteerStatus,
    utcnow,
)

# The kind of a text the law requires even after an opt-out: the opt-out's one confirmation, the
# answer to HELP (queued when a text kept in the spool is replayed).
COMPLIANCE = "compliance"


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
            "segments": max(count_segments(m.body).segments, 1),
            "created_at": now,
            "updated_at": now,
        }
        for m in messages
    ]


def enqueue_sms(session: Session, messages: Iterable[OutboundSms]) -> int:
    return insert_ignoring_conflicts(session, Delivery.__table__, sms_rows(messages))


_INSERT_POST = insert(SlackPost.__table__)  # (a Core insert: no ORM bookkeeping for these rows)


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
        session.execute(_INSERT_POST, rows)


def record_effects(session: Session, result: Result) -> Result:
    """Persist a result's effects in the current transaction; returns the result unchanged."""
    enqueue_sms(session, result.sms)
    enqueue_posts(session, result.posts)
    return result


# --- The sender's side: claiming, pacing, settling ---------------------------------------------
#
# Every function below is one short transaction the sender runs in a worker thread. On
# PostgreSQL, rows are claimed with FOR UPDATE SKIP LOCKED, so any number of workers on any number
# of machines share one outbox and no row is handed to two of them. On SQLite the same statements
# run under BEGIN IMMEDIATE (storage/db.py): the write lock serializes claimers, so the one-process
# default is just as safe. The shared pacing row (`rate_buckets`) is locked in the same
# transaction: starts are spread over time at SEND_RATE_MPS segments per second across workers.

RATE_BUCKET = "sms"
LOOP_GUARD_WINDOW = timedelta(minutes=5)
LOOP_GUARD_LIMIT = 20  # the 21st identical text to one number within the window fails
WENT = (
    DeliveryStatus.QUEUED,
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.UNDELIVERED,
)


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A row this worker now owns: what to send, and the wall-clock moment to start it."""

    id: int
    to_phone: str
    body: str
    segments: int
    deadline: datetime | None
    volunteer_id: int | None
    broadcast_id: int | None
    attempts: int
    start_at: float  # epoch seconds (the shared bucket's clock)


@dataclass(frozen=True, slots=True)
class Claim:
    rows: list[ClaimedDelivery]
    settled: int = 0  # rows decided without sending (held, skipped, expired, cancelled, guard)
    wait: float = 0.0  # seconds until the shared bucket has room (other workers are ahead)


@dataclass(frozen=True, slots=True)
class SendPolicy:
    """What the sender checks at claim time (from settings)."""

    quiet_hours: tuple[time, time] | None
    default_timezone: str
    rate_mps: float
    horizon_s: float = 0.5  # claim no further ahead than this


def ensure_rate_bucket(session: Session) -> None:
    insert_ignoring_conflicts(
        session, RateBucket.__table__, [{"name": RATE_BUCKET, "next_slot": 0.0}]
    )


def claim_due(
    session: Session, *, worker: str, now: datetime, wall: float, limit: int, policy: SendPolicy
) -> Claim:
    """Claim up to `limit` due rows, best priority first, and give each a start time.

    Rows that must not go now are settled here instead, in the same transaction: the volunteer
    opted out or became unreachable (skipped), the broadcast was cancelled, the deadline passed
    (expired), the loop guard tripped (failed), or it is quiet hours where the volunteer lives
    (held: `send_after` moves to when the window opens; never dropped).
    """
    bucket = session.execute(
        select(RateBucket).where(RateBucket.name == RATE_BUCKET).with_for_update()
    ).scalar_one()
    next_slot = max(bucket.next_slot, wall)
    if next_slot > wall + policy.horizon_s:
        return Claim([], wait=next_slot - wall - policy.horizon_s)
    rows = (
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
    if not rows:
        return Claim([])
    people = _volunteers_of(session, rows)
    cancelled = _cancelled_broadcasts(session, rows)
    seated = _seated_commitments(session, rows)
    recent = _recent_identical(session, rows, now)
    changes: list[dict[str, Any]] = []
    claimed: list[ClaimedDelivery] = []
    slot, rate = next_slot, policy.rate_mps
    for row in rows:
        person = people.get(row.volunteer_id) or people.get(row.to_phone)
        change = _settle_before_send(row, person, cancelled, seated, recent, now, policy)
        if change is not None:
            changes.append({"b_id": row.id, **change})
            continue
        claimed.append(
            ClaimedDelivery(
                row.id,
                row.to_phone,
                row.body,
                row.segments,
                row.deadline,
                row.volunteer_id,
                row.broadcast_id,
                row.attempts,
                slot,
            )
        )
        slot += max(row.segments, 1) / rate
        changes.append(
            {
                "b_id": row.id,
                "status": DeliveryStatus.CLAIMED.value,
                "send_after": row.send_after,
                "claimed_by": worker,
                "claimed_at": now,
                "error_code": row.error_code,
                "error_message": row.error_message,
            }
        )
    _apply(session, changes, now)
    claimed_ids = {c.id for c in claimed}
    # A broadcast whose last rows were settled here (skipped, cancelled, expired) is finished too.
    finish_broadcasts(
        session,
        {r.broadcast_id for r in rows if r.broadcast_id is not None and r.id not in claimed_ids},
    )
    if claimed:
        bucket.next_slot = slot
        _mark_sending(session, {c.broadcast_id for c in claimed if c.broadcast_id})
    return Claim(claimed, settled=len(rows) - len(claimed))


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


def _settle_before_send(
    row: Delivery,
    person: tuple[str, str | None] | None,
    cancelled: set[int],
    seated: set[int],
    recent: Counter[tuple[str, str]],
    now: datetime,
    policy: SendPolicy,
) -> dict[str, Any] | None:
    """None when the row may go now; otherwise the update that settles or holds it.

    A `compliance` text (the one confirmation of an opt-out, the answer to HELP) goes to a number
    that has opted out, and at any hour: the law asks for it. A text about a commitment (a
    reminder, a check-in, a promotion) goes only while the volunteer still holds that seat on a
    shift that is still on."""

    def to(status: DeliveryStatus, code: str | None, message: str | None, send_after=None):
        return {"status": status.value, "send_after": send_after or row.send_after,
                "claimed_by": None, "claimed_at": None, "error_code": code,
                "error_message": message}  # fmt: skip

    if row.broadcast_id is not None and row.broadcast_id in cancelled:
        return to(DeliveryStatus.CANCELLED, None, "broadcast cancelled")
    status = person[0] if person else None
    compliance = row.kind == COMPLIANCE
    if status == VolunteerStatus.OPTED_OUT.value and not compliance:
        return to(DeliveryStatus.SKIPPED, None, "opted out")
    if status == VolunteerStatus.UNREACHABLE.value:
        return to(DeliveryStatus.SKIPPED, None, "unreachable")
    if row.commitment_id is not None and row.commitment_id not in seated:
        return to(DeliveryStatus.SKIPPED, None, "no longer on the shift's roster")
    if row.deadline is not None and row.deadline <= now:
        return to(DeliveryStatus.EXPIRED, None, "deadline passed before it could go")
    if not row.quiet_hours_override and not compliance:
        tz = (person[1] if person else None) or _zone_of_number(row.to_phone)
        opens = next_allowed_time(now, tz, policy.quiet_hours, default=policy.default_timezone)
        if opens > now:
            if row.deadline is not None and opens >= row.deadline:
                return to(DeliveryStatus.EXPIRED, None, "deadline falls in quiet hours")
            return to(DeliveryStatus.PENDING, row.error_code, row.error_message, send_after=opens)
    key = (row.to_phone, row.body)
    if recent[key] >= LOOP_GUARD_LIMIT:
        return to(
            DeliveryStatus.FAILED,
            "loop_guard",
            f"more than {LOOP_GUARD_LIMIT} identical texts to this number in 5 minutes",
        )
    recent[key] += 1
    return None


@lru_cache(maxsize=20_000)
def _zone_of_number(phone: str) -> str | None:
    """For a volunteer with no stored zone: the zone of the number's area code, if only one."""
    return zone_from_number(phone)


def _volunteers_of(session: Session, rows: Sequence[Delivery]) -> dict[Any, tuple[str, str | None]]:
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


def _seated_commitments(session: Session, rows: Sequence[Delivery]) -> set[int]:
    """Of the rows' commitments, those still holding a seat on a shift that was not cancelled."""
    ids = {r.commitment_id for r in rows if r.commitment_id is not None}
    if not ids:
        return set()
    return set(
        session.scalars(
            select(Commitment.id)
            .join(Shift, Shift.id == Commitment.shift_id)
            .where(
                Commitment.id.in_(ids),
                Commitment.status.in_(SEATED),
                Shift.cancelled_at.is_(None),
            )
        )
    )


def _cancelled_broadcasts(session: Session, rows: Sequence[Delivery]) -> set[int]:
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


def _recent_identical(
    session: Session, rows: Sequence[Delivery], now: datetime
) -> Counter[tuple[str, str]]:
    since = now - LOOP_GUARD_WINDOW
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
