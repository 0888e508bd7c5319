"""Member votes: ballots, who may vote on each (a snapshot taken when it opens), and the votes.

A ballot asks one question with 2-9 numbered options of an audience (`members` by default).
It is a draft until an organizer confirms its preview, `scheduled` until the clock opens it,
`open` until the clock closes it, then `closed` with its result kept on the row. Opening and
closing are claimed by conditional UPDATEs (`claim`), so whichever clock gets there first does
it, exactly once.

`ballot_eligibility` is the list of who may vote, fixed when the ballot opens (members on that
day, not opted out): a later import or opt-in cannot change it. `votes` is append-only (the
database refuses UPDATE and DELETE, as for the consent ledger): every vote and every change is a
row with who, which option, when and from which message; the last one before the close counts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage.models import Base, StrEnum, enum_column, utcnow


class BallotStatus(StrEnum):
    DRAFT = "draft"  # previewed, waiting for Confirm
    SCHEDULED = "scheduled"  # confirmed, waiting for its opening time
    OPEN = "open"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class BallotRule(StrEnum):
    MAJORITY = "majority"  # more than half of the votes counted
    THRESHOLD = "threshold"  # at least threshold_num/threshold_den of the votes counted


class Ballot(Base):
    __tablename__ = "ballots"
    __table_args__ = (
        CheckConstraint("threshold_num > 0 AND threshold_num <= threshold_den", name="threshold"),
        CheckConstraint("closes_at > opens_at", name="closes_after_opening"),
        Index("ix_ballots_status_times", "status", "opens_at", "closes_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    question: Mapped[str] = mapped_column(Text)
    options: Mapped[list[Any]] = mapped_column(JSON)  # the options' texts, numbered from 1
    audience: Mapped[str] = mapped_column(String(200), default="members")
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    rule: Mapped[BallotRule] = mapped_column(enum_column(BallotRule), default=BallotRule.MAJORITY)
    threshold_num: Mapped[int] = mapped_column(Integer, default=1)
    threshold_den: Mapped[int] = mapped_column(Integer, default=2)
    # The option that means "I abstain" (its number), if any; whether it counts in the base.
    abstain_option: Mapped[int | None] = mapped_column(Integer)
    count_abstentions: Mapped[bool] = mapped_column(Boolean, default=False)
    quorum_percent: Mapped[int | None] = mapped_column(Integer)  # of the eligible, who must vote
    status: Mapped[BallotStatus] = mapped_column(
        enum_column(BallotStatus), default=BallotStatus.DRAFT, index=True
    )
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_by: Mapped[str | None] = mapped_column(String(40))
    confirmed_at: Mapped[datetime | None]
    opened_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(40))  # "clock" or an organizer
    eligible_count: Mapped[int] = mapped_column(Integer, default=0)
    # The broadcast that carried the ballot's text when it opened.
    broadcast_id: Mapped[int | None] = mapped_column(
        ForeignKey("broadcasts.id", ondelete="SET NULL")
    )
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the tally at the close
    result_posted_at: Mapped[datetime | None]


class BallotEligibility(Base):
    """Who may vote on a ballot: taken once, when it opens."""

    __tablename__ = "ballot_eligibility"
    __table_args__ = (Index("ix_ballot_eligibility_volunteer", "volunteer_id", "ballot_id"),)

    ballot_id: Mapped[int] = mapped_column(
        ForeignKey("ballots.id", ondelete="CASCADE"), primary_key=True
    )
    volunteer_id: Mapped[int] = mapped_column(
        ForeignKey("volunteers.id", ondelete="CASCADE"), primary_key=True
    )


class Vote(Base):
    """One vote, or one change of a vote: append-only. The latest per volunteer counts."""

    __tablename__ = "votes"
    __table_args__ = (
        Index("ix_votes_ballot_volunteer", "ballot_id", "volunteer_id", "id"),
        CheckConstraint("option >= 1 AND option <= 9", name="option_range"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    ballot_id: Mapped[int] = mapped_column(ForeignKey("ballots.id", ondelete="CASCADE"))
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="CASCADE"))
    option: Mapped[int] = mapped_column(Integer)
    cast_at: Mapped[datetime] = mapped_column(default=utcnow)
    message_sid: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(20), default="sms")


def claim(
    session: Session,
    ballot_id: int,
    *,
    was: BallotStatus,
    becomes: BallotStatus,
    **values: Any,
) -> bool:
    """Move a ballot from `was` to `becomes` if nobody did first (a conditional UPDATE: of two
    clocks, or a clock and an organizer, exactly one wins)."""
    result = session.execute(
        update(Ballot)
        .where(Ballot.id == ballot_id, Ballot.status == was)
        .values(status=becomes, **values)
        .execution_options(synchronize_session=False)
    )
    return (result.rowcount or 0) == 1


def latest_votes(ballot_id: int) -> Any:
    """A subquery: each voter's last vote on the ballot (volunteer_id, option, cast_at)."""
    last = (
        select(Vote.volunteer_id, func.max(Vote.id).label("vote_id"))
        .where(Vote.ballot_id == ballot_id)
        .group_by(Vote.volunteer_id)
        .subquery()
    )
    return (
        select(Vote.volunteer_id, Vote.option, Vote.cast_at)
        .join(last, Vote.id == last.c.vote_id)
        .subquery()
    )


def tally_rows(session: Session, ballot_id: int) -> dict[int, int]:
    """Option number -> how many voters' last vote is it (one GROUP BY in the database)."""
    latest = latest_votes(ballot_id)
    rows = session.execute(select(latest.c.option, func.count()).group_by(latest.c.option)).all()
    return {int(option): int(n) for option, n in rows}
