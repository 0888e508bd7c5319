"""`/muster shift edit N ...` and `/muster shift cancel N`: changing a shift after it was added.

A moved shift (its start, end or place) and a cancelled one are told to every volunteer holding
or waiting for a seat, once for each change (`handlers.shift_changes`); seats a raised capacity
adds go to the waitlist, first in line first. A shift that comes from Mobilize is Mobilize's to
change: Muster refuses, and says where to edit it (the next sync brings the change here).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers import views
from handlers.config import OrgConfig
from handlers.errors import InvalidInput, MusterError, UnknownShift
from handlers.messages import OrganizerCommand
from handlers.organizer.parsing import USAGE, one_number, parse_pairs, usage_error
from handlers.organizer.shifts import MAX_CAPACITY, shift_from_fields
from handlers.ports import Clock
from handlers.results import OutboundSms, Result
from handlers.sending import record_effects
from handlers.shift_changes import tell_volunteers
from handlers.shifts import fill_from_waitlist, promotion_sms
from storage.audit import audit
from storage.models import Shift, ShiftSource
from storage.uow import UnitOfWork

EDITABLE = ("title", "start", "end", "capacity", "location", "zip", "tags")
_WHEN = "%Y-%m-%d %H:%M"
_AS_TYPED = {"starts_at": "start", "ends_at": "end"}  # column -> the key `shift edit` takes


class MobilizeShift(MusterError):
    """The shift comes from Mobilize: it is edited there, not in Muster."""

    def __init__(self, shift: Shift):
        where = f": {shift.url}" if shift.url else " (the event's page there)"
        super().__init__(
            f"Shift #{shift.id} comes from Mobilize, so Muster does not change it: edit it in "
            f"Mobilize{where}. Muster picks the change up at its next sync (every 15 minutes) "
            "and tells the volunteers signed up for it."
        )


def _shift_to_change(session: Session, shift_id: int, *, now: datetime) -> Shift:
    shift = session.scalars(select(Shift).where(Shift.id == shift_id).with_for_update()).first()
    if shift is None:
        raise UnknownShift(shift_id)
    if shift.source == ShiftSource.MOBILIZE:
        raise MobilizeShift(shift)
    if shift.cancelled_at is not None:
        raise MusterError(f"Shift #{shift_id} was cancelled already.")
    if shift.starts_at <= now:
        raise MusterError(f"Shift #{shift_id} has already started; it can no longer be changed.")
    return shift


def _split(cmd: OrganizerCommand, usage_of: str) -> tuple[int, str]:
    words = cmd.args.split(None, 1)
    if not words:
        raise usage_error(USAGE[usage_of], "give the shift number")
    return one_number(words[0], usage_of), words[1] if len(words) > 1 else ""


def edit_shift(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    shift_id, rest = _split(cmd, "shift edit")
    given = parse_pairs(rest, usage_of="shift edit", allowed=EDITABLE)
    if not given:
        raise usage_error(USAGE["shift edit"], "say what to change")
    now = clock.now()
    with uow:
        s = uow.session
        shift = _shift_to_change(s, shift_id, now=now)
        zone = org.zone
        current = {
            "title": shift.title,
            "start": shift.starts_at.astimezone(zone).strftime(_WHEN),
            "end": shift.ends_at.astimezone(zone).strftime(_WHEN),
            "capacity": str(shift.capacity),
            "location": shift.location or "",
            "zip": shift.zip or "",
            "tags": ",".join(shift.tags or ()),
        }
        try:
            new = shift_from_fields({**current, **given}, org=org, now=now)
        except InvalidInput as exc:
            raise usage_error(USAGE["shift edit"], exc.message) from None
        if new.capacity < shift.committed_count:
            raise usage_error(
                USAGE["shift edit"],
                f"{shift.committed_count} volunteers hold a seat already: the capacity can go "
                f"from {shift.committed_count} to {MAX_CAPACITY:,}",
            )
        columns = {
            "title": new.title,
            "starts_at": new.starts_at,
            "ends_at": new.ends_at,
            "capacity": new.capacity,
            "location": new.location,
            "zip": new.zip,
            "tags": list(new.tags),
        }
        changed = sorted(k for k, v in columns.items() if getattr(shift, k) != v)
        if not changed:
            return Result(view=views.NoticeView(f"Shift #{shift_id}: nothing to change."))
        raised = new.capacity > shift.capacity
        for name in changed:
            setattr(shift, name, columns[name])
        sms: list[OutboundSms] = []
        if {"starts_at", "ends_at", "location"} & set(changed):
            sms += tell_volunteers(
                s, shift, org=org, moved=True, key_prefix="shift", by="the organizers"
            )
        told = len(sms)
        promoted = fill_from_waitlist(s, shift, now=now, org_name=org.org_name) if raised else []
        sms += [promotion_sms(c, shift, org_name=org.org_name) for c in promoted]
        audit(
            s,
            actor=cmd.user_id,
            action="shift.edit",
            target=f"shift:{shift_id}",
            detail={"changed": changed, "told": told, "promoted": len(promoted)},
            at=now,
        )
        said = [_AS_TYPED.get(k, k) for k in columns if k in changed]  # the command's words
        text = f"Shift #{shift_id} updated: {', '.join(said)}."
        if told:
            text += f" {told} volunteer{'s' if told != 1 else ''} told of the change by text."
        if promoted:
            text += f" {len(promoted)} moved up from the waitlist."
        result = record_effects(s, Result(sms=tuple(sms), view=views.NoticeView(text)))
        uow.commit()
    return Result(view=result.view, sms=result.sms, intent="shift.edited")


def cancel_shift(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    shift_id, rest = _split(cmd, "shift cancel")
    if rest.strip():
        raise usage_error(USAGE["shift cancel"], "`shift cancel` takes only the shift number")
    now = clock.now()
    with uow:
        s = uow.session
        shift = _shift_to_change(s, shift_id, now=now)
        shift.cancelled_at = now
        sms = tell_volunteers(
            s, shift, org=org, moved=False, key_prefix="shift", by="the organizers"
        )
        audit(
            s,
            actor=cmd.user_id,
            action="shift.cancel",
            target=f"shift:{shift_id}",
            detail={"told": len(sms)},
            at=now,
        )
        told = f" {len(sms)} volunteer{'s' if len(sms) != 1 else ''} told by text." if sms else ""
        text = f"Shift #{shift_id} ({shift.title}) is cancelled.{told}"
        result = record_effects(s, Result(sms=tuple(sms), view=views.NoticeView(text)))
        uow.commit()
    return Result(view=result.view, sms=result.sms, intent="shift.cancelled")
