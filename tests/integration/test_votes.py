"""Member votes by text, on SQLite and PostgreSQL: a full ballot (votes, a changed vote, a vote
after the close, a non-member, a number that is not an option, STOP in the middle), the tally
against a count done here, the eligibility snapshot, a bare number while onboarding or with a
reminder pending, the same answers in a batch, and the close with two clocks at once."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DatabaseError

from bot.bootstrap import Container
from handlers import vote_rules, votes
from handlers.messages import Channel, InboundText
from handlers.organizer.parsing import parse_local_time
from handlers.ports import FixedClock
from handlers.volunteer.receive import receive_text, receive_texts
from scheduler.jobs import run_ballot_sweep
from storage.models import (
    Commitment,
    CommitmentStatus,
    Delivery,
    OnboardingStep,
    SlackPost,
    Volunteer,
    VolunteerStatus,
)
from storage.votes import Ballot, BallotEligibility, BallotStatus, Vote
from tests.adapters.sms_phone import new_sid
from tests.builders import make_shift, make_volunteer, random_phone
from tests.conftest import T0

CLOSES = T0 + timedelta(days=2)
OPTIONS = "Endorse Ed Markey|Endorse someone else|No endorsement"


def sms(container: Container, phone: str, body: str, *, at=None) -> str | None:
    msg = InboundText(Channel.SMS, phone, body, at or T0 + timedelta(minutes=5), new_sid())
    result = receive_text(msg, uow=container.uow(), org=container.org, clock=container.clock)
    return result.reply


def members(container: Container, n: int, **fields) -> list[str]:
    phones = [random_phone() for _ in range(n)]
    with container.session_factory() as s:
        for phone in phones:
            make_volunteer(s, phone=phone, member_since=date(2025, 1, 1), **fields)
        s.commit()
    return phones


def open_ballot(container: Container, **values: str) -> int:
    fields = {"question": "Endorse for Senate?", "options": OPTIONS, **values}
    fields.setdefault("closes", "2026-11-18 10:00")  # CLOSES, in New York
    request = votes.check_request(fields, org=container.org, now=T0, parse_time=local_time)
    with container.uow() as uow:
        ballot = votes.create_ballot(uow.session, request, created_by="U1", now=T0)
        votes.confirm_ballot(uow.session, ballot, user_id="U1", now=T0, org=container.org)
        uow.commit()
        return ballot.id


def local_time(text_: str):
    return parse_local_time(text_, ZoneInfo("America/New_York"))


def close_at_time(container: Container) -> list[int]:
    clock = FixedClock(CLOSES)
    return run_ballot_sweep(container.uow(), clock, org=container.org).closed


def test_a_full_ballot_by_text(container: Container) -> None:
    ana, ben, cy, dee, eli = members(container, 5)
    (outsider,) = [random_phone()]
    with container.session_factory() as s:
        make_volunteer(s, phone=outsider)  # not a member
        s.commit()
    n = open_ballot(container)
    with container.session_factory() as s:
        ballot = s.get(Ballot, n)
        assert ballot.status == BallotStatus.OPEN and ballot.eligible_count == 5
        texts = s.scalars(select(Delivery.body).where(Delivery.broadcast_id == ballot.broadcast_id))
        texts = list(texts)
        assert (
            len(texts) == 5
            and f"member vote #{n}" in texts[0]
            and "1 Endorse Ed Markey" in (texts[0])
        )

    assert sms(container, ana, "1").startswith(f"Vote counted on #{n}: 1 Endorse Ed Markey.")
    assert "until" in sms(container, ben, "1")
    assert sms(container, cy, f"VOTE {n} 3").startswith(f"Vote counted on #{n}: 3 No endorse")
    reply = sms(container, cy, "1")  # changed her mind
    assert reply.startswith(f"Vote on #{n} changed to 1 Endorse Ed Markey (was 3")
    assert "is not an option" in sms(container, dee, "7")
    assert "not on the list of voters" in sms(container, outsider, f"VOTE {n} 2")
    assert "counted" not in (sms(container, outsider, "2") or "")  # no ballot awaits: free text
    assert "unsubscribed" in sms(container, dee, "STOP")  # opted out mid-ballot
    assert sms(container, dee, "2") is None  # an opted-out number: nothing sent, nothing counted
    assert sms(container, eli, "2").startswith(f"Vote counted on #{n}: 2")

    assert close_at_time(container) == [n]
    late = sms(container, eli, "3", at=CLOSES + timedelta(minutes=1))
    assert late.startswith(f"Voting on #{n} closed") and "not counted" in late

    with container.session_factory() as s:
        rows = s.execute(select(Vote.volunteer_id, Vote.option).order_by(Vote.id)).all()
        last = {}
        for volunteer_id, option in rows:
            last[volunteer_id] = option
        expected = {o: list(last.values()).count(o) for o in set(last.values())}
        assert expected == {1: 3, 2: 1}  # ana, ben, cy (changed); eli
        assert len(rows) == 5  # cy's first vote is kept too
        ballot = s.get(Ballot, n)
        assert ballot.result["counts"] == {"1": 3, "2": 1} and ballot.result["winner"] == 1
        posts = s.scalars(select(SlackPost.text).where(SlackPost.kind == "ballot_result")).all()
    assert len(posts) == 1
    assert "PASSED: Endorse Ed Markey" in posts[0] and "Turnout: 4 of 5" in posts[0]
    assert "3 votes (75%)" in posts[0]


def test_eligibility_is_fixed_when_the_ballot_opens(container: Container) -> None:
    (ana,) = members(container, 1)
    late_member, opted_out, future = random_phone(), random_phone(), random_phone()
    with container.session_factory() as s:
        make_volunteer(s, phone=opted_out, member_since=date(2025, 1, 1),
                       status=VolunteerStatus.OPTED_OUT)  # fmt: skip
        make_volunteer(s, phone=future, member_since=date(2027, 1, 1))  # not yet a member
        make_volunteer(s, phone=late_member)
        s.commit()
    n = open_ballot(container)
    with container.session_factory() as s:  # made a member after the opening: not on the list
        s.execute(update(Volunteer).where(Volunteer.phone == late_member).values(
            member_since=date(2024, 1, 1)))  # fmt: skip
        s.commit()
        assert s.scalar(select(func.count()).where(BallotEligibility.ballot_id == n)) == 1
    assert "not on the list" in sms(container, late_member, f"VOTE {n} 1")
    assert sms(container, ana, f"vote {n} 2").startswith("Vote counted")


def test_votes_are_append_only(container: Container) -> None:
    (ana,) = members(container, 1)
    n = open_ballot(container)
    sms(container, ana, "1")
    with container.session_factory() as s:
        with pytest.raises(DatabaseError):
            s.execute(update(Vote).values(option=2))
            s.flush()
        s.rollback()
        with pytest.raises(DatabaseError):
            s.execute(text("DELETE FROM votes"))
        s.rollback()
        assert s.scalar(select(Vote.option).where(Vote.ballot_id == n)) == 1


def test_a_bare_number_does_what_it_did_before_without_a_ballot_or_while_onboarding(
    container: Container,
) -> None:
    (ana,) = members(container, 1)
    new = random_phone()
    assert "name" in sms(container, new, "JOIN").lower()
    sms(container, new, "Maria")
    sms(container, new, "02124")  # now asked how she would like to help
    before_open = sms(container, ana, "2")  # no ballot yet: free text, as before
    assert "counted" not in (before_open or "")
    n = open_ballot(container)
    with container.session_factory() as s:  # the new volunteer is a member too (say, imported)
        s.execute(update(Volunteer).where(Volunteer.phone == new).values(
            member_since=date(2024, 1, 1)))  # fmt: skip
        s.commit()
    reply = sms(container, new, "1")  # the interests question takes it, as before
    assert "counted" not in reply
    with container.session_factory() as s:
        v = s.scalar(select(Volunteer).where(Volunteer.phone == new))
        assert v.onboarding_step == OnboardingStep.DONE and v.tag_names == ["phonebank"]
        assert s.scalar(select(func.count()).select_from(Vote)) == 0
    # a reminder pending: C still confirms, a bare number votes
    with container.session_factory() as s:
        volunteer = s.scalar(select(Volunteer).where(Volunteer.phone == ana))
        shift = make_shift(s, starts_at=T0 + timedelta(days=1))
        s.add(Commitment(volunteer_id=volunteer.id, shift_id=shift.id,
                         status=CommitmentStatus.COMMITTED, reminded_at=T0))  # fmt: skip
        s.commit()
    assert "counted" not in sms(container, ana, "C")
    assert sms(container, ana, "2").startswith(f"Vote counted on #{n}")


def test_a_batch_answers_votes_as_one_at_a_time(container: Container) -> None:
    ana, ben = members(container, 2)
    n = open_ballot(container)
    at = T0 + timedelta(minutes=5)
    msgs = [
        InboundText(Channel.SMS, ana, "1", at, new_sid()),
        InboundText(Channel.SMS, ben, "2", at, new_sid()),
        InboundText(Channel.SMS, ana, "3", at, new_sid()),
        InboundText(Channel.SMS, ben, f"VOTE {n} 9", at, new_sid()),
    ]
    results = receive_texts(msgs, uow=container.uow(), org=container.org, clock=container.clock)
    replies = [r.reply for r in results]
    assert replies[0].startswith("Vote counted") and replies[1].startswith("Vote counted")
    assert replies[2].startswith(f"Vote on #{n} changed to 3")
    assert "is not an option" in replies[3]


def test_closing_with_two_clocks_posts_one_result(container: Container) -> None:
    phones = members(container, 3)
    n = open_ballot(container)
    for phone in phones:
        sms(container, phone, "1")
    closed: list[list[int]] = []
    start = threading.Barrier(2)

    def clock_run() -> None:
        start.wait()
        closed.append(close_at_time(container))

    threads = [threading.Thread(target=clock_run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(closed) == [[], [n]]
    assert close_at_time(container) == []  # and a third sweep later does nothing
    with container.session_factory() as s:
        posts = s.scalar(
            select(func.count()).select_from(SlackPost).where(SlackPost.kind == "ballot_result")
        )
        assert posts == 1


def test_a_ballot_opens_on_the_clock_once(container: Container) -> None:
    members(container, 2)
    n = open_ballot(container, opens="2026-11-17 09:00")  # 14:00 UTC the next day
    with container.session_factory() as s:
        assert s.get(Ballot, n).status == BallotStatus.SCHEDULED
    early = run_ballot_sweep(container.uow(), FixedClock(T0), org=container.org)
    assert early.opened == []
    at = FixedClock(T0 + timedelta(days=1))
    assert run_ballot_sweep(container.uow(), at, org=container.org).opened == [n]
    assert run_ballot_sweep(container.uow(), at, org=container.org).opened == []
    with container.session_factory() as s:
        ballot = s.get(Ballot, n)
        assert ballot.eligible_count == 2
        sent = s.scalar(select(func.count()).where(Delivery.broadcast_id == ballot.broadcast_id))
        assert sent == 2


def test_500_members_voting_at_once_are_each_counted_once(container: Container) -> None:
    phones = members(container, 500)
    n = open_ballot(container)
    choices = {phone: 1 + i % 3 for i, phone in enumerate(phones)}
    at = T0 + timedelta(minutes=5)

    def voters(part: list[str]) -> None:
        msgs = [InboundText(Channel.SMS, p, str(choices[p]), at, new_sid()) for p in part]
        for i in range(0, len(msgs), 25):  # the desk's batches, and texts one at a time
            receive_texts(msgs[i : i + 25], uow=container.uow(), org=container.org,
                          clock=container.clock)  # fmt: skip

    threads = [threading.Thread(target=voters, args=(phones[k::4],)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with container.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Vote)) == 500
        ballot = s.get(Ballot, n)
        outcome = vote_rules.outcome_of(s, ballot)
    expected = {o: list(choices.values()).count(o) for o in (1, 2, 3)}
    assert outcome.counts == expected and outcome.voted == 500
