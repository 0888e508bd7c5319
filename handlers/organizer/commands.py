"""The organizers' side: every `/muster` command and every button or modal behind it.

One logic layer for Slack and the console: a transport builds an `OrganizerCommand` (or an
`OrganizerAction` for a button, a modal submission, a reply in an inbox thread), calls
`run_command` / `run_action`, and renders the typed view in `Result.view`. Rights are checked here
(only `org.organizer_ids`), malformed commands raise `UsageError` with the exact usage line before
anything is touched, and every action that changes data or texts volunteers is audit-logged in the
same transaction as the change.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import zipcodes
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from handlers import broadcasts, exports, schedules, shifts, sms_text, views
from handlers.audiences import parse_audience
from handlers.broadcasts import check_body
from handlers.config import OrgConfig
from handlers.errors import InvalidInput, MusterError, NotAnOrganizer, UnknownShift, UsageError
from handlers.messages import OrganizerAction, OrganizerCommand
from handlers.phones import display, masked, to_e164
from handlers.ports import Clock
from handlers.results import OutboundSms, Result
from handlers.schedules import ScheduledView, local_to_utc
from handlers.shifts import CommitStatus, record_check_in
from storage.audit import audit
from storage.models import (
    Broadcast,
    BroadcastStatus,
    Commitment,
    CommitmentStatus,
    Delivery,
    DeliveryStatus,
    ProcessedEvent,
    Shift,
    SlackReplyMark,
    Volunteer,
    VolunteerStatus,
    VolunteerTag,
)
from storage.outbox import WENT, insert_ignoring_conflicts, record_effects
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

COMMAND = "/muster"
AUDIENCES = "all, tag:NAME, zip:PREFIX, near:ZIP:MILES, state:XX, shift:N"
USAGE: dict[str, str] = {
    "help": f"{COMMAND} help",
    "shift add": (
        f'{COMMAND} shift add title="..." start="YYYY-MM-DD HH:MM" end="YYYY-MM-DD HH:MM" '
        'capacity=N zip=NNNNN location="..." tags=a,b'
    ),
    "shifts": f"{COMMAND} shifts",
    "roster": f"{COMMAND} roster N",
    "signup": f"{COMMAND} signup N PHONE",
    "find": f"{COMMAND} find QUERY  (a phone number, a name, a ZIP prefix or tag:NAME)",
    "broadcast": (
        f'{COMMAND} broadcast to=AUDIENCE [at="YYYY-MM-DD HH:MM"] [every="CRON"] message="..."'
    ),
    "scheduled": f"{COMMAND} scheduled",
    "unschedule": f"{COMMAND} unschedule ID",
    "stats": f"{COMMAND} stats",
    "export": f"{COMMAND} export volunteers|roster N",
}
DESCRIPTIONS: dict[str, str] = {
    "help": "this list",
    "shift add": "add a shift (a form; or everything inline as shown)",
    "shifts": "upcoming shifts and how full they are",
    "roster": "who is coming to shift N, the waitlist, and attendance after the shift",
    "signup": "sign a volunteer up for shift N (say, one who phoned in); they get a text",
    "find": "look a volunteer up",
    "broadcast": "text an audience (a form; or inline), after a preview you confirm",
    "scheduled": "broadcasts planned ahead, and those still going out (with Stop sending)",
    "unschedule": "cancel scheduled broadcast ID",
    "stats": "the drive at a glance",
    "export": "a CSV in a direct message to you",
}
TWO_WORD = {("shift", "add")}
LIST_LIMIT = 20  # shifts listed by `shifts`
FIND_LIMIT = 25
ROSTER_LIMIT = 40  # Block Kit allows 50 blocks a message; the rest is in the export
MAX_CAPACITY = 10_000
MAX_CRON_CHARS = 100  # what schedules.cron holds
GOING_OUT_LIMIT = 10  # broadcasts still going out, listed by `scheduled` with Stop sending
_SMART_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'"})
_TAG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_WHEN = "%Y-%m-%d %H:%M"


# --- Entry points ----------------------------------------------------------------------------


def split_command(text: str) -> tuple[str, str]:
    """`shift add title=...` -> ("shift add", "title=..."); `roster 12` -> ("roster", "12")."""
    words = (text or "").strip().split(None, 2)
    if not words:
        return "", ""
    first = words[0].lower()
    if len(words) > 1 and (first, words[1].lower()) in TWO_WORD:
        return f"{first} {words[1].lower()}", words[2] if len(words) > 2 else ""
    rest = (text or "").strip()[len(words[0]) :].strip()
    return first, rest


def run_command(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    """Run one `/muster` command for an organizer. Raises a `MusterError` the transport shows."""
    _require_organizer(cmd.user_id, cmd.name or "help", uow=uow, org=org, clock=clock)
    handler = _COMMANDS.get(cmd.name)
    if handler is None:
        if cmd.name in ("", "shift"):
            return show_help()
        raise UsageError(f"I don't know `{cmd.name}`. Try `{USAGE['help']}`.")
    return handler(cmd, uow=uow, org=org, clock=clock)


def run_action(action: OrganizerAction, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    """A button, a modal submission or an inbox-thread reply, already reduced to name + values."""
    if action.name not in _CHECKS_ITS_OWN_RIGHTS:
        _require_organizer(action.user_id, action.name, uow=uow, org=org, clock=clock)
    handler = _ACTIONS.get(action.name)
    if handler is None:
        raise UsageError(f"Unknown action {action.name!r}.")
    return handler(action, uow=uow, org=org, clock=clock)


def dashboard(
    user_id: str, *, uow: UnitOfWork, org: OrgConfig, clock: Clock
) -> views.StatsView | None:
    """The App Home's numbers, for organizers only (None for anyone else: nothing to show)."""
    from handlers.organizer.stats import drive_stats

    if not org.is_organizer(user_id):
        return None
    with uow:
        return drive_stats(uow.session, now=clock.now(), org=org)


