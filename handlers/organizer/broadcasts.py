"""`/muster broadcast` (inline or the form): a checked request and the preview to confirm."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from handlers import broadcasts, schedule_times, views
from handlers.audiences import Audience, parse_audience
from handlers.broadcasts import check_body, check_follow_up
from handlers.call_tally import call_tally
from handlers.config import OrgConfig
from handlers.errors import InvalidInput, UsageError
from handlers.messages import OrganizerAction, OrganizerCommand
from handlers.organizer.display import local_when
from handlers.organizer.parsing import AUDIENCES, USAGE, parse_pairs, usage_error
from handlers.organizer.rights import OutsideChapter, refuse, scope_for
from handlers.ports import Clock
from handlers.results import Result
from storage.uow import UnitOfWork

MAX_CRON_CHARS = 100  # what schedules.cron holds
MAX_VALID_MINUTES = 7 * 24 * 60
_VALID = re.compile(r"^(?:(?P<d>\d+)\s*d)?\s*(?:(?P<h>\d+)\s*h)?\s*(?:(?P<m>\d+)\s*m(?:in)?)?$")
OVERRIDE = "override"  # quiet_hours=override: a true emergency goes out in quiet hours too


@dataclass(frozen=True, slots=True)
class BroadcastRequest:
    """A checked request. Sent now, `deadline` is when its texts stop going out; scheduled,
    `valid_minutes` is how long after each run they may (from `valid=`, or `deadline=` less the
    time of a once-only run). `quiet_hours_override`: sent in volunteers' quiet hours too."""

    audience: str
    body: str
    run_at: datetime | None = None
    cron: str | None = None
    on_yes: str | None = None  # follow-ups texted once in answer to a bare YES / NO
    on_no: str | None = None
    deadline: datetime | None = None
    valid_minutes: int | None = None
    quiet_hours_override: bool = False


def parse_valid(text: str) -> int:
    """`valid=2h` (also `90m`, `1h30m`, `1d`) -> minutes; UsageError when it is not one."""
    found = _VALID.match(" ".join(text.strip().lower().split()))
    if not text.strip() or found is None or not any(found.groupdict().values()):
        raise UsageError("give a length like 2h, 90m or 1h30m")
    parts = {k: int(v or 0) for k, v in found.groupdict().items()}
    minutes = parts["d"] * 1440 + parts["h"] * 60 + parts["m"]
    if not 0 < minutes <= MAX_VALID_MINUTES:
        raise UsageError("give a length between 1m and 7d")
    return minutes


