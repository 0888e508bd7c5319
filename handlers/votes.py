"""Member votes: a ballot's request checked, and its life on the clock (opened: who may vote fixed
and the ballot texted; closed: the result computed under its rule, `handlers.vote_rules`, and
posted once).

Every function runs inside the caller's unit of work. Opening and closing are claimed with a
conditional UPDATE (`storage.votes.claim`), so of two clocks (or a clock and an organizer's
`vote close`) exactly one opens, closes and posts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy import Integer, and_, func, insert, literal, select
from sqlalchemy.orm import Session

from handlers.audiences import audience_condition, check_audience, parse_audience, reachable
from handlers.broadcasts import expand_broadcast
from handlers.config import OrgConfig
from handlers.errors import InvalidInput, MusterError
from handlers.results import InboxPost
from handlers.sending import enqueue_posts
from handlers.sms_text import when as local_when
from handlers.vote_rules import Outcome, outcome_of, parse_threshold, rule_text
from storage.audit import audit
from storage.models import Broadcast, BroadcastStatus, Volunteer
from storage.votes import (
    Ballot,
    BallotEligibility,
    BallotRule,
    BallotStatus,
    claim,
)

MAX_OPTIONS, MIN_OPTIONS = 9, 2
MAX_QUESTION, MAX_OPTION = 300, 80
ABSTAIN_WORDS = frozenset(["abstain", "abstention", "abstencion", "abstención", "me abstengo"])
CLOCK = "clock"


class UnknownBallot(MusterError):
    def __init__(self, ballot_id: int):
        super().__init__(f"There is no ballot {ballot_id}: `votes` lists them.")
        self.ballot_id = ballot_id


@dataclass(frozen=True, slots=True)
class BallotRequest:
    question: str
    options: tuple[str, ...]
    audience: str
    opens_at: datetime
    closes_at: datetime
    rule: BallotRule = BallotRule.MAJORITY
    threshold: Fraction = Fraction(1, 2)
    count_abstentions: bool = False
    quorum_percent: int | None = None

    @property
    def abstain_option(self) -> int | None:
        for number, text in enumerate(self.options, start=1):
            if text.strip().lower() in ABSTAIN_WORDS:
                return number
        return None


def check_request(
    values: dict[str, str], *, org: OrgConfig, now: datetime, parse_time: Any
) -> BallotRequest:
    """A ballot's fields checked (keyed by field, as a form's errors are)."""
    errors: dict[str, str] = {}
    question = " ".join(values.get("question", "").split())
    if not question:
        errors["question"] = "the question is empty"
    elif len(question) > MAX_QUESTION:
        errors["question"] = f"keep the question under {MAX_QUESTION} characters"
    options = tuple(" ".join(o.split()) for o in values.get("options", "").split("|"))
    options = tuple(o for o in options if o)
    if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
        errors["options"] = f"give {MIN_OPTIONS} to {MAX_OPTIONS} options separated by |"
    elif len({o.lower() for o in options}) != len(options):
        errors["options"] = "two options are the same"
    elif any(len(o) > MAX_OPTION for o in options):
        errors["options"] = f"keep each option under {MAX_OPTION} characters"
    audience = values.get("to", "").strip() or "members"
    try:
        parse_audience(audience)
    except MusterError as exc:
        errors["to"] = exc.message
    opens_at, closes_at = now, None
    for key in ("opens", "closes"):
        text = values.get(key, "").strip()
        if not text:
            continue
        try:
            moment = parse_time(text)
        except (ValueError, MusterError):
            errors[key] = "use YYYY-MM-DD HH:MM"
            continue
        if key == "opens":
            opens_at = max(moment, now)
        else:
            closes_at = moment
    if closes_at is None and "closes" not in errors:
        errors["closes"] = "say when voting closes (YYYY-MM-DD HH:MM)"
    elif closes_at is not None and closes_at <= max(opens_at, now) + timedelta(minutes=5):
        errors["closes"] = "must be at least 5 minutes after the ballot opens"
    try:
        rule, threshold = parse_threshold(values.get("threshold", ""))
    except ValueError:
        errors["threshold"] = "use majority, a share such as 2/3, or a percentage such as 60%"
        rule, threshold = BallotRule.MAJORITY, Fraction(1, 2)
    quorum = None
    if values.get("quorum", "").strip():
        m = re.fullmatch(r"(\d{1,3})\s*%?", values["quorum"].strip())
        quorum = int(m.group(1)) if m else None
        if quorum is None or not 0 < quorum <= 100:
            errors["quorum"] = "a percentage of the eligible members, such as 25%"
    counted = values.get("abstentions", "").strip().lower()
    if counted not in ("", "counted", "not_counted", "not-counted", "no", "yes"):
        errors["abstentions"] = "counted or not_counted"
    if errors:
        raise InvalidInput(errors)
    assert closes_at is not None
    return BallotRequest(
        question=question,
        options=options,
        audience=str(parse_audience(audience)),
        opens_at=opens_at,
        closes_at=closes_at,
        rule=rule,
        threshold=threshold,
        count_abstentions=counted in ("counted", "yes"),
        quorum_percent=quorum,
    )


# --- The ballot's life -------------------------------------------------------------------------


def create_ballot(
    session: Session, request: BallotRequest, *, created_by: str, now: datetime
) -> Ballot:
    """A draft, waiting for the preview's Confirm."""
    check_audience(session, parse_audience(request.audience))
    ballot = Ballot(
        question=request.question,
        options=list(request.options),
        audience=request.audience,
        opens_at=request.opens_at,
        closes_at=request.closes_at,
        rule=request.rule,
        threshold_num=request.threshold.numerator,
        threshold_den=request.threshold.denominator,
        abstain_option=request.abstain_option,
        count_abstentions=request.count_abstentions,
        quorum_percent=request.quorum_percent,
        status=BallotStatus.DRAFT,
        created_by=created_by,
        created_at=now,
    )
    session.add(ballot)
    session.flush()
    audit(session, actor=created_by, action="ballot.draft", target=f"ballot:{ballot.id}", at=now)
    return ballot


