"""Mobilize events become Muster shifts: one shift per event timeslot, kept current by a sync.

The port (`MobilizeApi`) is implemented by `bot.mobilize_api.MobilizeHttpApi` (the public API,
rate-limited and paged) and, in tests, reached through a fake Mobilize server. `sync_mobilize`
reads the events changed since the last good run (`updated_since`, only timeslots still to come:
`timeslot_start=gte_now`) and the events deleted since then, and in one transaction:

- creates a shift for each new timeslot (title, location and ZIP, times and zone, capacity from
  `max_attendees`, the event's URL), marked `source=mobilize` with the event and timeslot ids;
- updates a shift whose event changed; when its time or place moved, every volunteer committed to
  it (or waiting for a seat) is told, once for that move;
- cancels the shifts of deleted events, and of timeslots an event no longer has, telling their
  volunteers once.

Running it again with nothing changed in Mobilize changes nothing and tells no one: every write
compares first, and every text carries an idempotency key naming what it is about.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.config import OrgConfig
from handlers.mobilize_outbox import enqueue_attendance
from handlers.peers import PeerError, WriteOutcome
from handlers.ports import Clock
from handlers.results import OutboundSms, Result
from handlers.sending import record_effects
from handlers.shift_changes import tell_volunteers
from handlers.shifts import fill_from_waitlist, promotion_sms
from storage.integrations import Integration, SyncRun, last_good_run, start_run
from storage.models import Shift, ShiftSource
from storage.uow import UnitOfWork

# A timeslot without `max_attendees` takes any number of volunteers; Muster's shifts need a number.
UNLIMITED = 1000
# Mobilize event types and the shift kinds Muster already uses for the same work.
KINDS = {
    "CANVASS": "canvass",
    "COMMUNITY_CANVASS": "canvass",
    "PHONE_BANK": "phonebank",
    "TEXT_BANK": "textbank",
    "ADVOCACY_CALL": "phonebank",
}


@dataclass(frozen=True, slots=True)
class MobilizeTimeslot:
    id: int
    start: datetime  # aware, UTC
    end: datetime
    max_attendees: int | None = None
    is_full: bool = False


@dataclass(frozen=True, slots=True)
class MobilizeEvent:
    """The fields of Mobilize's Event object that a shift is made of."""

    id: int
    title: str
    timezone: str
    browser_url: str | None
    modified_date: int  # Unix time
    event_type: str | None = None
    venue: str | None = None
    address_lines: tuple[str, ...] = ()
    locality: str | None = None
    region: str | None = None
    postal_code: str | None = None
    timeslots: tuple[MobilizeTimeslot, ...] = ()

    @property
    def location(self) -> str | None:
        street = ", ".join(line for line in self.address_lines if line)
        town = " ".join(part for part in (self.locality, self.region) if part)
        text = ", ".join(part for part in (self.venue, street, town) if part)
        return text[:300] or None


@dataclass(frozen=True, slots=True)
class DeletedEvent:
    id: int
    deleted_date: int  # Unix time


class MobilizeApi(Protocol):
    """Mobilize's public API, as far as Muster uses it. Reads raise PeerError when they fail."""

    def list_events(self, *, updated_since: int | None) -> Iterable[MobilizeEvent]: ...

    def list_deleted_events(self, *, updated_since: int | None) -> Iterable[DeletedEvent]: ...

    def create_attendance(self, *, event_id: int, body: dict[str, object]) -> WriteOutcome: ...

    def cancel_attendance(self, *, event_id: int, attendance_id: int) -> WriteOutcome: ...


@dataclass
class SyncReport:
    created: int = 0
    updated: int = 0
    cancelled: int = 0
    told: int = 0
    promoted: int = 0  # moved up from a waitlist into seats Mobilize added
    error: str | None = None
    sms: list[OutboundSms] = field(default_factory=list)

    @property
    def changes(self) -> dict[str, int]:
        return {
            "created": self.created,
            "updated": self.updated,
            "cancelled": self.cancelled,
            "told": self.told,
        }

    @property
    def summary(self) -> str:
        if self.error:
            return f"failed: {self.error}"
        if not (self.created or self.updated or self.cancelled):
            return "no changes"
        parts = [
            f"{n} shift{'s' if n != 1 else ''} {what}"
            for n, what in (
                (self.created, "created"),
                (self.updated, "updated"),
                (self.cancelled, "cancelled"),
            )
            if n
        ]
        told = f"; {self.told} volunteer{'s' if self.told != 1 else ''} told" if self.told else ""
        if self.promoted:
            told += f"; {self.promoted} moved up from the waitlist"
        return ", ".join(parts) + told