def validate_action(action: OrganizerAction, *, org: OrgConfig, now: datetime) -> None:
    """The checks a modal must pass before it may close (no database: fits in Slack's ack).

    Raises `InvalidInput` keyed by the form's field names.
    """
    if action.name == "shift.submit":
        shift_from_form(action.values, org=org, now=now)
    elif action.name == "broadcast.submit":
        broadcast_request_from_form(action.values, org=org, now=now)


def _require_organizer(
    user_id: str, what: str, *, uow: UnitOfWork, org: OrgConfig, clock: Clock
) -> None:
    if org.is_organizer(user_id):
        return
    log.warning("refused organizer command %r from non-organizer %s", what, user_id)
    with uow:
        audit(uow.session, actor=user_id, action="denied", target=what[:120], at=clock.now())
        uow.commit()
    raise NotAnOrganizer(user_id)


# --- Argument parsing ------------------------------------------------------------------------


def parse_pairs(
    args: str, *, usage_of: str, allowed: Iterable[str], required: Iterable[str] = ()
) -> dict[str, str]:
    """`key=value key="two words"` -> dict. Anything else is a UsageError naming the problem."""
    usage = USAGE[usage_of]
    try:
        tokens = shlex.split(args.translate(_SMART_QUOTES))
    except ValueError:
        raise _usage(usage, "a quote is not closed") from None
    allowed = set(allowed)
    values: dict[str, str] = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        key = key.strip().lower()
        if not sep or not key:
            raise _usage(usage, f"`{token}` is not key=value")
        if key not in allowed:
            raise _usage(usage, f"`{key}` is not one of {', '.join(sorted(allowed))}")
        if key in values:
            raise _usage(usage, f"`{key}` is given twice")
        values[key] = value.strip()
    missing = [k for k in required if not values.get(k)]
    if missing:
        raise _usage(usage, f"missing {', '.join(missing)}")
    return values


def _usage(usage: str, reason: str | None = None) -> UsageError:
    return UsageError(f"{reason}.\nUsage: {usage}" if reason else f"Usage: {usage}")


def _one_number(args: str, usage_of: str, what: str = "N") -> int:
    text = args.strip().lstrip("#")
    if not text.isdigit() or int(text) <= 0 or len(text) > 9:
        raise _usage(USAGE[usage_of], f"{what} must be a number" if text else f"missing {what}")
    return int(text)


def _no_args(cmd: OrganizerCommand) -> None:
    if cmd.args.strip():
        raise _usage(USAGE[cmd.name], f"`{cmd.name}` takes nothing after it")


def parse_local_time(text: str, zone: ZoneInfo) -> datetime:
    """`YYYY-MM-DD HH:MM` in the organizers' zone -> UTC. ValueError when it cannot be read;
    UsageError for a wall-clock time the clocks skip that night (schedules.local_to_utc)."""
    return local_to_utc(datetime.strptime(" ".join(text.split()), _WHEN), zone)


def local_when(start: datetime, end: datetime | None, zone: ZoneInfo) -> str:
    """`Sat Nov 21, 10:00-12:00 EST` (the end's date only when it is another day)."""
    s = start.astimezone(zone)
    text = f"{s:%a %b} {s.day}, {s:%H:%M}"
    if end is not None:
        e = end.astimezone(zone)
        text += f"-{e:%H:%M}" if e.date() == s.date() else f" to {e:%a %b} {e.day}, {e:%H:%M}"
    return f"{text} {s.tzname()}"


# --- help --------------------------------------------------------------------------------------


def show_help() -> Result:
    commands = tuple(views.CommandHelp(USAGE[name], DESCRIPTIONS[name]) for name in USAGE)
    view = views.HelpView(command=COMMAND, commands=commands, audiences=AUDIENCES)
    return Result(view=view, intent="help")


def _help(cmd: OrganizerCommand, **_: object) -> Result:
    return show_help()


# --- shifts --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewShift:
    title: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    zip: str | None
    location: str | None
    tags: tuple[str, ...]


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
    if errors:
        raise InvalidInput(errors)
    assert starts_at is not None and ends_at is not None
    return NewShift(title, starts_at, ends_at, capacity, zip5, location, tags)


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


