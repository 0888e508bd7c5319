"""What may be sent, when, and as what rows: the rules between a handler's result and the outbox.

`storage/outbox.py` keeps the persistence (inserting rows, claiming with SKIP LOCKED, pacing,
settling); this module decides and hands it plain values. A result's texts become delivery rows
here (their segment count with them) and its Slack posts become post rows. At claim time
(`claim_due`) each due row is judged: who may be sent what (opt-outs, unreachable numbers, seats
still held, cancelled broadcasts, the loop guard) and when (deadlines, quiet hours where the
volunteer lives, the zone read from the number when none is stored).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from handlers.chapters import channels_for
from handlers.phones import zone_from_number
from handlers.quiet_hours import next_allowed_time
from handlers.results import InboxPost, OutboundSms, Result
from handlers.segments import count_segments
from handlers.shifts import SEATED
from storage import outbox
from storage.models import Delivery, DeliveryStatus, VolunteerStatus, utcnow

# The kind of a text the law requires even after an opt-out: the opt-out's one confirmation, the
# answer to HELP (queued when a text kept in the spool is replayed).
COMPLIANCE = "compliance"

LOOP_GUARD_WINDOW = timedelta(minutes=5)
LOOP_GUARD_LIMIT = 20  # the 21st identical text to one number within the window fails


# --- Effects into rows ---------------------------------------------------------------------------


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


def post_rows(posts: Iterable[InboxPost]) -> list[dict[str, Any]]:
    now = utcnow()
    return [
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


def enqueue_sms(session: Session, messages: Iterable[OutboundSms]) -> int:
    """Queue texts (idempotent on their keys); returns how many rows were new."""
    return outbox.insert_deliveries(session, sms_rows(messages))


def enqueue_posts(session: Session, posts: Iterable[InboxPost]) -> None:
    """Queue Slack posts; a volunteer's post goes to their chapter's own channel when it has one
    (and to SLACK_INBOX_CHANNEL otherwise)."""
    posts = list(posts)
    if not posts:
        return
    ids = sorted({p.volunteer_id for p in posts if p.volunteer_id is not None and not p.channel})
    own = channels_for(session, ids)
    if own:
        posts = [
            replace(p, channel=own[p.volunteer_id])
            if p.volunteer_id in own and not p.channel
            else p
            for p in posts
        ]
    outbox.insert_posts(session, post_rows(posts))


def record_effects(session: Session, result: Result) -> Result:
    """Persist a result's effects in the current transaction; returns the result unchanged."""
    enqueue_sms(session, result.sms)
    enqueue_posts(session, result.posts)
    return result


# --- Claiming: what goes now -----------------------------------------------------------------


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


def claim_due(
    session: Session, *, worker: str, now: datetime, wall: float, limit: int, policy: SendPolicy
) -> Claim:
    """Claim up to `limit` due rows, best priority first, and give each a start time.

    Rows that must not go now are settled here instead, in the same transaction: the volunteer
    opted out or became unreachable (skipped), the broadcast was cancelled, the deadline passed
    (expired), the loop guard tripped (failed), or it is quiet hours where the volunteer lives
    (held: `send_after` moves to when the window opens; never dropped).
    """
    bucket = outbox.lock_rate_bucket(session)
    next_slot = max(bucket.next_slot, wall)
    if next_slot > wall + policy.horizon_s:
        return Claim([], wait=next_slot - wall - policy.horizon_s)
    rows = outbox.due_rows(session, now=now, limit=limit)
    if not rows:
        return Claim([])
    people = outbox.volunteers_of(session, rows)
    cancelled = outbox.cancelled_broadcasts(session, rows)
    seated = outbox.seated_commitments(session, rows, SEATED)
    recent = outbox.recent_identical(session, rows, now - LOOP_GUARD_WINDOW)
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
    outbox.settle_claim(
        session, bucket, rows, changes, claimed_ids={c.id for c in claimed}, next_slot=slot, now=now
    )
    return Claim(claimed, settled=len(rows) - len(claimed))


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