def _expiry(
    values: dict[str, str],
    *,
    org: OrgConfig,
    now: datetime,
    run_at: datetime | None,
    cron: str | None,
    errors: dict[str, str],
    deadline_key: str,
    valid_key: str,
) -> tuple[datetime | None, int | None]:
    """`deadline=` / `valid=` as (deadline, valid minutes) for when the broadcast goes out."""
    deadline_text = values.get("deadline", "").strip()
    valid_text = values.get("valid", "").strip()
    if deadline_text and valid_text:
        errors[deadline_key] = "give either deadline= or valid=, not both"
        return None, None
    valid = deadline = None
    if valid_text:
        try:
            valid = parse_valid(valid_text)
        except UsageError as exc:
            errors[valid_key] = exc.message
            return None, None
    elif deadline_text:
        try:
            deadline = schedule_times.parse_run_at(deadline_text, timezone=org.default_timezone)
        except UsageError:
            errors[deadline_key] = "use YYYY-MM-DD HH:MM, or a length like 2h"
            return None, None
        if cron is not None:
            errors[deadline_key] = "a repeating broadcast takes valid=LENGTH (e.g. 2h), not a date"
            return None, None
        if deadline <= (run_at or now):
            errors[deadline_key] = (
                "must be after the time it is sent" if run_at else "must be in the future"
            )
            return None, None
    starts = run_at or (None if cron else now)
    if valid and starts is not None:  # sent once: the moment it stops, too
        deadline = starts + timedelta(minutes=valid)
    if deadline is not None and run_at is not None and valid is None:
        valid = max(1, int((deadline - run_at).total_seconds() // 60))
    return deadline, valid


def _quiet_hours(values: dict[str, str], errors: dict[str, str], key: str) -> bool:
    given = values.get("quiet_hours", "").strip().lower()
    if given in ("", "hold"):
        return False
    if given == OVERRIDE:
        return True
    errors[key] = "quiet_hours takes only `override` (for a true emergency)"
    return False


def broadcast_request(
    values: dict[str, str],
    *,
    org: OrgConfig,
    now: datetime,
    at_key: str = "at",
    deadline_key: str = "deadline",
    valid_key: str = "valid",
    quiet_key: str = "quiet_hours",
) -> BroadcastRequest:
    """Check a broadcast's fields (audience grammar, message, time, cron, deadline or valid=,
    quiet_hours=override), keyed by field."""
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
    follow_ups: dict[str, str | None] = {}
    for key in ("on_yes", "on_no"):
        try:
            follow_ups[key] = check_follow_up(values.get(key), key=key)
        except InvalidInput as exc:
            errors.update(exc.errors)
    run_at = None
    if values.get("at", "").strip():
        try:
            run_at = schedule_times.parse_run_at(values["at"], timezone=org.default_timezone)
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
                cron = schedule_times.check_cron(cron, org.default_timezone, now=now)
            except UsageError as exc:
                errors["every"] = exc.message
            else:
                if len(cron) > MAX_CRON_CHARS:
                    errors["every"] = f"keep the repeat under {MAX_CRON_CHARS} characters"
    deadline, valid = _expiry(
        values, org=org, now=now, run_at=run_at, cron=cron, errors=errors,
        deadline_key=deadline_key, valid_key=valid_key,
    )  # fmt: skip
    override = _quiet_hours(values, errors, quiet_key)
    if errors:
        raise InvalidInput(errors)
    return BroadcastRequest(
        audience=audience,
        body=body,
        run_at=run_at,
        cron=cron,
        on_yes=follow_ups.get("on_yes"),
        on_no=follow_ups.get("on_no"),
        deadline=deadline,
        valid_minutes=valid,
        quiet_hours_override=override,
    )


def broadcast_request_from_form(
    values: dict[str, str], *, org: OrgConfig, now: datetime
) -> BroadcastRequest:
    fields = dict(values)
    errors: dict[str, str] = {}
    # The form's one "Not sent after" field takes a length (2h) or a date and time.
    until = fields.pop("until", "").strip()
    if until:
        fields["valid" if _VALID.match(until.lower()) else "deadline"] = until
    fields["quiet_hours"] = OVERRIDE if values.get("quiet_hours") == OVERRIDE else ""
    day, at = values.get("date", "").strip(), values.get("time", "").strip()
    if day and at:
        fields["at"] = f"{day} {at}"
    elif day or at:
        errors["time" if day else "date"] = "pick both a date and a time"
    try:
        request = broadcast_request(
            fields, org=org, now=now, at_key="date", deadline_key="until", valid_key="until"
        )
    except InvalidInput as exc:
        raise InvalidInput({**exc.errors, **errors}) from None
    if errors:
        raise InvalidInput(errors)
    return request


def start_broadcast(
    cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock
) -> Result:
    number = cmd.args.strip().lstrip("#")
    if number.isdigit() and len(number) <= 9:  # `broadcast 12`: where call to action 12 stands
        with uow:
            tally = call_tally(uow.session, int(number))
        return Result(view=views.NoticeView(tally.text()), intent="broadcast.report")
    if not cmd.args.strip():
        view = views.BroadcastFormView(
            usage=USAGE["broadcast"], audiences=AUDIENCES, channel_id=cmd.channel_id
        )
        return Result(view=view, intent="broadcast.form")
    values = parse_pairs(
        cmd.args,
        usage_of="broadcast",
        allowed=(
            "to",
            "at",
            "every",
            "deadline",
            "valid",
            "quiet_hours",
            "message",
            "on_yes",
            "on_no",
        ),
        required=("to", "message"),
    )
    try:
        request = broadcast_request(values, org=org, now=clock.now())
    except InvalidInput as exc:
        raise usage_error(USAGE["broadcast"], exc.message) from None
    return preview(request, user_id=cmd.user_id, uow=uow, org=org, clock=clock)


def submit_broadcast_form(
    action: OrganizerAction, *, uow: UnitOfWork, org: OrgConfig, clock: Clock
) -> Result:
    request = broadcast_request_from_form(action.values, org=org, now=clock.now())
    return preview(request, user_id=action.user_id, uow=uow, org=org, clock=clock)


def _within_scope(
    audience: Audience, user_id: str, *, uow: UnitOfWork, org: OrgConfig, clock: Clock
) -> Audience:
    """A chapter leader's broadcast stays inside their chapter (refused and audited otherwise)."""
    scope = scope_for(user_id, uow=uow, org=org)
    try:
        return scope.audience(audience)
    except OutsideChapter:
        refuse(user_id, f"broadcast to={audience}", uow=uow, clock=clock)
        raise


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
    audience = _within_scope(
        parse_audience(request.audience), user_id, uow=uow, org=org, clock=clock
    )
    request = replace(request, audience=str(audience))
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
            on_yes=request.on_yes,
            on_no=request.on_no,
            deadline=request.deadline if request.run_at is None and request.cron is None else None,
            quiet_hours_override=request.quiet_hours_override,
        )
        if request.run_at is None and request.cron is None:
            token, when = f"b:{draft.id}", "now"
        else:
            spec: dict[str, object] = {"draft": draft.id, "every": request.cron}
            if request.valid_minutes:
                spec["valid"] = request.valid_minutes
            token = "s:" + json.dumps(spec, separators=(",", ":"))
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
        samples=tuple(p.samples),
        left_out=p.left_out,
        left_out_fields=tuple(sorted(p.left_out_fields.items())),
        on_yes=request.on_yes,
        on_no=request.on_no,
        deadline=_expiry_in_words(request, org),
        quiet_hours_override=request.quiet_hours_override,
        nobody=p.nobody,
    )
    return Result(view=view, intent="broadcast.preview")


def _expiry_in_words(request: BroadcastRequest, org: OrgConfig) -> str | None:
    """When the broadcast's texts stop going out, for the preview (None: no deadline)."""
    dropped = "texts still waiting then (paced, or held for quiet hours) are dropped"
    length = None
    if request.valid_minutes:
        hours, minutes = divmod(request.valid_minutes, 60)
        length = " ".join(
            p for p in (f"{hours}h" if hours else "", f"{minutes}m" if minutes else "") if p
        )
    if request.deadline is not None:
        until = f"not sent after {local_when(request.deadline, None, org.zone)}"
        return f"{f'valid for {length}: ' if length else ''}{until}: {dropped}"
    if length:
        return f"valid for {length} each time it runs: {dropped}"
    return None