def _shift_add(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    if not cmd.args.strip():
        form = views.ShiftFormView(
            timezone=org.default_timezone, usage=USAGE["shift add"], channel_id=cmd.channel_id
        )
        return Result(view=form, intent="shift.form")
    values = parse_pairs(
        cmd.args,
        usage_of="shift add",
        allowed=("title", "start", "end", "capacity", "zip", "location", "tags"),
        required=("title", "start", "end", "capacity"),
    )
    try:
        new = shift_from_fields(values, org=org, now=clock.now())
    except InvalidInput as exc:
        raise _usage(USAGE["shift add"], exc.message) from None
    return create_shift(new, user_id=cmd.user_id, uow=uow, org=org, clock=clock)


def _shift_submit(
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
            detail={"title": new.title, "capacity": new.capacity},
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


def _shifts(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    _no_args(cmd)
    with uow:
        shifts, more = upcoming_shifts(uow.session, now=clock.now(), limit=LIST_LIMIT)
        lines = tuple(shift_lines(uow.session, shifts, org))
    return Result(view=views.ShiftListView(lines, more=more), intent="shifts")


# --- roster and attendance ---------------------------------------------------------------------

_COMING = (
    CommitmentStatus.COMMITTED,
    CommitmentStatus.CONFIRMED,
    CommitmentStatus.ATTENDED,
    CommitmentStatus.NO_SHOW,
)


def _roster(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    shift_id = _one_number(cmd.args, "roster")
    with uow:
        shift = uow.session.get(Shift, shift_id)
        if shift is None:
            raise UnknownShift(shift_id)
        counts = {
            str(status): n
            for status, n in uow.session.execute(
                select(Commitment.status, func.count())
                .where(Commitment.shift_id == shift_id)
                .group_by(Commitment.status)
            )
        }
        order = (
            Commitment.status == CommitmentStatus.WAITLISTED,
            Commitment.waitlist_position,
            Commitment.committed_at,
            Commitment.id,
        )
        rows = uow.session.execute(
            select(Commitment.id, Commitment.status, shifts.place_in_line(), Volunteer)
            .join(Volunteer, Volunteer.id == Commitment.volunteer_id)
            .where(Commitment.shift_id == shift_id, Commitment.status != CommitmentStatus.DROPPED)
            .order_by(*order)
            .limit(ROSTER_LIMIT)
        ).all()
        entries = tuple(
            views.RosterEntry(
                commitment_id=cid,
                name=_name(vol),
                phone=masked(vol.phone),
                status=str(status),
                waitlist_position=place if status == CommitmentStatus.WAITLISTED else None,
            )
            for cid, status, place, vol in rows
        )
        listed = sum(n for s, n in counts.items() if s != CommitmentStatus.DROPPED)
        view = views.RosterView(
            shift=shift_lines(uow.session, [shift], org)[0],
            entries=entries,
            counts=counts,
            attendance_open=clock.now() >= shift.starts_at,
            more=max(listed - len(entries), 0),
        )
    return Result(view=view, intent="roster")


def _mark_attendance(attended: bool) -> Callable[..., Result]:
    def handler(
        action: OrganizerAction, *, uow: UnitOfWork, org: OrgConfig, clock: Clock
    ) -> Result:
        raw = action.values.get("commitment_id", "")
        if not raw.isdigit():
            raise UsageError("That button is out of date; run the roster again.")
        now = clock.now()
        with uow:
            commitment = uow.session.get(Commitment, int(raw))
            if commitment is None or commitment.status not in _COMING:
                raise MusterError("That volunteer is no longer on this shift's roster.")
            if now < commitment.shift.starts_at:
                raise MusterError("Attendance can be recorded once the shift has started.")
            before = str(commitment.status)
            record_check_in(commitment, attended=attended, now=now)
            status = str(commitment.status)
            audit(
                uow.session,
                actor=action.user_id,
                action=f"roster.{status}",
                target=f"commitment:{commitment.id}",
                detail={"shift_id": commitment.shift_id, "was": before},
                at=now,
            )
            view = views.AttendanceView(
                shift_id=commitment.shift_id, name=_name(commitment.volunteer), status=status
            )
            uow.commit()
        return Result(view=view, intent=f"roster.{status}")

    return handler


def _name(volunteer: Volunteer) -> str:
    if volunteer.forgotten_at is not None:
        return "(forgotten)"
    return volunteer.first_name or "(no name yet)"


# --- signup: an organizer signs a volunteer up ------------------------------------------------


def _signup(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    """The same sign-up as a volunteer's `YES N`, through `shifts.commit_to_shift`; the volunteer
    is told by text (the words the SMS side uses), through the outbox."""
    words = cmd.args.split(None, 1)
    if len(words) != 2:
        raise _usage(USAGE["signup"], "give the shift number and the volunteer's phone number")
    shift_id = _one_number(words[0], "signup")
    phone = to_e164(words[1])
    if phone is None:
        raise _usage(USAGE["signup"], f"{words[1]} is not a valid phone number")
    now = clock.now()
    with uow:
        volunteer = uow.session.scalar(select(Volunteer).where(Volunteer.phone == phone))
        if volunteer is None:
            raise MusterError(
                f"No volunteer has the number {display(phone)}. They can text JOIN to sign up "
                "(Muster texts only people who asked for it)."
            )
        out = shifts.commit_to_shift(
            uow.session, volunteer=volunteer, shift_id=shift_id, now=now, channel="slack"
        )
        if out.status == CommitStatus.UNKNOWN:
            raise UnknownShift(shift_id)
        if out.status in (CommitStatus.PAST, CommitStatus.CANCELLED):
            state = "has already started" if out.status == CommitStatus.PAST else "was cancelled"
            raise MusterError(f"Shift {shift_id} {state}; nobody can sign up for it.")
        name = _name(volunteer)
        if out.status == CommitStatus.ALREADY:
            assert out.commitment is not None
            text = f"{name} is already on shift #{shift_id} ({out.commitment.status})."
            return Result(view=views.NoticeView(text), intent="signup.already")
        assert out.shift is not None and out.commitment is not None
        lang, zone = volunteer.language, volunteer.timezone or org.default_timezone
        if out.status == CommitStatus.COMMITTED:
            line = sms_text.shift_line(out.shift, zone, lang)
            words_sent = sms_text.say("committed", lang, shift=line, n=shift_id)
            text = f"{name} is signed up for shift #{shift_id}"
        else:
            rank = shifts.waitlist_rank(uow.session, out.commitment)
            words_sent = sms_text.say("waitlisted", lang, n=shift_id, rank=rank)
            text = f"Shift #{shift_id} is full: {name} is #{rank} on its waitlist"
        sms: tuple[OutboundSms, ...] = ()
        if volunteer.status == VolunteerStatus.ACTIVE:
            sms = (
                OutboundSms(
                    phone=phone,
                    body=f"{org.org_name}: {words_sent}",
                    kind="confirmation",
                    idempotency_key=f"signup:{out.commitment.id}:{now.timestamp():.0f}",
                    volunteer_id=volunteer.id,
                ),
            )
            text += " and will get a text."
        else:
            text += f"; they are {str(volunteer.status).replace('_', ' ')}, so no text was sent."
        audit(
            uow.session,
            actor=cmd.user_id,
            action="shift.signup",
            target=f"commitment:{out.commitment.id}",
            detail={"shift_id": shift_id, "status": out.status},
            at=now,
        )
        result = record_effects(uow.session, Result(sms=sms, view=views.NoticeView(text)))
        uow.commit()
    return Result(view=result.view, sms=result.sms, intent=f"signup.{out.status}")


# --- find ----------------------------------------------------------------------------------------


def _find(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    query = cmd.args.strip().translate(_SMART_QUOTES).strip("\"'")
    if not query:
        raise _usage(USAGE["find"], "missing QUERY")
    conditions, how = _find_condition(query)
    now = clock.now()
    with uow:
        base = select(Volunteer).where(Volunteer.forgotten_at.is_(None), conditions)
        total = uow.session.scalar(select(func.count()).select_from(base.subquery())) or 0
        found = list(
            uow.session.scalars(base.order_by(Volunteer.first_name, Volunteer.id).limit(FIND_LIMIT))
        )
        upcoming = _upcoming_counts(uow.session, [v.id for v in found], now)
        zone = org.zone
        lines = tuple(
            views.VolunteerLine(
                id=v.id,
                name=_name(v),
                phone=display(v.phone),
                zip=v.zip,
                status=str(v.status),
                tags=tuple(v.tag_names),
                upcoming=upcoming.get(v.id, 0),
                joined=f"{v.created_at.astimezone(zone):%b} {v.created_at.astimezone(zone).day}",
            )
            for v in found
        )
    view = views.FindView(query=query, how=how, volunteers=lines, more=max(total - len(lines), 0))
    return Result(view=view, intent="find")


def _find_condition(query: str) -> tuple[object, str]:
    lowered = query.lower()
    if lowered.startswith("tag:"):
        tag = lowered[4:].strip()
        return Volunteer.tags.any(VolunteerTag.tag == tag), "tag"
    if re.fullmatch(r"\d{1,5}", query):
        return Volunteer.zip.startswith(query, autoescape=True), "ZIP prefix"
    digits = re.sub(r"\D", "", query)
    if len(digits) >= 10 and re.fullmatch(r"[\d\s()+.-]+", query):
        phone = to_e164(query)
        if phone is None:
            raise _usage(USAGE["find"], f"{query} is not a valid phone number")
        return Volunteer.phone == phone, "phone"
    name = Volunteer.first_name.ilike(f"%{_escape_like(query)}%", escape="\\")
    return or_(name, Volunteer.tags.any(VolunteerTag.tag == lowered)), "name or tag"


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _upcoming_counts(session: Session, ids: list[int], now: datetime) -> dict[int, int]:
    if not ids:
        return {}
    rows = session.execute(
        select(Commitment.volunteer_id, func.count())
        .join(Shift, Shift.id == Commitment.shift_id)
        .where(
            Commitment.volunteer_id.in_(ids),
            Commitment.status.in_((CommitmentStatus.COMMITTED, CommitmentStatus.CONFIRMED)),
            Shift.starts_at >= now,
        )
        .group_by(Commitment.volunteer_id)
    )
    return {vid: n for vid, n in rows}


# --- stats ---------------------------------------------------------------------------------------


def _stats(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    from handlers.organizer.stats import drive_stats

    _no_args(cmd)
    with uow:
        view = drive_stats(uow.session, now=clock.now(), org=org)
    return Result(view=view, intent="stats")


# --- broadcasts ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BroadcastRequest:
    audience: str
    body: str
    run_at: datetime | None = None
    cron: str | None = None


def broadcast_request(
    values: dict[str, str], *, org: OrgConfig, now: datetime, at_key: str = "at"
) -> BroadcastRequest:
    """Check a broadcast's fields (audience grammar, message, time, cron), keyed by field."""
    errors: dict[str, str] = {}
    audience = values.get("to", "").strip()
    try:
        parse_audience(audience)
    except UsageError as exc:
        errors["to"] = exc.message
    body = values.get("message", "")
    try:
        body = check_body(body)
    except InvalidInput as exc:
        errors.update(exc.errors)
    run_at = None
    if values.get("at", "").strip():
        try:
            run_at = schedules.parse_run_at(values["at"], timezone=org.default_timezone)
        except UsageError:
            errors[at_key] = "use YYYY-MM-DD HH:MM"
        else:
            if run_at <= now:
                errors[at_key] = "must be in the future"
    cron = values.get("every", "").strip() or None
    if cron:
        if run_at is not None:
            errors["every"] = "give either a time or a repeat, not both"
        else:
            try:
                cron = schedules.check_cron(cron, org.default_timezone, now=now)
            except UsageError as exc:
                errors["every"] = exc.message
            else:
                if len(cron) > MAX_CRON_CHARS:
                    errors["every"] = f"keep the repeat under {MAX_CRON_CHARS} characters"
    if errors:
        raise InvalidInput(errors)
    return BroadcastRequest(audience=audience, body=body, run_at=run_at, cron=cron)


def broadcast_request_from_form(
    values: dict[str, str], *, org: OrgConfig, now: datetime
) -> BroadcastRequest:
    fields = dict(values)
    errors: dict[str, str] = {}
    day, at = values.get("date", "").strip(), values.get("time", "").strip()
    if day and at:
        fields["at"] = f"{day} {at}"
    elif day or at:
        errors["time" if day else "date"] = "pick both a date and a time"
    try:
        request = broadcast_request(fields, org=org, now=now, at_key="date")
    except InvalidInput as exc:
        raise InvalidInput({**exc.errors, **errors}) from None
    if errors:
        raise InvalidInput(errors)
    return request


def _broadcast(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    if not cmd.args.strip():
        view = views.BroadcastFormView(
            usage=USAGE["broadcast"], audiences=AUDIENCES, channel_id=cmd.channel_id
        )
        return Result(view=view, intent="broadcast.form")
    values = parse_pairs(
        cmd.args,
        usage_of="broadcast",
        allowed=("to", "at", "every", "message"),
        required=("to", "message"),
    )
    try:
        request = broadcast_request(values, org=org, now=clock.now())
    except InvalidInput as exc:
        raise _usage(USAGE["broadcast"], exc.message) from None
    return preview(request, user_id=cmd.user_id, uow=uow, org=org, clock=clock)


def _broadcast_submit(
    action: OrganizerAction, *, uow: UnitOfWork, org: OrgConfig, clock: Clock
) -> Result:
    request = broadcast_request_from_form(action.values, org=org, now=clock.now())
    return preview(request, user_id=action.user_id, uow=uow, org=org, clock=clock)


def preview(
    request: BroadcastRequest, *, user_id: str, uow: UnitOfWork, org: OrgConfig, clock: Clock
) -> Result:
    """What would go out, and to whom; a draft to send now, or a schedule to confirm.

    Either way the request waits in a draft row and the buttons carry only its id: Slack refuses
    a button value over 2,000 characters, and a 1,600-character message (more so in UTF-8 or
    JSON escapes) would not fit. A scheduled draft is never sent itself: Confirm turns it into a
    schedule and marks it confirmed, so it stays out of the broadcasts' reports.
    """
    now = clock.now()
    audience = parse_audience(request.audience)
    with uow:
        p = broadcasts.preview_broadcast(
            uow.session, audience=audience, body=request.body, now=now, org=org
        )
        draft = broadcasts.create_draft(
            uow.session,
            body=request.body,
            audience=request.audience,
            created_by=user_id,
            now=now,
            run_at=request.run_at,
        )
        if request.run_at is None and request.cron is None:
            token, when = f"b:{draft.id}", "now"
        else:
            token = "s:" + json.dumps(
                {"draft": draft.id, "every": request.cron}, separators=(",", ":")
            )
            when = (
                local_when(request.run_at, None, org.zone)
                if request.run_at
                else f"every `{request.cron}` ({org.default_timezone})"
            )
        uow.commit()
    view = views.BroadcastPreviewView(
        token=token,
        audience=request.audience,
        body=request.body,
        recipients=p.recipients,
        segments=p.segments.segments,
        encoding=p.segments.encoding,
        estimated_cost=f"${p.estimated_cost_usd:,.2f}",
        in_quiet_hours=p.in_quiet_hours_now,
        first_names=tuple(p.first_names),
        when=when,
        broadcast_id=draft.id,
    )
    return Result(view=view, intent="broadcast.preview")


_OUT_OF_DATE = "That button is out of date; run the broadcast again."
_GOING = (BroadcastStatus.QUEUED, BroadcastStatus.SENDING)
_WAITING = (DeliveryStatus.PENDING, DeliveryStatus.CLAIMED)


def _broadcast_of(token: str) -> int:
    """`b:12` (a Confirm, Cancel or Stop sending button of broadcast 12) -> 12."""
    if token.startswith("b:") and token[2:].isdigit():
        return int(token[2:])
    raise UsageError(_OUT_OF_DATE)


def _scheduled_draft_of(token: str) -> tuple[int, str | None] | None:
    """`s:{"draft":12,"every":"0 9 * * MON"}` -> (12, "0 9 * * MON"); None if not one."""
    try:
        spec = json.loads(token[2:])
    except ValueError:
        return None
    if not isinstance(spec, dict) or not isinstance(spec.get("draft"), int):
        return None  # includes a preview made before drafts: it carried the whole request
    every = spec.get("every")
    return spec["draft"], every if isinstance(every, str) else None


def _locked_broadcast(session: Session, broadcast_id: int) -> Broadcast:
    """The row, locked for this transaction, so that two clicks cannot both act on it."""
    broadcast = session.get(Broadcast, broadcast_id, with_for_update=True, populate_existing=True)
    if broadcast is None:
        raise broadcasts.UnknownBroadcastId(broadcast_id)
    return broadcast


def _texts(n: int) -> str:
    return f"{n:,} text" + ("" if n == 1 else "s")


def _broadcast_confirm(
    action: OrganizerAction, *, uow: UnitOfWork, org: OrgConfig, clock: Clock
) -> Result:
    token = action.values.get("token", "")
    if token.startswith("s:"):
        return _confirm_schedule(token, action=action, uow=uow, org=org, clock=clock)
    broadcast_id, now = _broadcast_of(token), clock.now()
    with uow:
        queued = broadcasts.confirm_broadcast(
            uow.session, broadcast_id=broadcast_id, user_id=action.user_id, now=now
        )
        broadcast = _locked_broadcast(uow.session, broadcast_id)
        status, recipients = broadcast.status, broadcast.recipient_count
        uow.commit()
    # The answer replaces the preview; while texts are still going out it offers Stop sending
    # (also on a second click, whose answer may land last and replace the first).
    going, name = status in _GOING, f"Broadcast #{broadcast_id}"
    if queued:
        text = f"{name} is on its way to {queued:,} volunteers."
        view = views.BroadcastDoneView("queued", text, broadcast_id, stoppable=going)
        return Result(view=view, intent="broadcast.queued")
    if status == BroadcastStatus.CANCELLED:
        text = f"{name} was cancelled; nothing more will be sent."
    elif not recipients:
        text = f"{name} had nobody to go to; nothing was sent."
    elif going:
        text = f"{name} was already sent on its way to {recipients:,} volunteers."
    else:
        text = f"{name} was already sent."
    view = views.BroadcastDoneView("already", text, broadcast_id, stoppable=going)
    return Result(view=view, intent="broadcast.already")


def _confirm_schedule(
    token: str, *, action: OrganizerAction, uow: UnitOfWork, org: OrgConfig, clock: Clock
) -> Result:
    found = _scheduled_draft_of(token)
    if found is None:
        raise UsageError(_OUT_OF_DATE)
    draft_id, every = found
    now = clock.now()
    with uow:
        draft = _locked_broadcast(uow.session, draft_id)
        if draft.status == BroadcastStatus.CANCELLED:
            text = "That broadcast was cancelled; nothing was scheduled."
            return Result(view=views.BroadcastDoneView("already", text), intent="broadcast.already")
        if draft.confirmed_at is not None:
            done = views.BroadcastDoneView("already", "That broadcast was already scheduled.")
            return Result(view=done, intent="broadcast.already")
        if draft.status != BroadcastStatus.DRAFT:
            raise UsageError(_OUT_OF_DATE)
        schedule = schedules.schedule_broadcast(
            uow.session,
            body=draft.body,
            audience=draft.audience,
            created_by=action.user_id,
            now=now,
            run_at=draft.run_at,
            cron=every,
            timezone=org.default_timezone,
        )
        draft.confirmed_by, draft.confirmed_at = action.user_id, now
        uow.commit()
        text = f"Scheduled as #{schedule.id}. `{USAGE['unschedule']}` cancels it."
    return Result(view=views.BroadcastDoneView("scheduled", text), intent="broadcast.scheduled")


def _broadcast_cancel(
    action: OrganizerAction, *, uow: UnitOfWork, org: OrgConfig, clock: Clock
) -> Result:
    """The preview's Cancel: a draft is cancelled (a late Confirm then sends nothing)."""
    token = action.values.get("token", "")
    if not token.startswith("s:"):
        return _stop(_broadcast_of(token), user_id=action.user_id, uow=uow, clock=clock)
    nothing = views.BroadcastDoneView("cancelled", "Cancelled: nothing was scheduled or sent.")
    found = _scheduled_draft_of(token)
    if found is None:  # a preview made before drafts kept nothing to cancel
        return Result(view=nothing, intent="broadcast.cancelled")
    now = clock.now()
    with uow:
        draft = _locked_broadcast(uow.session, found[0])
        if draft.confirmed_at is not None:
            text = (
                f"That broadcast was already scheduled: `{USAGE['scheduled']}` lists it, "
                f"`{USAGE['unschedule']}` cancels it."
            )
            return Result(view=views.BroadcastDoneView("already", text), intent="broadcast.already")
        if draft.status == BroadcastStatus.DRAFT:
            broadcasts.cancel_broadcast(
                uow.session, broadcast_id=draft.id, user_id=action.user_id, now=now
            )
            uow.commit()
    return Result(view=nothing, intent="broadcast.cancelled")


def _broadcast_stop(
    action: OrganizerAction, *, uow: UnitOfWork, org: OrgConfig, clock: Clock
) -> Result:
    """Stop sending, on a confirmed broadcast (or one the clock fired): every text not yet
    handed to Twilio is cancelled, through `broadcasts.cancel_broadcast` (audited there)."""
    broadcast_id = _broadcast_of(action.values.get("token", ""))
    return _stop(broadcast_id, user_id=action.user_id, uow=uow, clock=clock)


def _stop(broadcast_id: int, *, user_id: str, uow: UnitOfWork, clock: Clock) -> Result:
    """Cancel a draft, or stop a broadcast going out; a second press, or one after the last text
    went, answers with where it stands and changes nothing."""
    name, now = f"Broadcast #{broadcast_id}", clock.now()
    with uow:
        session = uow.session
        broadcast = _locked_broadcast(session, broadcast_id)
        was = broadcast.status
        counts: dict[str, int] = dict(
            session.execute(
                select(Delivery.status, func.count())
                .where(Delivery.broadcast_id == broadcast_id)
                .group_by(Delivery.status)
            ).all()
        )
        went = sum(counts.get(s, 0) for s in WENT)
        in_flight = counts.get(DeliveryStatus.CLAIMED, 0)
        if was == BroadcastStatus.CANCELLED:
            stopped = counts.get(DeliveryStatus.CANCELLED, 0)
            text = f"{name} was already stopped" + (
                f": {_texts(stopped)} did not go, {went:,} had already gone."
                if stopped or went
                else "; nothing was sent."
            )
            return Result(view=views.BroadcastDoneView("already", text), intent="broadcast.already")
        if was == BroadcastStatus.MISSED:
            text = f"{name} never went out (it was missed); there is nothing to stop."
            return Result(view=views.BroadcastDoneView("already", text), intent="broadcast.already")
        if was != BroadcastStatus.DRAFT and not sum(counts.get(s, 0) for s in _WAITING):
            text = f"{name} has finished: {_texts(went)} went; there is nothing left to stop."
            view = views.BroadcastDoneView("finished", text, broadcast_id)
            return Result(view=view, intent="broadcast.finished")
        stopped = broadcasts.cancel_broadcast(
            session, broadcast_id=broadcast_id, user_id=user_id, now=now
        )
        uow.commit()
    if was == BroadcastStatus.DRAFT:
        text = f"{name} cancelled; nothing was sent."
        return Result(view=views.BroadcastDoneView("cancelled", text), intent="broadcast.cancelled")
    text = f"{name} stopped: {_texts(stopped)} not yet sent will not go; {went:,} had already gone."
    if in_flight:
        text += f" {_texts(in_flight)} in flight to Twilio just then may still go."
    view = views.BroadcastDoneView("stopped", text, broadcast_id)
    return Result(view=view, intent="broadcast.stopped")


# --- scheduled / unschedule ----------------------------------------------------------------------


def _scheduled(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    _no_args(cmd)
    with uow:
        rows = schedules.list_schedules(uow.session, now=clock.now())
        lines = tuple(
            views.ScheduleLine(
                id=s.id,
                audience=s.audience,
                body=s.body,
                when=_schedule_when(s),
                created_by=s.created_by,
            )
            for s in rows
        )
        going = going_out(uow.session, org=org, limit=GOING_OUT_LIMIT)
    return Result(view=views.ScheduleListView(lines, going_out=going), intent="scheduled")


def going_out(session: Session, *, org: OrgConfig, limit: int) -> tuple[views.GoingOutLine, ...]:
    """Broadcasts with texts not yet handed to Twilio, newest first: confirmed ones and those
    the clock fired, whose Stop sending is found here (the clock posts no message of its own)."""
    rows = session.execute(
        select(Broadcast, func.count(Delivery.id))
        .join(Delivery, Delivery.broadcast_id == Broadcast.id)
        .where(Broadcast.status.in_(_GOING), Delivery.status.in_(_WAITING))
        .group_by(Broadcast.id)
        .order_by(Broadcast.id.desc())
        .limit(limit)
    ).all()
    return tuple(
        views.GoingOutLine(
            id=b.id,
            audience=b.audience,
            body=b.body,
            when=local_when(b.confirmed_at or b.created_at, None, org.zone),
            left=left,
            recipients=b.recipient_count,
            schedule_id=b.schedule_id,
        )
        for b, left in rows
    )


def _schedule_when(s: ScheduledView) -> str:
    """`Thu Nov 19, 18:00 EST`, or `every 0 9 * * MON (America/New_York), next Mon Nov 23, ...`."""
    zone = ZoneInfo(s.timezone)
    if s.cron is None and s.run_at is not None:
        return local_when(s.run_at, None, zone)
    following = f", next {local_when(s.next_run_at, None, zone)}" if s.next_run_at else ""
    return f"every `{s.cron}` ({s.timezone}){following}"


def _unschedule(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    schedule_id = _one_number(cmd.args, "unschedule", "ID")
    now = clock.now()
    with uow:
        schedules.cancel_schedule(
            uow.session, schedule_id=schedule_id, user_id=cmd.user_id, now=now
        )
        uow.commit()
    view = views.NoticeView(f"Scheduled broadcast #{schedule_id} is cancelled.")
    return Result(view=view, intent="unscheduled")


# --- export --------------------------------------------------------------------------------------


def _export(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    words = cmd.args.split()
    if words == ["volunteers"]:
        shift_id = None
    elif len(words) == 2 and words[0] == "roster":
        shift_id = _one_number(words[1], "export")
    else:
        raise _usage(USAGE["export"], "say what to export" if not words else None)
    now = clock.now()
    stamp = f"{now.astimezone(org.zone):%Y-%m-%d}"
    if shift_id is None:
        columns, title, target = exports.VOLUNTEER_COLUMNS, "Volunteers", "volunteers"
        filename = f"volunteers-{stamp}.csv"

        def rows(session: Session) -> Iterable[dict[str, str]]:
            return exports.volunteer_rows(session)

    else:
        columns, title = exports.ROSTER_COLUMNS, f"Roster of shift #{shift_id}"
        filename, target = f"roster-{shift_id}-{stamp}.csv", f"shift:{shift_id}"

        def rows(session: Session) -> Iterable[dict[str, str]]:
            if session.get(Shift, shift_id) is None:
                raise UnknownShift(shift_id)
            return exports.roster_rows(session, shift_id)

    with uow:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        count = 0
        for row in rows(uow.session):
            writer.writerow(row)
            count += 1
        audit(
            uow.session,
            actor=cmd.user_id,
            action="export",
            target=target,
            detail={"rows": count},
            at=now,
        )
        uow.commit()
    view = views.ExportView(
        filename=filename, title=title, content=buffer.getvalue().encode(), rows=count
    )
    return Result(view=view, intent="export")


# --- the inbox: an organizer's reply in a volunteer's thread -------------------------------------


def _inbox_reply(
    action: OrganizerAction, *, uow: UnitOfWork, org: OrgConfig, clock: Clock
) -> Result:
    """Text an organizer's thread reply to the volunteer, once per Slack event."""
    values, now = action.values, clock.now()
    text = values.get("text", "").strip()
    event_key = f"slack-event:{action.action_id}"
    thread = Volunteer.inbox_thread_ts == values.get("thread_ts")
    with uow:
        volunteer_id = uow.session.scalar(select(Volunteer.id).where(thread))
    if volunteer_id is None or not text:
        return Result(intent="ignored")  # not a volunteer's thread: people talking
    _require_organizer(action.user_id, action.name, uow=uow, org=org, clock=clock)
    with uow:
        volunteer = uow.session.get(Volunteer, volunteer_id)
        if volunteer is None:
            return Result(intent="ignored")
        fresh = insert_ignoring_conflicts(
            uow.session, ProcessedEvent.__table__, [{"key": event_key, "at": now}]
        )
        if not fresh:
            return Result(intent="duplicate")
        if volunteer.status != VolunteerStatus.ACTIVE or not volunteer.phone:
            uow.commit()
            why = "opted out" if volunteer.status == VolunteerStatus.OPTED_OUT else "unreachable"
            return Result(
                reply=f"Not sent: {_name(volunteer)} is {why}, so Muster will not text them.",
                intent="reply.refused",
            )
        body = text if text.startswith(org.org_name) else f"{org.org_name}: {text}"
        sms = OutboundSms(
            phone=volunteer.phone,
            body=body,
            kind="reply",
            idempotency_key=f"reply:{action.action_id}",
            volunteer_id=volunteer.id,
        )
        result = record_effects(uow.session, Result(sms=(sms,), intent="reply.queued"))
        if values.get("channel") and values.get("ts"):
            uow.session.add(
                SlackReplyMark(
                    delivery_key=sms.idempotency_key,
                    channel=values["channel"],
                    message_ts=values["ts"],
                    created_at=now,
                )
            )
        audit(
            uow.session,
            actor=action.user_id,
            action="inbox.reply",
            target=f"volunteer:{volunteer.id}",
            detail={"chars": len(body)},
            at=now,
        )
        uow.commit()
    return result


def inbox_header(
    session: Session, *, volunteer_id: int, now: datetime, org: OrgConfig
) -> views.InboxHeaderView | None:
    """What the parent message of a volunteer's inbox thread says about them."""
    volunteer = session.get(Volunteer, volunteer_id)
    if volunteer is None:
        return None
    rows = session.execute(
        select(Commitment.status, Shift)
        .join(Shift, Shift.id == Commitment.shift_id)
        .where(
            Commitment.volunteer_id == volunteer_id,
            Commitment.status != CommitmentStatus.DROPPED,
            Shift.ends_at > now,
        )
        .order_by(Shift.starts_at)
        .limit(5)
    ).all()
    commitments = tuple(
        f"#{shift.id} {shift.title}, "
        f"{local_when(shift.starts_at, shift.ends_at, ZoneInfo(shift.timezone))} ({status})"
        for status, shift in rows
    )
    return views.InboxHeaderView(
        volunteer_id=volunteer.id,
        name=_name(volunteer),
        phone=masked(volunteer.phone),
        zip=volunteer.zip,
        status=str(volunteer.status),
        tags=tuple(volunteer.tag_names),
        commitments=commitments,
    )


# A reply in a thread that is not a volunteer's is just people talking: no refusal, no audit.
_CHECKS_ITS_OWN_RIGHTS = {"inbox.reply"}
_COMMANDS: dict[str, Callable[..., Result]] = {
    "help": _help,
    "shift add": _shift_add,
    "shifts": _shifts,
    "roster": _roster,
    "signup": _signup,
    "find": _find,
    "broadcast": _broadcast,
    "scheduled": _scheduled,
    "unschedule": _unschedule,
    "stats": _stats,
    "export": _export,
}
_ACTIONS: dict[str, Callable[..., Result]] = {
    "shift.submit": _shift_submit,
    "broadcast.submit": _broadcast_submit,
    "broadcast.confirm": _broadcast_confirm,
    "broadcast.cancel": _broadcast_cancel,
    "broadcast.stop": _broadcast_stop,
    "roster.attended": _mark_attendance(attended=True),
    "roster.no_show": _mark_attendance(attended=False),
    "inbox.reply": _inbox_reply,
}
