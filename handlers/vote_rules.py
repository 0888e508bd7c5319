"""The rule a ballot passes by: as an organizer writes it (`parse_threshold`), applied to the
votes (`decide`, whose arithmetic is pure, and `outcome_of`, on a ballot's tally in the database)
and put in words (`rule_text`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from sqlalchemy.orm import Session

from storage.votes import Ballot, BallotRule, tally_rows


def parse_threshold(text: str) -> tuple[BallotRule, Fraction]:
    """`majority` (more than half) or `2/3`, `60%` (at least that share). ValueError if not."""
    text = (text or "").strip().lower()
    if text in ("", "majority", "simple", "1/2+"):
        return BallotRule.MAJORITY, Fraction(1, 2)
    m = re.fullmatch(r"(\d{1,3})\s*/\s*(\d{1,3})", text)
    share = Fraction(int(m.group(1)), int(m.group(2))) if m and int(m.group(2)) else None
    m = re.fullmatch(r"(\d{1,3})\s*%", text)
    if m:
        share = Fraction(int(m.group(1)), 100)
    if share is None or not 0 < share <= 1:
        raise ValueError(text)
    return BallotRule.THRESHOLD, share


@dataclass(frozen=True, slots=True)
class Outcome:
    counts: dict[int, int]  # option -> voters whose last vote it is
    voted: int  # voters (turnout's numerator)
    eligible: int
    base: int  # the votes the shares and the rule count (abstentions out unless counted)
    quorum_met: bool
    winner: int | None  # the option that passed, if one did
    leader: int | None  # the option with most votes (None on a tie or no votes)

    @property
    def passed(self) -> bool:
        return self.winner is not None

    def share(self, option: int) -> float:
        return self.counts.get(option, 0) / self.base if self.base else 0.0

    @property
    def turnout(self) -> float:
        return self.voted / self.eligible if self.eligible else 0.0


def decide(
    counts: dict[int, int],
    *,
    options: int,
    eligible: int,
    rule: BallotRule,
    threshold: Fraction,
    abstain_option: int | None = None,
    count_abstentions: bool = False,
    quorum_percent: int | None = None,
) -> Outcome:
    """Which option passed: under `majority` one with more than half of the votes counted,
    under `threshold` one with at least that share of them; none without quorum (that share of
    the eligible members voting, abstentions included), on a tie, or with no votes."""
    counts = {o: n for o, n in counts.items() if 1 <= o <= options and n}
    voted = sum(counts.values())
    abstained = counts.get(abstain_option, 0) if abstain_option else 0
    base = voted if count_abstentions else voted - abstained
    quorum_met = quorum_percent is None or voted * 100 >= quorum_percent * eligible
    choices = {o: n for o, n in counts.items() if o != abstain_option}
    top = max(choices.values(), default=0)
    leaders = [o for o, n in choices.items() if n == top and n > 0]
    leader = leaders[0] if len(leaders) == 1 else None
    winner = None
    if leader is not None and quorum_met and base > 0:
        votes = choices[leader]
        if rule == BallotRule.MAJORITY:
            ok = votes * 2 > base
        else:
            ok = votes * threshold.denominator >= threshold.numerator * base
        winner = leader if ok else None
    return Outcome(counts, voted, eligible, base, quorum_met, winner, leader)


def outcome_of(session: Session, ballot: Ballot) -> Outcome:
    return decide(
        tally_rows(session, ballot.id),
        options=len(ballot.options),
        eligible=ballot.eligible_count,
        rule=ballot.rule,
        threshold=Fraction(ballot.threshold_num, ballot.threshold_den),
        abstain_option=ballot.abstain_option,
        count_abstentions=ballot.count_abstentions,
        quorum_percent=ballot.quorum_percent,
    )


def rule_text(ballot: Ballot) -> str:
    if ballot.rule == BallotRule.MAJORITY:
        text = "more than half of the votes"
    else:
        text = f"at least {ballot.threshold_num}/{ballot.threshold_den} of the votes"
    if ballot.abstain_option:
        text += ", abstentions " + ("counted" if ballot.count_abstentions else "not counted")
    if ballot.quorum_percent:
        text += f"; quorum {ballot.quorum_percent}% of the eligible members"
    return text
