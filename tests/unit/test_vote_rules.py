"""The rule a ballot passes by: majority, thresholds, abstentions, quorum, ties (pure)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from handlers.vote_rules import decide, parse_threshold
from storage.votes import BallotRule

MAJORITY, TWO_THIRDS = (BallotRule.MAJORITY, Fraction(1, 2)), (BallotRule.THRESHOLD, Fraction(2, 3))


@pytest.mark.parametrize(
    ("counts", "rule", "abstain", "counted", "quorum", "eligible", "winner"),
    [
        ({1: 6, 2: 4}, MAJORITY, None, False, None, 100, 1),
        ({1: 5, 2: 5}, MAJORITY, None, False, None, 100, None),  # a tie: nothing passes
        ({1: 5, 2: 4, 3: 2}, MAJORITY, None, False, None, 100, None),  # 5 of 11 is not half
        ({1: 5, 2: 4, 3: 2}, MAJORITY, 3, False, None, 100, 1),  # 5 of 9, abstentions out
        ({1: 5, 2: 4, 3: 2}, MAJORITY, 3, True, None, 100, None),  # 5 of 11, abstentions in
        ({1: 8, 2: 4}, TWO_THIRDS, None, False, None, 100, 1),  # exactly 2/3 passes
        ({1: 7, 2: 4}, TWO_THIRDS, None, False, None, 100, None),  # 7/11 < 2/3
        ({1: 8, 2: 4}, TWO_THIRDS, None, False, 25, 100, None),  # 12 of 100 voted: no quorum
        ({1: 8, 2: 4, 3: 13}, TWO_THIRDS, 3, False, 25, 100, 1),  # abstainers make quorum
        ({}, MAJORITY, None, False, None, 10, None),  # nobody voted
        ({3: 4}, MAJORITY, 3, False, None, 10, None),  # only abstentions
    ],
)
def test_decide(counts, rule, abstain, counted, quorum, eligible, winner) -> None:
    outcome = decide(
        counts,
        options=3,
        eligible=eligible,
        rule=rule[0],
        threshold=rule[1],
        abstain_option=abstain,
        count_abstentions=counted,
        quorum_percent=quorum,
    )
    assert outcome.winner == winner
    assert outcome.voted == sum(counts.values())


def test_shares_and_turnout() -> None:
    outcome = decide({1: 3, 2: 1}, options=2, eligible=8, rule=BallotRule.MAJORITY,
                     threshold=Fraction(1, 2))  # fmt: skip
    assert outcome.share(1) == 0.75 and outcome.turnout == 0.5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", (BallotRule.MAJORITY, Fraction(1, 2))),
        ("majority", (BallotRule.MAJORITY, Fraction(1, 2))),
        ("2/3", (BallotRule.THRESHOLD, Fraction(2, 3))),
        ("60%", (BallotRule.THRESHOLD, Fraction(3, 5))),
    ],
)
def test_parse_threshold(text, expected) -> None:
    assert parse_threshold(text) == expected


@pytest.mark.parametrize("text", ["3/2", "0/3", "two thirds", "120%", "1/0"])
def test_parse_threshold_refuses(text) -> None:
    with pytest.raises(ValueError):
        parse_threshold(text)
