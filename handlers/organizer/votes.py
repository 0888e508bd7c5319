"""`/muster vote add|close|remind`, `votes`, `vote N`: member votes from Slack and the console.

`vote add` checks the ballot, keeps it as a draft and answers with a preview like a broadcast's
(who is eligible now, the text, segments, cost), whose Confirm and Cancel carry `v:<ballot>`
(`handlers.organizer.broadcast_buttons` hands those to `confirm_ballot` / `cancel_ballot` here).
`vote remind N` is a broadcast to `ballot:N:waiting` (the eligible members who have not voted),
previewed and confirmed as any broadcast.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from handlers import broadcasts, views, vote_rules, votes
from handlers.audience_hints import nobody_reason
from handlers.audiences import parse_audience
from handlers.config import OrgConfig
from handlers.districts import district_label
from handlers.errors import InvalidInput, NotAnOrganizer, UsageError
from handlers.messages import OrganizerAction, OrganizerCommand
from handlers.organizer.display import local_when
from handlers.organizer.parsing import USAGE, one_number, parse_local_time, parse_pairs, usage_error
from handlers.ports import Clock
from handlers.quiet_hours import in_quiet_hours
from handlers.results import Result
from handlers.segments import count_segments
from storage.audit import audit
from storage.chapters import Chapter, VolunteerChapter
from storage.districts import VolunteerDistrict
from storage.models import Volunteer
from storage.uow import UnitOfWork
from storage.votes import Ballot, BallotEligibility, BallotStatus, Vote, claim, latest_votes

LISTED = 15
BY_DISTRICT = 10
_OUT_OF_DATE = "That button is out of date; run `vote add` again."


def _when(moment: datetime, zone: ZoneInfo) -> str:
    return local_when(moment, None, zone)


def _ballot(session: Session, ballot_id: int) -> Ballot:
    ballot = session.get(Ballot, ballot_id, populate_existing=True)
    if ballot is None:
        raise votes.UnknownBallot(ballot_id)
    return ballot


# --- vote add: the preview ------------------------------------------------------------------


def add_vote(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    values = parse_pairs(
        cmd.args,
        usage_of="vote add",
        allowed=("question", "options", "to", "opens", "closes", "threshold", "quorum",
                 "abstentions"),
        required=("question", "options", "closes"),
    )  # fmt: skip
    now = clock.now()
    try:
        request = votes.check_request(
            values, org=org, now=now, parse_time=lambda text: parse_local_time(text, org.zone)
        )
    except InvalidInput as exc:
        raise usage_error(USAGE["vote add"], exc.message) from None
    with uow:
        s = uow.session
        ballot = votes.create_ballot(s, request, created_by=cmd.user_id, now=now)
        body = votes.ballot_text(ballot, org=org)
        who = votes.eligible_now(ballot, org=org)
        by_zone = s.execute(
            select(Volunteer.timezone, func.count()).where(who).group_by(Volunteer.timezone)
        ).all()
        names = s.scalars(
            select(Volunteer.first_name).where(who).order_by(Volunteer.id).limit(5)
        ).all()
        total = sum(n for _, n in by_zone)
        nobody = nobody_reason(s, parse_audience(ballot.audience)) if total == 0 else ""
        uow.commit()
    quiet = sum(
        n for tz, n in by_zone if in_quiet_hours(now, tz, org.quiet_hours,
                                                 default=org.default_timezone)
    )  # fmt: skip
    info = count_segments(body)
    opens = "now" if ballot.opens_at <= now else _when(ballot.opens_at, org.zone)
    when = (
        f"opens {opens}, closes {_when(ballot.closes_at, org.zone)}; passes with "
        f"{vote_rules.rule_text(ballot)}; eligible: members on the day it opens "
        "(counted again then)"
    )
    view = views.BroadcastPreviewView(
        token=f"v:{ballot.id}",
        audience=ballot.audience,
        body=body,
        recipients=total,
        segments=info.segments,
        encoding=info.encoding,
        estimated_cost=f"${broadcasts.PRICE_PER_SEGMENT_USD * total * info.segments:,.2f}",
        in_quiet_hours=quiet if ballot.opens_at <= now else 0,
        first_names=tuple(n or "(no name yet)" for n in names),
        when=when,
        nobody=nobody,
    )
    return Result(view=view, intent="vote.preview")


def _organizers_only(action: OrganizerAction, org: OrgConfig) -> None:
    """A chapter leader may press a broadcast's buttons, not a ballot's (votes are the whole
    organization's)."""
    if not org.is_organizer(action.user_id):
        raise NotAnOrganizer(action.user_id)


def _ballot_of(token: str) -> int:
    if token.startswith("v:") and token[2:].isdigit():
        return int(token[2:])
    raise UsageError(_OUT_OF_DATE)


def confirm_ballot(
    action: OrganizerAction, *, uow: UnitOfWork, org: OrgConfig, clock: Clock
) -> Result:
    _organizers_only(action, org)
    ballot_id, now = _ballot_of(action.values.get("token", "")), clock.now()
    with uow:
        ballot = _ballot(uow.session, ballot_id)
        done = votes.confirm_ballot(uow.session, ballot, user_id=action.user_id, now=now, org=org)
        ballot = _ballot(uow.session, ballot_id)
        status, eligible = ballot.status, ballot.eligible_count
        closes = _when(ballot.closes_at, org.zone)
        opens = _when(ballot.opens_at, org.zone)
        uow.commit()
    name = f"Ballot #{ballot_id}"
    if not done:
        text = f"{name} was already {'cancelled' if status == BallotStatus.CANCELLED else status}."
        return Result(view=views.BroadcastDoneView("already", text), intent="vote.already")
    if status == BallotStatus.OPEN:
        text = f"{name} is open: texted to {eligible:,} eligible members; it closes {closes}."
        return Result(view=views.BroadcastDoneView("queued", text), intent="vote.open")
    text = f"{name} is scheduled: it opens {opens} and closes {closes}."
    return Result(view=views.BroadcastDoneView("scheduled", text), intent="vote.scheduled")


def cancel_ballot(
    action: OrganizerAction, *, uow: UnitOfWork, org: OrgConfig, clock: Clock
) -> Result:
    _organizers_only(action, org)
    ballot_id, now = _ballot_of(action.values.get("token", "")), clock.now()
    with uow:
        cancelled = claim(
            uow.session, ballot_id, was=BallotStatus.DRAFT, becomes=BallotStatus.CANCELLED
        )
        if cancelled:
            audit(uow.session, actor=action.user_id, action="ballot.cancel",
                  target=f"ballot:{ballot_id}", at=now)  # fmt: skip
        status = _ballot(uow.session, ballot_id).status
        uow.commit()
    if cancelled:
        text = f"Ballot #{ballot_id} cancelled; nothing was sent."
        return Result(view=views.BroadcastDoneView("cancelled", text), intent="vote.cancelled")
    text = f"Ballot #{ballot_id} is {status}: `{USAGE['vote close']}` closes an open ballot."
    return Result(view=views.BroadcastDoneView("already", text), intent="vote.already")


# --- votes, vote N ---------------------------------------------------------------------------


def ballot_lines(
    session: Session, *, org: OrgConfig, open_only: bool = False
) -> list[views.BallotLine]:
    latest = select(Ballot).where(Ballot.status != BallotStatus.DRAFT)
    if open_only:
        latest = latest.where(Ballot.status == BallotStatus.OPEN)
    ballots = session.scalars(latest.order_by(Ballot.id.desc()).limit(LISTED)).all()
    voted = dict(
        session.execute(
            select(Vote.ballot_id, func.count(func.distinct(Vote.volunteer_id)))
            .where(Vote.ballot_id.in_([b.id for b in ballots]))
            .group_by(Vote.ballot_id)
        ).all()
    ) if ballots else {}  # fmt: skip
    lines = []
    for b in ballots:
        if b.status in (BallotStatus.OPEN, BallotStatus.SCHEDULED):
            when = f"closes {_when(b.closes_at, org.zone)}"
            if b.status == BallotStatus.SCHEDULED:
                when = f"opens {_when(b.opens_at, org.zone)}, {when}"
        else:
            when = f"closed {_when(b.closes_at, org.zone)}"
        lines.append(views.BallotLine(b.id, b.question, str(b.status), when, b.eligible_count,
                                      voted.get(b.id, 0)))  # fmt: skip
    return lines


def open_ballots(*, uow: UnitOfWork, org: OrgConfig) -> tuple[views.BallotLine, ...]:
    """The open ballots, for the App Home (the caller has checked the organizer's rights)."""
    with uow:
        return tuple(ballot_lines(uow.session, org=org, open_only=True))


def list_votes(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    with uow:
        lines = ballot_lines(uow.session, org=org)
    return Result(view=views.BallotListView(tuple(lines)), intent="votes")


def show_vote(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    ballot_id = one_number(cmd.args, "vote")
    with uow:
        view = ballot_view(uow.session, _ballot(uow.session, ballot_id), org=org)
    return Result(view=view, intent="vote.show")


def ballot_view(session: Session, ballot: Ballot, *, org: OrgConfig) -> views.BallotView:
    outcome = vote_rules.outcome_of(session, ballot)
    options = tuple(
        views.BallotOptionLine(
            number=n,
            text=text,
            votes=outcome.counts.get(n, 0),
            share="" if n == ballot.abstain_option and not ballot.count_abstentions
            else f"{outcome.share(n):.0%}",
            winner=n == outcome.winner,
        )
        for n, text in enumerate(ballot.options, start=1)
    )  # fmt: skip
    if ballot.status == BallotStatus.CLOSED:
        verdict = (
            f"PASSED: {ballot.options[outcome.winner - 1]}" if outcome.winner is not None
            else "NOT PASSED" + ("" if outcome.quorum_met else ": no quorum")
        )  # fmt: skip
    elif outcome.winner is not None:
        verdict = f"Passing so far: {ballot.options[outcome.winner - 1]}"
    elif outcome.leader is not None:
        verdict = f"Leading, not yet passing: {ballot.options[outcome.leader - 1]}"
    else:
        verdict = "No option leads yet"
    return views.BallotView(
        id=ballot.id,
        question=ballot.question,
        status=str(ballot.status),
        opens=_when(ballot.opens_at, org.zone),
        closes=_when(ballot.closes_at, org.zone),
        rule=vote_rules.rule_text(ballot),
        eligible=ballot.eligible_count,
        voted=outcome.voted,
        options=options,
        verdict=verdict,
        by_district=tuple(_by_district(session, ballot.id)),
        by_chapter=tuple(_by_chapter(session, ballot.id)),
    )


def _by_district(session: Session, ballot_id: int) -> list[views.BallotGroupLine]:
    """Eligible members and voters per district they live in (the most eligible first)."""
    voted = latest_votes(ballot_id)
    rows = session.execute(
        select(VolunteerDistrict.district, func.count(), func.count(voted.c.volunteer_id))
        .select_from(BallotEligibility)
        .join(VolunteerDistrict, VolunteerDistrict.volunteer_id == BallotEligibility.volunteer_id)
        .outerjoin(voted, voted.c.volunteer_id == BallotEligibility.volunteer_id)
        .where(BallotEligibility.ballot_id == ballot_id)
        .group_by(VolunteerDistrict.district)
        .order_by(func.count().desc(), VolunteerDistrict.district)
        .limit(BY_DISTRICT)
    ).all()
    return [views.BallotGroupLine(district_label(d), n, v) for d, n, v in rows]


def _by_chapter(session: Session, ballot_id: int) -> list[views.BallotGroupLine]:
    """Eligible members and voters per chapter ("the results in your chapter")."""
    voted = latest_votes(ballot_id)
    rows = session.execute(
        select(Chapter.name, func.count(), func.count(voted.c.volunteer_id))
        .select_from(BallotEligibility)
        .join(VolunteerChapter, VolunteerChapter.volunteer_id == BallotEligibility.volunteer_id)
        .join(Chapter, Chapter.id == VolunteerChapter.chapter_id)
        .outerjoin(voted, voted.c.volunteer_id == BallotEligibility.volunteer_id)
        .where(BallotEligibility.ballot_id == ballot_id)
        .group_by(Chapter.name)
        .order_by(func.count().desc(), Chapter.name)
        .limit(BY_DISTRICT)
    ).all()
    return [views.BallotGroupLine(name, n, v) for name, n, v in rows]


# --- vote close, vote remind -------------------------------------------------------------------


def close_vote(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    ballot_id, now = one_number(cmd.args, "vote close"), clock.now()
    with uow:
        ballot = _ballot(uow.session, ballot_id)
        outcome = votes.close_ballot(uow.session, ballot_id, now=now, org=org, by=cmd.user_id)
        status = _ballot(uow.session, ballot_id).status
        uow.commit()
    if outcome is None:
        text = f"Ballot #{ballot_id} is {status}, not open: nothing to close."
        return Result(view=views.NoticeView(text), intent="vote.close.already")
    text = (
        f"Ballot #{ballot.id} closed: {outcome.voted:,} of {outcome.eligible:,} voted. The "
        "result is posted to the organizers' channel; `vote " + str(ballot.id) + "` shows it."
    )
    return Result(view=views.NoticeView(text), intent="vote.closed")


def remind_vote(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    """A broadcast to the eligible members who have not voted, previewed like any broadcast."""
    ballot_id, now = one_number(cmd.args, "vote remind"), clock.now()
    audience = f"ballot:{ballot_id}:waiting"
    with uow:
        s = uow.session
        ballot = _ballot(s, ballot_id)
        if ballot.status != BallotStatus.OPEN or ballot.closes_at <= now:
            raise UsageError(f"Ballot #{ballot_id} is not open; there is nobody to remind.")
        until = _when(ballot.closes_at, org.zone)
        body = (
            f"{org.org_name}: you have not voted yet on #{ballot.id}: {ballot.question} "
            f"Voting closes {until}. Reply VOTE {ballot.id} and your choice "
            f"(1-{len(ballot.options)}). STOP to opt out"
        )
        p = broadcasts.preview_broadcast(s, audience=audience, body=body, now=now, org=org)
        draft = broadcasts.create_draft(
            s, body=body, audience=audience, created_by=cmd.user_id, now=now,
            deadline=ballot.closes_at,
        )  # fmt: skip
        draft.is_call_to_action, draft.kind = False, "ballot_reminder"
        uow.commit()
    view = views.BroadcastPreviewView(
        token=f"b:{draft.id}",
        audience=audience,
        body=draft.body,
        recipients=p.recipients,
        segments=p.segments.segments,
        encoding=p.segments.encoding,
        estimated_cost=f"${p.estimated_cost_usd:,.2f}",
        in_quiet_hours=p.in_quiet_hours_now,
        first_names=tuple(p.first_names),
        when="now",
        broadcast_id=draft.id,
        nobody=p.nobody,
    )
    return Result(view=view, intent="vote.remind.preview")
