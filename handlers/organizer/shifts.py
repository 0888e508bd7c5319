"""`/muster shift add` (inline or the form) and `/muster shifts`: the shifts themselves."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import zipcodes
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from handlers import views
from handlers.config import OrgConfig
from handlers.district_names import UnknownDistrict, parse_district
from handlers.errors import InvalidInput, UsageError
from handlers.messages import OrganizerAction, OrganizerCommand
from handlers.organizer.display import local_when
from handlers.organizer.parsing import USAGE, no_args, parse_local_time, parse_pairs, usage_error
from handlers.ports import Clock
from handlers.results import Result
from storage.audit import audit
from storage.models import Commitment, CommitmentStatus, Shift, ShiftSource
from storage.uow import UnitOfWork

LIST_LIMIT = 20  # shifts listed by `shifts`
MAX_CAPACITY = 10_000
_TAG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
SHIFT_FIELDS = ("title", "start", "end", "capacity", "zip", "location", "tags", "district",
                "action_network_event")  # fmt: skip
_AN_ID = re.compile(r"[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}")


@dataclass(frozen=True, slots=True)
class NewShift:
    title: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    zip: str | None
    location: str | None
    tags: tuple[str, ...]
    district: str | None = None  # the district the shift works for (short OCD id)
    # The Action Network event its sign-ups are recorded on (an id, or the event's API URL).
    action_network_event: str | None = None


def shift_from_fields(
    values: dict[str, str], *, org: OrgConfig, now: datetime, start_key: str = "start"
) -> NewShift:
    """Check a new shift's fields; errors come back together, keyed by field."""
    errors: dict[str, str] = {}
    zone = org.zone
    title = values.get("title", "").strip()
    if not title:
        errors["title"] = "give the shift a title"
    elif len(title) > 200:
        errors["title"] = "keep the title under 200 characters"
    starts_at = ends_at = None
    try:
        starts_at = parse_local_time(values.get("start", ""), zone)
    except ValueError:
        errors[start_key] = "use YYYY-MM-DD HH:MM"
    except UsageError as exc:
        errors[start_key] = exc.message
    try:
        ends_at = parse_local_time(values.get("end", ""), zone)
    except ValueError:
        errors["end"] = "use YYYY-MM-DD HH:MM"
    except UsageError as exc:
        errors["end"] = exc.message
    if starts_at is not None and starts_at <= now:
        errors[start_key] = "must be in the future"
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        errors["end"] = "must be after the start"
    capacity = 0
    raw_capacity = values.get("capacity", "").strip()
    if not raw_capacity.isdigit() or not 1 <= int(raw_capacity) <= MAX_CAPACITY:
        errors["capacity"] = f"a whole number from 1 to {MAX_CAPACITY:,}"
    else:
        capacity = int(raw_capacity)
    zip5 = values.get("zip", "").strip() or None
    if zip5 is not None and not (re.fullmatch(r"\d{5}", zip5) and zipcodes.is_real(zip5)):
        errors["zip"] = "a real 5-digit US ZIP code"
    location = values.get("location", "").strip() or None
    if location and len(location) > 300:
        errors["location"] = "keep the location under 300 characters"
    tags = tuple(dict.fromkeys(t.strip().lower() for t in values.get("tags", "").split(",")))
    tags = tuple(t for t in tags if t)
    bad = [t for t in tags if not _TAG.match(t)]
    if bad:
        errors["tags"] = f"tags are short words (letters, digits, - or _): {', '.join(bad)}"
    district = None
    if values.get("district", "").strip():
        try:
            district = parse_district(values["district"]).id
        except UnknownDistrict as exc:
            errors["district"] = exc.message
    an_event = _action_network_event(values.get("action_network_event", ""), errors)
    if errors:
        raise InvalidInput(errors)
    assert starts_at is not None and ends_at is not None
    return NewShift(title, starts_at, ends_at, capacity, zip5, location, tags, district, an_event)


def _action_network_event(raw: str, errors: dict[str, str]) -> str | None:
    """An Action Network event id (its uuid), also taken from the event's API URL."""
    text = raw.strip().rstrip("/")
    if not text:
        return None
    event_id = text.rsplit("/", 1)[-1].removeprefix("action_network:")
    if not _AN_ID.fullmatch(event_id):
        errors["action_network_event"] = "the event's id on Action Network (its uuid)"
        return None
    return event_id.lower()


