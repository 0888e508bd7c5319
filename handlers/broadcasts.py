"""Broadcasts: preview, draft, confirm (expand into the outbox), cancel.

Every function here runs inside the CALLER's unit of work (a Slack command, a button, the clock's
job), so the organizer's action, its audit entry and the outbox rows commit together or not at all.
Nothing here talks to Twilio: `expand_broadcast` writes one `deliveries` row per recipient, in one
INSERT ... SELECT, and the sender (scheduler/sender.py) takes it from there. Where a broadcast
stands afterwards is `handlers.broadcast_reports`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Integer, String, and_, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from handlers.audience_hints import nobody_reason
from handlers.audiences import (
    Audience,
    audience_condition,
    check_audience,
    parse_audience,
    reachable,
    recipients,
)
from handlers.config import OrgConfig
from handlers.errors import InvalidInput, MusterError
from handlers.fields import check_fields, has_fields
from handlers.quiet_hours import in_quiet_hours
from handlers.rendered_deliveries import preview_rendered
from handlers.rendered_sql import (
    DELIVERY_COLUMNS,
    delivery_values,
    expand_in_sql,
    insert_recipients,
)
from handlers.segments import MAX_BODY_CHARS, SegmentInfo, count_segments, non_gsm_characters
from storage.audit import audit
from storage.models import (
    Broadcast,
    BroadcastStatus,
    Delivery,
    DeliveryStatus,
    Volunteer,
)

# Twilio's US list price per outbound SMS segment on a 10DLC long code (carrier fees extra).
PRICE_PER_SEGMENT_USD = Decimal("0.0083")
SAMPLE_NAMES = 5


class UnknownBroadcastId(MusterError):
    def __init__(self, broadcast_id: int):
        super().__init__(f"There is no broadcast {broadcast_id}.")
        self.broadcast_id = broadcast_id


@dataclass(frozen=True, slots=True)
class BroadcastPreview:
    """What an organizer sees before Confirm: nothing has been written or sent yet."""

    audience: str
    recipients: int
    segments: SegmentInfo  # per message
    total_segments: int
    estimated_cost_usd: Decimal
    in_quiet_hours_now: int  # recipients whose local time is inside QUIET_HOURS (held, not lost)
    first_names: list[str] = field(default_factory=list)
    non_gsm_characters: list[str] = field(default_factory=list)  # what forced UCS-2, if anything
    # With fields: three texts as rendered, and who is left out (lacking a field, no fallback).
    samples: list[str] = field(default_factory=list)
    left_out: int = 0
    left_out_fields: dict[str, int] = field(default_factory=dict)
    nobody: str = ""  # with no recipient: why, and what the organizer may have meant

    @property
    def encoding(self) -> str:
        return self.segments.encoding

    @property
    def segments_per_message(self) -> int:
        return self.segments.segments


def check_body(body: str, *, key: str = "message") -> str:
    """The message, trimmed; InvalidInput when empty, too long, or naming an unknown field."""
    text = (body or "").strip()
    if not text:
        raise InvalidInput({key: "The message is empty."})
    if len(text) > MAX_BODY_CHARS:
        raise InvalidInput(
            {key: f"The message has {len(text)} characters; the limit is {MAX_BODY_CHARS}."}
        )
    check_fields(text, key=key)
    return text


def check_follow_up(body: str | None, *, key: str) -> str | None:
    """An `on_yes` / `on_no` follow-up: None when not given, else checked as a message is."""
    return check_body(body, key=key) if body and body.strip() else None


def preview_broadcast(
    session: Session, *, audience: str | Audience, body: str, now: datetime, org: OrgConfig
) -> BroadcastPreview:
    """Recipients, segments, encoding, cost and quiet-hours count, computed in the database."""
    aud = parse_audience(audience)
    text = check_body(body)
    check_audience(session, aud)
    info = count_segments(text)
    where = and_(reachable(), audience_condition(aud))
    by_zone = session.execute(
        select(Volunteer.timezone, func.count()).where(where).group_by(Volunteer.timezone)
    ).all()
    total = sum(n for _, n in by_zone)
    quiet = sum(
        n
        for tz, n in by_zone
        if in_quiet_hours(now, tz, org.quiet_hours, default=org.default_timezone)
    )
    names = session.scalars(
        recipients(aud).with_only_columns(Volunteer.first_name).limit(SAMPLE_NAMES)
    ).all()
    nobody = nobody_reason(session, aud) if total == 0 else ""
    if has_fields(text):
        r = preview_rendered(session, where, text)
        return BroadcastPreview(
            audience=str(aud),
            recipients=r.recipients,
            segments=r.longest,
            total_segments=r.total_segments,
            estimated_cost_usd=r.cost(PRICE_PER_SEGMENT_USD),
            in_quiet_hours_now=quiet,
            first_names=[n or "(no name yet)" for n in names],
            non_gsm_characters=non_gsm_characters(r.longest_body),
            samples=r.samples,
            left_out=r.left_out,
            left_out_fields=r.left_out_fields,
            nobody=nobody,
        )
    return BroadcastPreview(
        audience=str(aud),
        recipients=total,
        segments=info,
        total_segments=total * info.segments,
        estimated_cost_usd=PRICE_PER_SEGMENT_USD * total * info.segments,
        in_quiet_hours_now=quiet,
        first_names=[n or "(no name yet)" for n in names],
        non_gsm_characters=non_gsm_characters(text),
        nobody=nobody,
    )


def create_draft(
    session: Session,
    *,
    body: str,
    audience: str | Audience,
    created_by: str,
    now: datetime,
    deadline: datetime | None = None,
    quiet_hours_override: bool = False,
    schedule_id: int | None = None,
    run_at: datetime | None = None,
    on_yes: str | None = None,
    on_no: str | None = None,
) -> Broadcast:
    """A broadcast waiting for Confirm. Audited, including a quiet-hours override and by whom."""
    aud = parse_audience(audience)
    text = check_body(body)
    on_yes = check_follow_up(on_yes, key="on_yes")
    on_no = check_follow_up(on_no, key="on_no")
    check_audience(session, aud)
    if deadline is not None and deadline <= now:
        raise InvalidInput({"deadline": "The deadline has already passed."})
    broadcast = Broadcast(
        body=text,
        audience=str(aud),
        status=BroadcastStatus.DRAFT,
        deadline=deadline,
        quiet_hours_override=quiet_hours_override,
        created_by=created_by,
        created_at=now,
        schedule_id=schedule_id,
        run_at=run_at,
        on_yes=on_yes,
        on_no=on_no,
    )
    session.add(broadcast)
    session.flush()
    detail = {"audience": str(aud), "chars": len(text), "deadline": _iso(deadline)}
    audit(
        session,
        actor=created_by,
        action="broadcast.draft",
        at=now,
        target=_target(broadcast),
        detail=detail,
    )
    if quiet_hours_override:
        audit(
            session,
            actor=created_by,
            action="broadcast.quiet_hours_override",
            at=now,
            target=_target(broadcast),
            detail={"audience": str(aud), "stage": "draft"},
        )
    return broadcast


def confirm_broadcast(session: Session, *, broadcast_id: int, user_id: str, now: datetime) -> int:
    """Expand a draft into the outbox; a second Confirm (double click, retry) expands nothing."""
    broadcast = _locked(session, broadcast_id)
    if broadcast.status != BroadcastStatus.DRAFT:
        return 0
    broadcast.confirmed_by = user_id
    broadcast.confirmed_at = now
    count = expand_broadcast(session, broadcast, now=now)
    audit(
        session,
        actor=user_id,
        action="broadcast.confirm",
        at=now,
        target=_target(broadcast),
        detail={
            "recipients": count,
            "audience": broadcast.audience,
            "status": str(broadcast.status),
        },
    )
    if broadcast.quiet_hours_override:
        audit(
            session,
            actor=user_id,
            action="broadcast.quiet_hours_override",
            at=now,
            target=_target(broadcast),
            detail={"recipients": count, "stage": "confirm"},
        )
    return count


def expand_broadcast(session: Session, broadcast: Broadcast, *, now: datetime) -> int:
    """One delivery per reachable recipient, in ONE set-based INSERT ... SELECT.

    Idempotent: rows are keyed `bc:<broadcast>:<volunteer>` (and unique per broadcast and
    volunteer), so running it again inserts nothing. A broadcast whose deadline has passed is
    marked missed and sends nothing; a cancelled one sends nothing.
    """
    if broadcast.status in (BroadcastStatus.CANCELLED, BroadcastStatus.MISSED):
        return 0
    if broadcast.deadline is not None and broadcast.deadline <= now:
        broadcast.status = BroadcastStatus.MISSED
        session.flush()
        return 0
    aud = parse_audience(broadcast.audience)
    if has_fields(broadcast.body):
        left_out = expand_in_sql(
            session, broadcast, and_(reachable(), audience_condition(aud)), now=now
        )
        return _settle_expansion(session, broadcast, now=now, left_out=left_out)
    segments = count_segments(broadcast.body).segments
    source = select(
        *delivery_values(
            broadcast, literal(broadcast.body, String), literal(segments, Integer), now=now
        )
    ).where(reachable(), audience_condition(aud))
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    insert = dialect.insert(Delivery.__table__).from_select(DELIVERY_COLUMNS, source)
    insert_recipients(session, broadcast, insert)
    return _settle_expansion(session, broadcast, now=now)


def _settle_expansion(
    session: Session, broadcast: Broadcast, *, now: datetime, left_out: int = 0
) -> int:
    """The broadcast's count and status once its rows are written; returns the rows new."""
    # Counted, not taken from rowcount: drivers disagree on rowcount for INSERT ... SELECT.
    total = session.scalar(
        select(func.count()).select_from(Delivery).where(Delivery.broadcast_id == broadcast.id)
    )
    inserted = (total or 0) - (broadcast.recipient_count or 0)
    broadcast.recipient_count = total or 0
    broadcast.status = BroadcastStatus.QUEUED if broadcast.recipient_count else BroadcastStatus.SENT
    if left_out:
        audit(
            session,
            actor="system",
            action="broadcast.left_out",
            at=now,
            target=_target(broadcast),
            detail={"left_out": left_out, "reason": "a field without value or fallback"},
        )
    session.flush()
    return inserted


