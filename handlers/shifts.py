"""Shifts and commitments: sign up, waitlist, drop with promotion, confirm, check in.

Every function runs inside the CALLER's unit of work (an SMS keyword, a Slack button, the console),
so the commitment and its effects commit together.

Capacity holds under concurrency on both databases: the shift row is locked first
(`SELECT ... FOR UPDATE` on PostgreSQL; on SQLite every writing transaction already holds the
database's write lock from `BEGIN IMMEDIATE`), then the seat is taken by a conditional
`UPDATE shifts SET committed_count = committed_count + 1 WHERE committed_count < capacity`, whose
row count says whether a seat was free. The CHECK constraint `committed_count <= capacity` is the
backstop. Waitlist positions are assigned under the same lock, so they are unique and ordered.

The open shifts that SHIFTS lists are read by `handlers.shift_lists`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, case, func, insert, select, update
from sqlalchemy.orm import Session, contains_eager, lazyload, make_transient_to_detached

from handlers import sms_text
from handlers.audiences import reachable
from handlers.results import OutboundSms
from storage.models import (
    Commitment,
    CommitmentStatus,
    Priority,
    Shift,
    Volunteer,
    utcnow,
)

# A commitment that holds a seat (counted in shifts.committed_count).
SEATED = (CommitmentStatus.COMMITTED, CommitmentStatus.CONFIRMED)
# A commitment that is still live: seated or waiting for a seat.
LIVE = (*SEATED, CommitmentStatus.WAITLISTED)
_MAX_ID = 2**31 - 1  # shifts.id is a 32-bit integer on PostgreSQL


class CommitStatus:
    COMMITTED = "committed"
    WAITLISTED = "waitlisted"
    ALREADY = "already"  # already committed, confirmed or waitlisted (see `commitment.status`)
    PAST = "past"  # the shift has started or ended
    CANCELLED = "cancelled"  # organizers cancelled the shift
    UNKNOWN = "unknown"  # no such shift


class DropStatus:
    DROPPED = "dropped"
    NOT_SIGNED_UP = "not_signed_up"
    PAST = "past"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class CommitOutcome:
    status: str
    shift: Shift | None = None
    commitment: Commitment | None = None


@dataclass(frozen=True, slots=True)
class DropOutcome:
    status: str
    shift: Shift | None = None
    commitment: Commitment | None = None
    was: CommitmentStatus | None = None  # the dropped commitment's status before the drop
    promoted: Commitment | None = None  # the waitlisted volunteer who got the seat
    sms: tuple[OutboundSms, ...] = field(default_factory=tuple)


# The statements a volunteer's YES, DROP, MY and C run, built once (with bound parameters) rather
# than for every text: building a statement costs about as much as running it.
_SHIFT = Shift.__table__
# The shift (locked: FOR UPDATE OF shifts) and this volunteer's commitment to it, if any. (The
# volunteer and the shift are in the session already: no joins to load them again.)
_LOCK_SHIFT = (
    select(Shift, Commitment)
    .outerjoin(
        Commitment,
        (Commitment.shift_id == Shift.id) & (Commitment.volunteer_id == bindparam("volunteer_id")),
    )
    .where(Shift.id == bindparam("shift_id"))
    .options(lazyload(Commitment.volunteer), lazyload(Commitment.shift))
    .with_for_update(of=Shift)
    .execution_options(populate_existing=True)
)
_INSERT_COMMITMENT = insert(Commitment.__table__)
_LAST_TICKET = select(func.max(Commitment.waitlist_position)).where(
    Commitment.shift_id == bindparam("shift_id")
)
# Those ahead in line whom promotion would take (`_first_in_line`: volunteers Muster may text).
_AHEAD_IN_LINE = (
    select(func.count())
    .select_from(Commitment)
    .join(Volunteer, Volunteer.id == Commitment.volunteer_id)
    .where(
        Commitment.shift_id == bindparam("shift_id"),
        Commitment.status == CommitmentStatus.WAITLISTED,
        reachable(),
        (Commitment.waitlist_position < bindparam("position"))
        | (
            (Commitment.waitlist_position == bindparam("position"))
            & (Commitment.id < bindparam("commitment_id"))
        ),
    )
)
_TAKE_SEAT = (
    update(_SHIFT)
    .where(_SHIFT.c.id == bindparam("shift_id"), _SHIFT.c.committed_count < _SHIFT.c.capacity)
    .values(committed_count=_SHIFT.c.committed_count + 1)
)
_FREE_SEAT = (
    update(_SHIFT)
    .where(_SHIFT.c.id == bindparam("shift_id"), _SHIFT.c.committed_count > 0)
    .values(committed_count=_SHIFT.c.committed_count - 1)
)


def place_in_line() -> Any:
    """A column for a query over a shift's commitments joined to their volunteers: each
    waitlisted one's place in line as `waitlist_rank` tells it (1 = next promoted, counting only
    those promotion would take), None for the rest. One running count (a window function, on
    SQLite and PostgreSQL alike), so a roster of thousands is one statement."""
    in_line = (Commitment.status == CommitmentStatus.WAITLISTED) & reachable()
    rank = func.count(case((in_line, Commitment.id))).over(
        partition_by=Commitment.shift_id, order_by=(Commitment.waitlist_position, Commitment.id)
    )
    return case((in_line, rank)).label("waitlist_rank")


def _lock_shift(
    session: Session, shift_id: int, volunteer_id: int
) -> tuple[Shift | None, Commitment | None]:
    """The shift, freshly read and locked for this transaction (no-op lock on SQLite), and the
    volunteer's commitment to it if there is one: one statement."""
    if not 0 < shift_id <= _MAX_ID:
        return None, None  # "YES 99999999999999": no such shift (and no integer overflow)
    row = session.execute(_LOCK_SHIFT, {"shift_id": shift_id, "volunteer_id": volunteer_id}).first()
    return (row[0], row[1]) if row is not None else (None, None)


