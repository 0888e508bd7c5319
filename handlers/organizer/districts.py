"""`/muster districts [STATE]`, `target add|remove DISTRICT [goal=N] [reason="..."]`, `targets`:
where the volunteers are, by district, target districts first.

For each district: the volunteers living in it (reachable ones), those active in the last 30 days
(texted us or signed up for a shift), the commitments to its shifts (`shift district=ID`) starting
in the next 7 days, and the gap to the target's goal. All counted in a few grouped queries.
"""

from __future__ import annotations

import shlex
from datetime import datetime, timedelta

from sqlalchemy import distinct, func, or_, select
from sqlalchemy.orm import Session

from handlers import views
from handlers.audiences import US_STATES, reachable
from handlers.config import OrgConfig
from handlers.district_names import parse_district
from handlers.districts import district_label
from handlers.messages import OrganizerCommand
from handlers.organizer.parsing import SMART_QUOTES, USAGE, no_args, usage_error
from handlers.ports import Clock
from handlers.results import Result
from storage.audit import audit
from storage.districts import TargetDistrict, VolunteerDistrict, drop_target, put_target
from storage.models import (
    Commitment,
    CommitmentStatus,
    InboundMessage,
    Shift,
    Volunteer,
)
from storage.uow import UnitOfWork

OTHER_DISTRICTS = 10  # non-target districts shown after the targets, most volunteers first
ACTIVE_DAYS = 30
WEEK = timedelta(days=7)
MAX_GOAL = 1_000_000


def show_districts(
    cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock
) -> Result:
    state = cmd.args.strip().lower() or None
    if state is not None and state.upper() not in US_STATES:
        raise usage_error(USAGE["districts"], f"`{cmd.args.strip()}` is not a state (e.g. MA)")
    with uow:
        view = district_counts(uow.session, now=clock.now(), state=state)
    return Result(view=view, intent="districts")


def list_targets(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    no_args(cmd)
    with uow:
        view = district_counts(uow.session, now=clock.now(), state=None, targets_only=True)
    return Result(view=view, intent="targets")


def add_target(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    district_text, pairs = _district_and_pairs(cmd.args, "target add", {"goal", "reason"})
    district = parse_district(district_text)
    goal = None
    if pairs.get("goal"):
        text = pairs["goal"]
        if not text.isdigit() or not 0 < int(text) <= MAX_GOAL:
            raise usage_error(USAGE["target add"], "goal must be a number of volunteers")
        goal = int(text)
    reason = (pairs.get("reason") or "").strip()[:500] or None
    now = clock.now()
    with uow:
        put_target(
            uow.session, district=district.id, goal=goal, set_by=cmd.user_id, reason=reason, now=now
        )
        audit(uow.session, actor=cmd.user_id, action="target.add", at=now, target=district.id,
              detail={"goal": goal, "reason": reason})  # fmt: skip
        uow.commit()
    goal_text = f", goal {goal} volunteers" if goal else ""
    return Result(
        view=views.NoticeView(f"Target district: {district.id} ({district.label}){goal_text}."),
        intent="target_add",
    )


def remove_target(
    cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock
) -> Result:
    district_text, _ = _district_and_pairs(cmd.args, "target remove", set())
    district = parse_district(district_text)
    now = clock.now()
    with uow:
        removed = drop_target(uow.session, district.id)
        if removed:
            audit(uow.session, actor=cmd.user_id, action="target.remove", at=now,
                  target=district.id)  # fmt: skip
        uow.commit()
    text = (
        f"{district.id} is no longer a target district."
        if removed
        else f"{district.id} was not a target district."
    )
    return Result(view=views.NoticeView(text), intent="target_remove")


def _district_and_pairs(args: str, usage_of: str, allowed: set[str]) -> tuple[str, dict[str, str]]:
    try:
        tokens = shlex.split(args.translate(SMART_QUOTES))
    except ValueError:
        raise usage_error(USAGE[usage_of], "a quote is not closed") from None
    if not tokens or "=" in tokens[0]:
        raise usage_error(USAGE[usage_of], "missing DISTRICT")
    pairs: dict[str, str] = {}
    for token in tokens[1:]:
        key, sep, value = token.partition("=")
        if not sep or key.lower() not in allowed:
            raise usage_error(USAGE[usage_of], f"`{token}` is not one of {', '.join(allowed)}")
        pairs[key.lower()] = value
    return tokens[0], pairs


def district_counts(
    session: Session, *, now: datetime, state: str | None, targets_only: bool = False
) -> views.DistrictsView:
    targets = {t.district: t for t in session.scalars(select(TargetDistrict))}
    if state:
        targets = {d: t for d, t in targets.items() if d.split("/")[0] == state}
    living_q = (
        select(VolunteerDistrict.district, func.count())
        .join(Volunteer, Volunteer.id == VolunteerDistrict.volunteer_id)
        .where(reachable())
        .group_by(VolunteerDistrict.district)
    )
    if state:
        living_q = living_q.where(
            or_(
                VolunteerDistrict.district.startswith(f"{state}/"),
                VolunteerDistrict.district == state,
            )
        )
    living = {d: int(n) for d, n in session.execute(living_q)}
    shown = list(sorted(targets))
    if not targets_only:
        others = sorted((d for d in living if d not in targets), key=lambda d: (-living[d], d))
        shown += others[:OTHER_DISTRICTS]
    active = _active(session, shown, now=now)
    committed = _committed_this_week(session, shown, now=now)
    rows = []
    for d in shown:
        target = targets.get(d)
        goal = target.goal if target else None
        rows.append(
            views.DistrictLine(
                district=d,
                label=district_label(d),
                target=target is not None,
                living=living.get(d, 0),
                active=active.get(d, 0),
                committed_this_week=committed.get(d, 0),
                goal=goal,
                gap=max(goal - living.get(d, 0), 0) if goal else None,
                reason=target.reason if target else None,
            )
        )
    return views.DistrictsView(
        state=state.upper() if state else None, rows=tuple(rows), targets_only=targets_only
    )


def _active(session: Session, districts: list[str], *, now: datetime) -> dict[str, int]:
    if not districts:
        return {}
    since = now - timedelta(days=ACTIVE_DAYS)
    texted = select(InboundMessage.volunteer_id.label("vid")).where(
        InboundMessage.received_at >= since, InboundMessage.volunteer_id.is_not(None)
    )
    signed = select(Commitment.volunteer_id.label("vid")).where(Commitment.created_at >= since)
    recent = texted.union(signed).subquery()
    rows = session.execute(
        select(VolunteerDistrict.district, func.count(distinct(VolunteerDistrict.volunteer_id)))
        .join(recent, recent.c.vid == VolunteerDistrict.volunteer_id)
        .join(Volunteer, Volunteer.id == VolunteerDistrict.volunteer_id)
        .where(VolunteerDistrict.district.in_(districts), reachable())
        .group_by(VolunteerDistrict.district)
    )
    return {d: int(n) for d, n in rows}


def _committed_this_week(
    session: Session, districts: list[str], *, now: datetime
) -> dict[str, int]:
    if not districts:
        return {}
    rows = session.execute(
        select(Shift.district, func.count(Commitment.id))
        .join(Commitment, Commitment.shift_id == Shift.id)
        .where(
            Shift.district.in_(districts),
            Shift.cancelled_at.is_(None),
            Shift.starts_at >= now,
            Shift.starts_at < now + WEEK,
            Commitment.status.in_((CommitmentStatus.COMMITTED, CommitmentStatus.CONFIRMED)),
        )
        .group_by(Shift.district)
    )
    return {d: int(n) for d, n in rows}
