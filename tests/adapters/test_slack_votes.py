"""Member votes from Slack, through the real `/slack/events` route and the fake Slack Web API:
`member`, `vote add` (preview, Confirm once, Cancel), `votes`, `vote N`, `vote remind N`,
`vote close N`, `export vote N`, and the App Home's open ballots."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from handlers.messages import Channel, InboundText
from handlers.volunteer.receive import receive_text
from storage.models import Delivery, SlackPost, Volunteer
from storage.votes import Ballot, BallotStatus
from tests.adapters.slack_harness import ORGANIZER, SlackHarness, blocks_text, buttons
from tests.adapters.sms_phone import new_sid
from tests.builders import make_volunteer, random_phone
from tests.conftest import T0

ADD = (
    'vote add question="Endorse Ed Markey for Senate?" '
    'options="Endorse Ed Markey|No endorsement|Abstain" closes="2026-11-18 10:00" threshold=2/3'
)


def members(engine, n: int) -> list[str]:
    phones = [random_phone() for _ in range(n)]
    with Session(bind=engine) as session:
        for i, phone in enumerate(phones):
            make_volunteer(session, phone=phone, first_name=f"M{i}", member_since=date(2025, 1, 1))
        make_volunteer(session, first_name="NotAMember")
        session.commit()
    return phones


def vote(slack: SlackHarness, phone: str, body: str) -> str | None:
    c = slack.container
    msg = InboundText(Channel.SMS, phone, body, T0 + timedelta(minutes=1), new_sid())
    return receive_text(msg, uow=c.uow(), org=c.org, clock=c.clock).reply


def test_member_sets_and_ends_a_membership(slack: SlackHarness, engine) -> None:
    phone = random_phone()
    with Session(bind=engine) as session:
        make_volunteer(session, phone=phone, first_name="Ana")
        session.commit()
    assert "member since Mar 1, 2025" in blocks_text(slack.ask(f"member {phone} since=2025-03-01"))
    with Session(bind=engine) as session:
        assert str(session.scalar(select(Volunteer.member_since))) == "2025-03-01"
    assert "no longer a member" in blocks_text(slack.ask(f"member {phone} since=none"))
    assert "YYYY-MM-DD" in blocks_text(slack.ask(f"member {phone} since=March"))


def test_a_ballot_with_no_member_yet_says_how_to_make_one(slack: SlackHarness, engine) -> None:
    text = blocks_text(slack.ask(ADD))
    assert "0 volunteers" in text
    assert "No volunteer is a member yet: `member PHONE since=YYYY-MM-DD` makes one" in text
    members(engine, 1)
    assert "No volunteer is a member" not in blocks_text(slack.ask(ADD))


def test_a_ballot_from_preview_to_result(slack: SlackHarness, engine) -> None:
    phones = members(engine, 3)
    answer = slack.ask(ADD)
    text = blocks_text(answer)
    assert "3 volunteers" in text and "nothing is sent until you confirm" in text
    assert "1 Endorse Ed Markey" in text and "at least 2/3 of the votes" in text
    token = buttons(answer)["muster.broadcast.confirm"]
    assert token.startswith("v:")
    with Session(bind=engine) as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0

    first = slack.click("muster.broadcast.confirm", token)
    second = slack.click("muster.broadcast.confirm", token)
    replies = {blocks_text(slack.answer(first)), blocks_text(slack.answer(second))}
    assert any("is open: texted to 3 eligible members" in r for r in replies)
    assert any("already open" in r for r in replies)
    with Session(bind=engine) as session:
        ballot = session.scalars(select(Ballot)).one()
        n = ballot.id
        assert session.scalar(select(func.count()).where(Delivery.kind == "ballot")) == 3

    assert vote(slack, phones[0], "1").startswith(f"Vote counted on #{n}")
    assert vote(slack, phones[1], "1").startswith(f"Vote counted on #{n}")
    listed = blocks_text(slack.ask("votes"))
    assert f"#{n}" in listed and "2/3 voted" in listed
    tally = blocks_text(slack.ask(f"vote {n}"))
    assert "2 of 3 eligible voted" in tally and "Passing so far: Endorse Ed Markey" in tally

    remind = slack.ask(f"vote remind {n}")
    assert "1 volunteer\n" in blocks_text(remind) and "have not voted yet" in blocks_text(remind)
    slack.answer(
        slack.click("muster.broadcast.confirm", buttons(remind)["muster.broadcast.confirm"])
    )
    with Session(bind=engine) as session:
        reminded = session.scalars(
            select(Delivery.to_phone).where(Delivery.kind == "ballot_reminder")
        )
        assert list(reminded) == [phones[2]]

    slack.event({"type": "app_home_opened", "user": ORGANIZER, "channel": "D1", "tab": "home"})
    home = str(slack.slack.wait_for("views.publish")[0].json_param("view"))
    assert "Open ballots" in home and "Endorse Ed Markey for Senate?" in home

    assert "closed: 2 of 3 voted" in blocks_text(slack.ask(f"vote close {n}"))
    assert "not open" in blocks_text(slack.ask(f"vote close {n}"))
    with Session(bind=engine) as session:
        assert session.get(Ballot, n).status == BallotStatus.CLOSED
        (post,) = session.scalars(select(SlackPost.text).where(SlackPost.kind == "ballot_result"))
    assert "PASSED: Endorse Ed Markey" in post and "Turnout: 2 of 3" in post
    assert "closed" in vote(slack, phones[2], "1")

    assert "Votes on ballot" in blocks_text(slack.ask(f"export vote {n}"))
    upload = slack.slack.calls_to("upload")[-1].raw.decode().splitlines()
    assert upload[0].startswith("ballot_id,vote_id,volunteer_id,phone")
    assert len(upload) == 3 and all(line.endswith(",true") for line in upload[1:])


def test_cancel_and_usage(slack: SlackHarness, engine) -> None:
    members(engine, 1)
    answer = slack.ask(ADD)
    token = buttons(answer)["muster.broadcast.cancel"]
    assert "cancelled" in blocks_text(slack.answer(slack.click("muster.broadcast.cancel", token)))
    slack.answer(slack.click("muster.broadcast.confirm", token))
    with Session(bind=engine) as session:
        assert session.scalar(select(Ballot.status)) == BallotStatus.CANCELLED
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0
    bad = blocks_text(
        slack.ask('vote add question="?" options="Only one" closes="2026-11-18 10:00"')
    )
    assert "2 to 9 options" in bad and "Usage:" in bad
    assert "There is no ballot 99" in blocks_text(slack.ask("vote 99"))