def _next_ticket(session: Session, shift_id: int) -> int:
    last = session.scalar(_LAST_TICKET, {"shift_id": shift_id})
    return (last or 0) + 1


def waitlist_rank(session: Session, commitment: Commitment) -> int:
    """1-based place in line of a waitlisted commitment: 1 = the next one promoted.

    Counts only those ahead whom promotion would take (`_first_in_line`: the volunteer is active
    and has a phone, in ticket order), so a place is never held by someone who opted out.
    """
    ahead = session.scalar(
        _AHEAD_IN_LINE,
        {
            "shift_id": commitment.shift_id,
            "position": commitment.waitlist_position or 0,
            "commitment_id": commitment.id,
        },
    )
    return (ahead or 0) + 1


def _take_seat(session: Session, shift: Shift) -> bool:
    res = session.execute(_TAKE_SEAT, {"shift_id": shift.id})
    if res.rowcount == 1:
        session.expire(shift, ["committed_count"])  # re-read the database's value when asked
        return True
    return False


def commit_to_shift(
    session: Session, *, volunteer: Volunteer, shift_id: int, now: datetime, channel: str
) -> CommitOutcome:
    """Take a seat on the shift, or a place on its waitlist when it is full."""
    shift, existing = _lock_shift(session, shift_id, volunteer.id)
    if shift is None:
        return CommitOutcome(CommitStatus.UNKNOWN)
    if shift.cancelled_at is not None:
        return CommitOutcome(CommitStatus.CANCELLED, shift)
    if shift.starts_at <= now:
        return CommitOutcome(CommitStatus.PAST, shift)
    if existing is not None and existing.status in LIVE:
        return CommitOutcome(CommitStatus.ALREADY, shift, existing)

    seated = _take_seat(session, shift)
    values: dict[str, Any] = {
        "status": CommitmentStatus.COMMITTED if seated else CommitmentStatus.WAITLISTED,
        "channel": channel,
        "waitlist_position": None if seated else _next_ticket(session, shift.id),
        "created_at": now,
        "committed_at": now if seated else None,
        "reminded_at": None,
        "confirmed_at": None,
        "dropped_at": None,
        "checked_in_at": None,
    }
    if existing is None:
        commitment = _insert_commitment(
            session, volunteer_id=volunteer.id, shift_id=shift.id, **values
        )
    else:  # (dropped earlier, now back)
        commitment = existing
        for key, value in values.items():
            setattr(commitment, key, value)
        session.flush()
    status = CommitStatus.COMMITTED if seated else CommitStatus.WAITLISTED
    return CommitOutcome(status, shift, commitment)


def _insert_commitment(session: Session, **values: Any) -> Commitment:
    """A new commitment: one INSERT, and the object put in the session as the row it now is
    (`make_transient_to_detached`), as a query would have loaded it. (The unit of work's flush
    would cost several times the statement, on the keyword volunteers text most after SHIFTS.)"""
    values["updated_at"] = utcnow()  # every column given: none is left unloaded on the object
    result = session.execute(_INSERT_COMMITMENT, values)
    commitment = Commitment(id=result.inserted_primary_key[0], **values)
    make_transient_to_detached(commitment)
    session.add(commitment)
    return commitment


def drop_commitment(
    session: Session,
    *,
    volunteer: Volunteer,
    shift_id: int,
    now: datetime,
    org_name: str = "Muster",
) -> DropOutcome:
    """Withdraw from a shift. A freed seat goes to the first waitlisted volunteer who can still
    be texted; they are told by an `OutboundSms` (kind "promotion") in the outcome."""
    shift, commitment = _lock_shift(session, shift_id, volunteer.id)
    if shift is None:
        return DropOutcome(DropStatus.UNKNOWN)
    if commitment is None or commitment.status not in LIVE:
        return DropOutcome(DropStatus.NOT_SIGNED_UP, shift, commitment)
    if shift.starts_at <= now:
        return DropOutcome(DropStatus.PAST, shift, commitment)

    was = commitment.status
    commitment.status = CommitmentStatus.DROPPED
    commitment.dropped_at = now
    commitment.waitlist_position = None
    promoted: Commitment | None = None
    sms: tuple[OutboundSms, ...] = ()
    if was in SEATED and shift.cancelled_at is None:
        promoted = _first_in_line(session, shift.id)
        if promoted is not None:
            promoted.status = CommitmentStatus.COMMITTED
            promoted.committed_at = now
            promoted.waitlist_position = None
            sms = (promotion_sms(promoted, shift, org_name=org_name),)
    if was in SEATED and promoted is None:
        session.execute(_FREE_SEAT, {"shift_id": shift.id})
        session.expire(shift, ["committed_count"])
    session.flush()
    return DropOutcome(DropStatus.DROPPED, shift, commitment, was, promoted, sms)