def eligible_now(ballot: Ballot, *, org: OrgConfig) -> Any:
    """Who would be on the ballot's list if it opened at its time: reachable volunteers of its
    audience who are members on the day it opens (in the organizers' zone)."""
    day = ballot.opens_at.astimezone(org.zone).date()
    return and_(
        reachable(),
        audience_condition(parse_audience(ballot.audience)),
        Volunteer.member_since.is_not(None),
        Volunteer.member_since <= day,
    )


def ballot_text(ballot: Ballot, *, org: OrgConfig) -> str:
    """The text the members get: the question, the numbered options, how to answer, until when."""
    lines = [f"{org.org_name} member vote #{ballot.id}: {ballot.question}"]
    lines += [f"{n} {text}" for n, text in enumerate(ballot.options, start=1)]
    until = local_when(ballot.closes_at, org.default_timezone, "en")
    last = len(ballot.options)
    lines.append(f"Reply 1-{last} (or VOTE {ballot.id} 1) by {until}. STOP to opt out")
    return "\n".join(lines)


def confirm_ballot(
    session: Session, ballot: Ballot, *, user_id: str, now: datetime, org: OrgConfig
) -> bool:
    """The preview's Confirm: scheduled, and opened at once when its time has come. A second
    Confirm does nothing."""
    if not claim(
        session,
        ballot.id,
        was=BallotStatus.DRAFT,
        becomes=BallotStatus.SCHEDULED,
        confirmed_by=user_id,
        confirmed_at=now,
    ):
        return False
    audit(session, actor=user_id, action="ballot.confirm", target=f"ballot:{ballot.id}", at=now)
    session.refresh(ballot)
    if ballot.opens_at <= now:
        open_ballot(session, ballot.id, now=now, org=org)
    return True