def cancel_broadcast(session: Session, *, broadcast_id: int, user_id: str, now: datetime) -> int:
    """Stop a broadcast: every row not yet handed to Twilio is cancelled. Returns that count.

    Texts already accepted by Twilio cannot be recalled; the sender claims rows only moments
    before it sends them, so that is at most what is in flight when Cancel is pressed.
    """
    broadcast = _locked(session, broadcast_id)
    if broadcast.status in (BroadcastStatus.CANCELLED, BroadcastStatus.MISSED):
        return 0
    result = session.execute(
        update(Delivery)
        .where(Delivery.broadcast_id == broadcast.id, Delivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.CANCELLED, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    count = result.rowcount or 0
    broadcast.status = BroadcastStatus.CANCELLED
    broadcast.cancelled_at = now
    broadcast.cancelled_by = user_id
    audit(
        session,
        actor=user_id,
        action="broadcast.cancel",
        at=now,
        target=_target(broadcast),
        detail={"unsent_cancelled": count},
    )
    session.flush()
    return count


def _locked(session: Session, broadcast_id: int) -> Broadcast:
    """The broadcast row, locked for this transaction (FOR UPDATE on PostgreSQL; on SQLite the
    BEGIN IMMEDIATE write lock already serializes), so two clicks cannot both act."""
    broadcast = session.execute(
        select(Broadcast)
        .where(Broadcast.id == broadcast_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if broadcast is None:
        raise UnknownBroadcastId(broadcast_id)
    return broadcast


def _target(broadcast: Broadcast) -> str:
    return f"broadcast:{broadcast.id}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