def sync_mobilize(
    *, uow: UnitOfWork, org: OrgConfig, clock: Clock, mobilize: MobilizeApi
) -> SyncReport:
    """One sync run: read what changed in Mobilize, apply it, record the run (also on failure)."""
    started = clock.now()
    with uow:
        previous = last_good_run(uow.session, Integration.MOBILIZE)
        since = previous.cursor if previous is not None else None
    try:  # (reads happen outside any transaction: no lock is held while Mobilize answers)
        events = list(mobilize.list_events(updated_since=since))
        deleted = list(mobilize.list_deleted_events(updated_since=since))
    except PeerError as exc:
        report = SyncReport(error=str(exc))
        with uow:
            _finish(
                start_run(uow.session, integration=Integration.MOBILIZE, now=started),
                report,
                cursor=since,
                now=clock.now(),
            )
            uow.commit()
        return report
    with uow:
        session = uow.session
        run = start_run(session, integration=Integration.MOBILIZE, now=started)
        report = SyncReport()
        for event in events:
            _apply_event(session, event, report=report, org=org, now=started)
        for gone in deleted:
            for shift in _shifts_of(session, gone.id):
                _cancel(session, shift, report=report, org=org, now=started)
        cursor = max(
            [since or 0, *(e.modified_date for e in events), *(d.deleted_date for d in deleted)]
        )
        record_effects(session, Result(sms=tuple(report.sms)))
        _finish(run, report, cursor=cursor or None, now=clock.now())
        uow.commit()
    return report


def _finish(run: SyncRun, report: SyncReport, *, cursor: int | None, now: datetime) -> None:
    run.finished_at = now
    run.ok = report.error is None
    run.cursor = cursor
    run.changes = report.changes
    run.summary = report.summary
    run.error = report.error


def _shifts_of(session: Session, event_id: int) -> list[Shift]:
    return list(
        session.scalars(select(Shift).where(Shift.mobilize_event_id == event_id).with_for_update())
    )


def capacity_of(slot: MobilizeTimeslot, committed: int) -> int:
    """Muster's seats for a timeslot: `max_attendees` (or many); none left once Mobilize says it
    is full (Mobilize counts sign-ups Muster never sees). Never below the seats already taken."""
    if slot.is_full:
        return committed
    return max(slot.max_attendees if slot.max_attendees is not None else UNLIMITED, committed)


def _apply_event(
    session: Session, event: MobilizeEvent, *, report: SyncReport, org: OrgConfig, now: datetime
) -> None:
    existing = {s.mobilize_timeslot_id: s for s in _shifts_of(session, event.id)}
    kind = KINDS.get(event.event_type or "", (event.event_type or "").lower() or None)
    zip5 = (event.postal_code or "")[:5] or None
    for slot in event.timeslots:
        shift = existing.pop(slot.id, None)
        fields = {
            "title": event.title[:200],
            "kind": kind,
            "location": event.location,
            "zip": zip5 if zip5 and zip5.isdigit() else None,
            "starts_at": slot.start,
            "ends_at": slot.end,
            "timezone": event.timezone,
            "url": event.browser_url,
        }
        if shift is None:
            session.add(
                Shift(
                    **fields,
                    capacity=capacity_of(slot, 0),
                    committed_count=0,
                    tags=[kind] if kind else [],
                    source=ShiftSource.MOBILIZE,
                    mobilize_event_id=event.id,
                    mobilize_timeslot_id=slot.id,
                    created_by="mobilize",
                    created_at=now,
                )
            )
            report.created += 1
            continue
        fields["capacity"] = capacity_of(slot, shift.committed_count)
        changed = {k: v for k, v in fields.items() if getattr(shift, k) != v}
        if not changed:
            continue
        moved = bool({"starts_at", "ends_at", "location"} & changed.keys())
        raised = fields["capacity"] > shift.capacity
        for name, value in changed.items():
            setattr(shift, name, value)
        report.updated += 1
        if moved and shift.cancelled_at is None:
            _tell(session, shift, report=report, org=org, moved=True)
        if raised:
            _promote(session, shift, report=report, org=org, now=now)
    for shift in existing.values():  # timeslots the event no longer has
        if shift.starts_at > now:
            _cancel(session, shift, report=report, org=org, now=now)


def _promote(
    session: Session, shift: Shift, *, report: SyncReport, org: OrgConfig, now: datetime
) -> None:
    """Seats Mobilize added (a higher `max_attendees`, a slot no longer full) go to the shift's
    waitlist, first in line first: each promoted volunteer is told, as after a DROP, and their
    seat is written back to Mobilize like a YES."""
    for commitment in fill_from_waitlist(session, shift, now=now, org_name=org.org_name):
        report.sms.append(promotion_sms(commitment, shift, org_name=org.org_name))
        report.sms.extend(
            enqueue_attendance(
                session, volunteer=commitment.volunteer, shift=shift, commitment=commitment, now=now
            )
        )
        report.promoted += 1


def _cancel(
    session: Session, shift: Shift, *, report: SyncReport, org: OrgConfig, now: datetime
) -> None:
    if shift.cancelled_at is not None:
        return
    shift.cancelled_at = now
    report.cancelled += 1
    if shift.ends_at > now:
        _tell(session, shift, report=report, org=org, moved=False)


def _tell(
    session: Session, shift: Shift, *, report: SyncReport, org: OrgConfig, moved: bool
) -> None:
    """A text to each volunteer holding or waiting for a seat on the shift, once per change."""
    told = tell_volunteers(
        session, shift, org=org, moved=moved, key_prefix="mob", by="the organizers"
    )
    report.sms.extend(told)
    report.told += len(told)