def fill_from_waitlist(
    session: Session, shift: Shift, *, now: datetime, org_name: str
) -> list[Commitment]:
    """Seats a shift gained (its capacity raised) go to its waitlist, first in line first, each
    told as a DROP's promotion is (`promotion_sms`). Returns the promoted commitments."""
    session.flush()  # the new capacity, before the seats are taken against it
    promoted: list[Commitment] = []
    while shift.cancelled_at is None and shift.starts_at > now:
        first = _first_in_line(session, shift.id)
        if first is None or not _take_seat(session, shift):
            break
        first.status = CommitmentStatus.COMMITTED
        first.committed_at = now
        first.waitlist_position = None
        session.flush()
        promoted.append(first)
    return promoted


def _first_in_line(session: Session, shift_id: int) -> Commitment | None:
    """The waitlisted commitment with the lowest ticket whose volunteer can still be texted."""
    return session.scalars(
        select(Commitment)
        .join(Volunteer, Volunteer.id == Commitment.volunteer_id)
        .where(
            Commitment.shift_id == shift_id,
            Commitment.status == CommitmentStatus.WAITLISTED,
            reachable(),
        )
        .order_by(Commitment.waitlist_position, Commitment.id)
        .limit(1)
    ).first()


def promotion_sms(commitment: Commitment, shift: Shift, *, org_name: str) -> OutboundSms:
    volunteer = commitment.volunteer
    zone = volunteer.timezone or shift.timezone
    body = sms_text.say(
        "promoted",
        volunteer.language,
        org=org_name,
        shift=sms_text.shift_line(shift, zone, volunteer.language),
        n=shift.id,
    )
    stamp = int(commitment.committed_at.timestamp()) if commitment.committed_at else 0
    return OutboundSms(
        phone=volunteer.phone or "",
        body=body,
        kind="promotion",
        idempotency_key=f"promo:{commitment.id}:{stamp}",
        volunteer_id=volunteer.id,
        priority=int(Priority.TRANSACTIONAL),
        commitment_id=commitment.id,
        deadline=shift.starts_at,
    )


# --- Reading -----------------------------------------------------------------------------------


def _upcoming_commitments(*where: Any) -> Select[tuple[Commitment]]:
    """A volunteer's own commitments on shifts not yet over, soonest first. The volunteer is in
    the session already, so the default joined load of `Commitment.volunteer` (a whole volunteer
    row each) is left out, and the shift is read from the join the filter needs
    (`contains_eager`) rather than from a second join of the same table."""
    return (
        select(Commitment)
        .join(Shift, Shift.id == Commitment.shift_id)
        .options(lazyload(Commitment.volunteer), contains_eager(Commitment.shift))
        .where(
            Commitment.volunteer_id == bindparam("volunteer_id"),
            Shift.ends_at > bindparam("now", type_=Shift.ends_at.type),
            Shift.cancelled_at.is_(None),
            *where,
        )
        .order_by(Shift.starts_at, Shift.id)
    )


_MINE = _upcoming_commitments(Commitment.status.in_(LIVE))
_NEXT_REMINDED = _upcoming_commitments(
    Commitment.status == CommitmentStatus.COMMITTED, Commitment.reminded_at.is_not(None)
).limit(1)


def my_commitments(session: Session, *, volunteer: Volunteer, now: datetime) -> list[Commitment]:
    """The volunteer's live commitments on shifts that have not ended, soonest first."""
    return list(session.scalars(_MINE, {"volunteer_id": volunteer.id, "now": now}))


def confirm_next_reminded(
    session: Session, *, volunteer: Volunteer, now: datetime
) -> Commitment | None:
    """Confirm the soonest upcoming commitment that was reminded and not yet confirmed."""
    commitment = session.scalars(_NEXT_REMINDED, {"volunteer_id": volunteer.id, "now": now}).first()
    if commitment is not None:
        commitment.status = CommitmentStatus.CONFIRMED
        commitment.confirmed_at = now
    return commitment


def record_check_in(commitment: Commitment, *, attended: bool, now: datetime) -> None:
    """Y/N to a check-in text: attended or no-show. The seat stays counted either way."""
    commitment.status = CommitmentStatus.ATTENDED if attended else CommitmentStatus.NO_SHOW
    commitment.checked_in_at = now
