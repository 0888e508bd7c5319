"""`/muster broadcast` (inline or the form): a checked request and the preview to confirm."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from handlers import broadcasts, schedules, views
from handlers.audiences import parse_audience
from handlers.broadcasts import check_body, check_follow_up
from handlers.config import OrgConfig
from handlers.errors import InvalidInput, UsageError
from handlers.messages import OrganizerAction, OrganizerCommand
from handlers.organizer.display import local_when
from handlers.organizer.parsing import AUDIENCES, USAGE, parse_pairs, usage_error
from handlers.ports import Clock
from handlers.results import Result
from storage.uow import UnitOfWork

MAX_CRON_CHARS = 100  # what schedules.cron holds


@dataclass(frozen=True, slots=True)
class BroadcastRequest:
    audience: str
    body: str
    run_at: datetime | None = None
    cron: str | None = None
    on_yes: str | None = None  # follow-ups texted once in answer to a bare YES / NO
    on_no: str | None = None


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
    follow_ups: dict[str, str | None] = {}
    for key in ("on_yes", "on_no"):
        try:
            follow_ups[key] = check_follow_up(values.get(key), key=key)
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
    return BroadcastRequest(
        audience=audience,
        body=body,
        run_at=run_at,
        cron=cron,
        on_yes=follow_ups.get("on_yes"),
        on_no=follow_ups.get("on_no"),
    )


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


def start_broadcast(
    cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock
) -> Result:
    if not cmd.args.strip():
        view = views.BroadcastFormView(
            usage=USAGE["broadcast"], audiences=AUDIENCES, channel_id=cmd.channel_id
        )
        return Result(view=view, intent="broadcast.form")
    values = parse_pairs(
        cmd.args,
        usage_of="broadcast",
        allowed=("to", "at", "every", "message", "on_yes", "on_no"),
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
            on_yes=request.on_yes,
            on_no=request.on_no,
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
        samples=tuple(p.samples),
        left_out=p.left_out,
        left_out_fields=tuple(sorted(p.left_out_fields.items())),
        on_yes=request.on_yes,
        on_no=request.on_no,
    )
    return Result(view=view, intent="broadcast.preview")
