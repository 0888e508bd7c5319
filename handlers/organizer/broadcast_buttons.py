"""The buttons on a broadcast's preview and answer: Confirm, Cancel and Stop sending."""

from __future__ import annotations

import json

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from handlers import broadcasts, schedules, views
from handlers.audiences import parse_audience
from handlers.config import OrgConfig
from handlers.errors import UsageError
from handlers.messages import OrganizerAction
from handlers.organizer import votes
from handlers.organizer.parsing import USAGE
from handlers.organizer.rights import OutsideChapter, refuse, scope_for
from handlers.ports import Clock
from handlers.results import Result
from storage.models import Broadcast, BroadcastStatus, Delivery, DeliveryStatus
from storage.outbox import WENT
from storage.uow import UnitOfWork

_OUT_OF_DATE = "That button is out of date; run the broadcast again."
GOING = (BroadcastStatus.QUEUED, BroadcastStatus.SENDING)  # confirmed, or fired by the clock
WAITING = (DeliveryStatus.PENDING, DeliveryStatus.CLAIMED)  # texts not yet handed to Twilio


def _broadcast_of(token: str) -> int:
    """`b:12` (a Confirm, Cancel or Stop sending button of broadcast 12) -> 12."""
    if token.startswith("b:") and token[2:].isdigit():
        return int(token[2:])
    raise UsageError(_OUT_OF_DATE)


def _scheduled_draft_of(token: str) -> tuple[int, str | None, int | None] | None:
    """`s:{"draft":12,"every":"0 9 * * MON","valid":120}` -> (12, "0 9 * * MON", 120); None if
    not one (`valid`: minutes each run's texts may go out, when given)."""
    try:
        spec = json.loads(token[2:])
    except ValueError:
        return None
    if not isinstance(spec, dict) or not isinstance(spec.get("draft"), int):
        return None  # includes a preview made before drafts: it carried the whole request
    every, valid = spec.get("every"), spec.get("valid")
    return (
        spec["draft"],
        every if isinstance(every, str) else None,
        valid if isinstance(valid, int) and valid > 0 else None,
    )


def _locked_broadcast(session: Session, broadcast_id: int) -> Broadcast:
    """The row, locked for this transaction, so that two clicks cannot both act on it."""
    broadcast = session.get(Broadcast, broadcast_id, with_for_update=True, populate_existing=True)
    if broadcast is None:
        raise broadcasts.UnknownBroadcastId(broadcast_id)
    return broadcast


def _require_in_scope(
    action: OrganizerAction, *, uow: UnitOfWork, org: OrgConfig, clock: Clock
) -> None:
    """A chapter leader's button acts only on a broadcast to their chapter (refused, audited)."""
    scope = scope_for(action.user_id, uow=uow, org=org)
    if scope.whole:
        return
    token = action.values.get("token", "")
    draft = _scheduled_draft_of(token) if token.startswith("s:") else None
    broadcast_id = draft[0] if draft else _broadcast_of(token)
    with uow:
        audience = uow.session.scalar(
            select(Broadcast.audience).where(Broadcast.id == broadcast_id)
        )
    slugs = (
        {t.value for t in parse_audience(audience).terms if t.kind == "chapter"}
        if audience
        else set()
    )
    if not slugs or not slugs <= set(scope.slugs):
        refuse(action.user_id, f"{action.name} broadcast:{broadcast_id}", uow=uow, clock=clock)
        raise OutsideChapter(f"You lead {scope.names}: that broadcast is not to your chapter.")


def _texts(n: int) -> str:
    return f"{n:,} text" + ("" if n == 1 else "s")


def confirm_broadcast(
    action: OrganizerAction, *, uow: UnitOfWork, org: OrgConfig, clock: Clock
) -> Result:
    _require_in_scope(action, uow=uow, org=org, clock=clock)
    token = action.values.get("token", "")
    if token.startswith("v:"):  # a ballot's preview (`vote add`)
        return votes.confirm_ballot(action, uow=uow, org=org, clock=clock)
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
    going, name = status in GOING, f"Broadcast #{broadcast_id}"
    if queued:
        text = f"{name} is on its way to {views.volunteers(queued)}."
        view = views.BroadcastDoneView("queued", text, broadcast_id, stoppable=going)
        return Result(view=view, intent="broadcast.queued")
    if status == BroadcastStatus.CANCELLED:
        text = f"{name} was cancelled; nothing more will be sent."
    elif not recipients:
        text = f"{name} had nobody to go to; nothing was sent."
    elif going:
        text = f"{name} was already sent on its way to {views.volunteers(recipients)}."
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
    draft_id, every, valid = found
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
            deadline_minutes=valid,
            quiet_hours_override=draft.quiet_hours_override,
            on_yes=draft.on_yes,
            on_no=draft.on_no,
        )
        draft.confirmed_by, draft.confirmed_at = action.user_id, now
        uow.commit()
        text = f"Scheduled as #{schedule.id}. `{USAGE['unschedule']}` cancels it."
    return Result(view=views.BroadcastDoneView("scheduled", text), intent="broadcast.scheduled")


def cancel_broadcast(
    action: OrganizerAction, *, uow: UnitOfWork, org: OrgConfig, clock: Clock
) -> Result:
    """The preview's Cancel: a draft is cancelled (a late Confirm then sends nothing)."""
    _require_in_scope(action, uow=uow, org=org, clock=clock)
    token = action.values.get("token", "")
    if token.startswith("v:"):
        return votes.cancel_ballot(action, uow=uow, org=org, clock=clock)
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


def stop_broadcast(
    action: OrganizerAction, *, uow: UnitOfWork, org: OrgConfig, clock: Clock
) -> Result:
    """Stop sending, on a confirmed broadcast (or one the clock fired): every text not yet
    handed to Twilio is cancelled, through `broadcasts.cancel_broadcast` (audited there)."""
    _require_in_scope(action, uow=uow, org=org, clock=clock)
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
        if was != BroadcastStatus.DRAFT and not sum(counts.get(s, 0) for s in WAITING):
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