def open_ballot(session: Session, ballot_id: int, *, now: datetime, org: OrgConfig) -> bool:
    """Fix who may vote (one INSERT ... SELECT) and text them the ballot (a broadcast, held in
    quiet hours, never sent after the close). False when someone else opened it first."""
    if not claim(
        session, ballot_id, was=BallotStatus.SCHEDULED, becomes=BallotStatus.OPEN, opened_at=now
    ):
        return False
    ballot = session.get(Ballot, ballot_id, populate_existing=True)
    assert ballot is not None
    voters = select(literal(ballot.id, Integer), Volunteer.id).where(eligible_now(ballot, org=org))
    session.execute(insert(BallotEligibility).from_select(["ballot_id", "volunteer_id"], voters))
    ballot.eligible_count = (
        session.scalar(select(func.count()).where(BallotEligibility.ballot_id == ballot.id)) or 0
    )
    broadcast = Broadcast(
        body=ballot_text(ballot, org=org),
        audience=f"ballot:{ballot.id}",
        kind="ballot",
        status=BroadcastStatus.DRAFT,
        is_call_to_action=False,
        deadline=ballot.closes_at,
        created_by=ballot.confirmed_by or CLOCK,
        confirmed_by=ballot.confirmed_by or CLOCK,
        created_at=now,
        confirmed_at=now,
    )
    session.add(broadcast)
    session.flush()
    expand_broadcast(session, broadcast, now=now)
    ballot.broadcast_id = broadcast.id
    audit(
        session,
        actor=CLOCK,
        action="ballot.open",
        target=f"ballot:{ballot.id}",
        at=now,
        detail={"eligible": ballot.eligible_count, "broadcast": broadcast.id},
    )
    session.flush()
    return True


def close_ballot(
    session: Session, ballot_id: int, *, now: datetime, org: OrgConfig, by: str = CLOCK
) -> Outcome | None:
    """Close, count under the rule, keep the result and post it, exactly once. An organizer's
    early close moves the closing time to now. None when it was not open (or already closed)."""
    ballot = session.get(Ballot, ballot_id, populate_existing=True)
    if ballot is None:
        raise UnknownBallot(ballot_id)
    closes_at = ballot.closes_at if by == CLOCK else min(ballot.closes_at, now)
    closes_at = max(closes_at, ballot.opens_at + timedelta(seconds=1))
    if not claim(
        session,
        ballot_id,
        was=BallotStatus.OPEN,
        becomes=BallotStatus.CLOSED,
        closed_at=now,
        closed_by=by,
        closes_at=closes_at,
        result_posted_at=now,
    ):
        return None
    session.refresh(ballot)
    outcome = outcome_of(session, ballot)
    ballot.result = {
        "counts": {str(o): n for o, n in sorted(outcome.counts.items())},
        "voted": outcome.voted,
        "eligible": outcome.eligible,
        "base": outcome.base,
        "quorum_met": outcome.quorum_met,
        "winner": outcome.winner,
    }
    enqueue_posts(session, [result_post(ballot, outcome, org=org)])
    audit(
        session,
        actor=by,
        action="ballot.close",
        target=f"ballot:{ballot.id}",
        at=now,
        detail=ballot.result,
    )
    session.flush()
    return outcome


def result_post(ballot: Ballot, outcome: Outcome, *, org: OrgConfig) -> InboxPost:
    """The result for the organizers' channel: options, votes, share, turnout, passed or not."""
    lines = [f"*Ballot #{ballot.id} closed:* {ballot.question}"]
    for n, text in enumerate(ballot.options, start=1):
        votes = outcome.counts.get(n, 0)
        share = "" if n == ballot.abstain_option and not ballot.count_abstentions else (
            f" ({outcome.share(n):.0%})")  # fmt: skip
        mark = " :white_check_mark:" if n == outcome.winner else ""
        lines.append(f"{n}. {text}: {votes:,} vote{'' if votes == 1 else 's'}{share}{mark}")
    lines.append(
        f"Turnout: {outcome.voted:,} of {outcome.eligible:,} eligible members "
        f"({outcome.turnout:.0%})."
    )
    if outcome.winner is not None:
        verdict = f"PASSED: {ballot.options[outcome.winner - 1]} ({rule_text(ballot)})."
    elif not outcome.quorum_met:
        verdict = f"NOT PASSED: no quorum ({rule_text(ballot)})."
    else:
        verdict = f"NOT PASSED: no option reached {rule_text(ballot)}."
    lines.append(verdict)
    return InboxPost(kind="ballot_result", text="\n".join(lines))


def due_ballots(session: Session, *, now: datetime) -> tuple[list[int], list[int]]:
    """(ballots due to open, ballots due to close) at `now`."""
    to_open = session.scalars(
        select(Ballot.id).where(Ballot.status == BallotStatus.SCHEDULED, Ballot.opens_at <= now)
    ).all()
    to_close = session.scalars(
        select(Ballot.id).where(Ballot.status == BallotStatus.OPEN, Ballot.closes_at <= now)
    ).all()
    return list(to_open), list(to_close)