def shift_from_form(values: dict[str, str], *, org: OrgConfig, now: datetime) -> NewShift:
    """The modal's fields (date, start_time, end_time ...) -> a checked NewShift."""
    day = values.get("date", "").strip()
    fields = dict(values)
    fields["start"] = f"{day} {values.get('start_time', '').strip()}"
    fields["end"] = f"{day} {values.get('end_time', '').strip()}"
    try:
        return shift_from_fields(fields, org=org, now=now, start_key="start_time")
    except InvalidInput as exc:
        errors = dict(exc.errors)
        if "end" in errors:
            errors["end_time"] = errors.pop("end")
        if not day:
            errors = {k: v for k, v in errors.items() if k not in ("start_time", "end_time")}
            errors["date"] = "pick a date"
        raise InvalidInput(errors) from None


def add_shift(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    if not cmd.args.strip():
        form = views.ShiftFormView(
            timezone=org.default_timezone, usage=USAGE["shift add"], channel_id=cmd.channel_id
        )
        return Result(view=form, intent="shift.form")
    values = parse_pairs(
        cmd.args,
        usage_of="shift add",
        allowed=SHIFT_FIELDS,
        required=("title", "start", "end", "capacity"),
    )
    try:
        new = shift_from_fields(values, org=org, now=clock.now())
    except InvalidInput as exc:
        raise usage_error(USAGE["shift add"], exc.message) from None
    return create_shift(new, user_id=cmd.user_id, uow=uow, org=org, clock=clock)


def submit_shift_form(
    action: OrganizerAction, *, uow: UnitOfWork, org: OrgConfig, clock: Clock
) -> Result:
    new = shift_from_form(action.values, org=org, now=clock.now())
    return create_shift(new, user_id=action.user_id, uow=uow, org=org, clock=clock)


def create_shift(
    new: NewShift, *, user_id: str, uow: UnitOfWork, org: OrgConfig, clock: Clock
) -> Result:
    with uow:
        shift = Shift(
            title=new.title,
            kind=new.tags[0] if new.tags else None,
            location=new.location,
            zip=new.zip,
            starts_at=new.starts_at,
            ends_at=new.ends_at,
            timezone=org.default_timezone,
            capacity=new.capacity,
            committed_count=0,
            tags=list(new.tags),
            district=new.district,
            action_network_event_id=new.action_network_event,
            created_by=user_id,
            created_at=clock.now(),
        )
        uow.session.add(shift)
        uow.session.flush()
        audit(
            uow.session,
            actor=user_id,
            action="shift.create",
            target=f"shift:{shift.id}",
            detail={"title": new.title, "capacity": new.capacity, "district": new.district},
            at=clock.now(),
        )
        line = shift_lines(uow.session, [shift], org)[0]
        uow.commit()
    return Result(view=views.ShiftCreatedView(line), intent="shift.created")


def shift_lines(session: Session, shifts: list[Shift], org: OrgConfig) -> list[views.ShiftLine]:
    """Display lines for shifts, with the waitlist counted in one query."""
    ids = [s.id for s in shifts]
    waiting: dict[int, int] = {}
    if ids:
        rows = session.execute(
            select(Commitment.shift_id, func.count())
            .where(
                Commitment.shift_id.in_(ids),
                Commitment.status == CommitmentStatus.WAITLISTED,
            )
            .group_by(Commitment.shift_id)
        )
        waiting = {shift_id: n for shift_id, n in rows}
    return [
        views.ShiftLine(
            id=s.id,
            title=s.title,
            when=local_when(s.starts_at, s.ends_at, ZoneInfo(s.timezone or org.default_timezone)),
            location=s.location,
            zip=s.zip,
            capacity=s.capacity,
            filled=s.committed_count,
            waitlisted=waiting.get(s.id, 0),
            tags=tuple(s.tags or ()),
            mobilize_url=s.url if s.source == ShiftSource.MOBILIZE else None,
            from_mobilize=s.source == ShiftSource.MOBILIZE,
            cancelled=s.cancelled_at is not None,
        )
        for s in shifts
    ]


def upcoming_shifts(session: Session, *, now: datetime, limit: int) -> tuple[list[Shift], int]:
    where = (Shift.ends_at > now, Shift.cancelled_at.is_(None))
    shifts = list(
        session.scalars(
            select(Shift).where(*where).order_by(Shift.starts_at, Shift.id).limit(limit)
        )
    )
    total = session.scalar(select(func.count()).select_from(Shift).where(*where)) or 0
    return shifts, max(total - len(shifts), 0)


def list_shifts(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    no_args(cmd)
    with uow:
        shifts, more = upcoming_shifts(uow.session, now=clock.now(), limit=LIST_LIMIT)
        lines = tuple(shift_lines(uow.session, shifts, org))
    return Result(view=views.ShiftListView(lines, more=more), intent="shifts")
