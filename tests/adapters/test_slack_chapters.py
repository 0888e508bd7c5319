"""Chapters through the real Slack route: `chapter add`, `chapters`, `chapter SLUG [move=]`, and
a chapter leader who sees, finds, exports and texts their own chapter only (every refusal
audited); a chapter's volunteers' texts go to its own channel."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from storage.chapters import ChapterSource, VolunteerChapter, chapter_by_slug
from storage.models import (
    AuditEntry,
    Broadcast,
    Commitment,
    CommitmentStatus,
    Delivery,
    SlackPost,
    Volunteer,
)
from tests.adapters.slack_harness import ORGANIZER, SlackHarness, blocks_text, slack_harness
from tests.adapters.sms_phone import ACCOUNT_SID, AUTH_TOKEN, Phone
from tests.builders import make_shift, make_volunteer
from tests.conftest import T0

LEADER = "U0LEADER"
NEEDHAM = ("02492", "02494")


def _people(slack: SlackHarness) -> dict[str, int]:
    """Two in Needham's ZIPs, one in Dorchester, one opted out in Needham."""
    with slack.container.uow() as uow:
        s = uow.session
        ids = {
            "nia": make_volunteer(s, first_name="Nia", zip="02492", phone="+16175550101").id,
            "noah": make_volunteer(s, first_name="Noah", zip="02494", phone="+16175550102").id,
            "dot": make_volunteer(s, first_name="Dot", zip="02124", phone="+16175550103").id,
        }
        uow.commit()
    return ids


def _chapters(slack: SlackHarness) -> None:
    text = blocks_text(
        slack.ask(
            'chapter add needham name="Progressive Needham" zips=02492,02494 '
            f"leaders=<@{LEADER}|lee> channel=C0NEEDHAM"
        )
    )
    assert "Added chapter Progressive Needham (`chapter:needham`)" in text
    assert "2 volunteers in its ZIPs joined it" in text
    slack.ask('chapter add dorchester name="Progressive Dorchester" zips=02124,02125')


def _audits(slack: SlackHarness, action: str) -> list[tuple[str, str]]:
    with slack.container.read_uow() as uow:
        return [
            (a.actor, a.target)
            for a in uow.session.scalars(select(AuditEntry).where(AuditEntry.action == action))
        ]


def test_chapter_add_list_show_and_move(slack: SlackHarness) -> None:
    ids = _people(slack)
    _chapters(slack)
    listing = blocks_text(slack.ask("chapters"))
    assert "Progressive Needham" in listing and "Progressive Dorchester" in listing
    assert "2 volunteers" in listing and f"<@{LEADER}>" in listing and "<#C0NEEDHAM>" in listing

    taken = blocks_text(slack.ask('chapter add wellesley name="Wellesley" zips=02481,02492'))
    assert "already taken: 02492 (needham)" in taken
    with slack.container.read_uow() as uow:
        assert chapter_by_slug(uow.session, "wellesley") is None  # nothing was changed

    moved = blocks_text(slack.ask('chapter needham move="+1 617 555 0103,+16175559999"'))
    assert "1 volunteer now in Progressive Needham" in moved
    assert "No volunteer has the number" in moved
    with slack.container.read_uow() as uow:
        row = uow.session.get(VolunteerChapter, ids["dot"])
        assert row is not None and row.source == ChapterSource.ORGANIZER and row.set_by == ORGANIZER
    assert _audits(slack, "chapter.move") == [(ORGANIZER, f"volunteer:{ids['dot']}")]

    # Taking a ZIP away lets go of who joined by it; the organizer's placement stands.
    changed = blocks_text(slack.ask("chapter add needham zips=02492"))
    assert "1 who had joined by a ZIP it no longer covers left it" in changed
    with slack.container.read_uow() as uow:
        assert uow.session.get(VolunteerChapter, ids["noah"]) is None
        assert uow.session.get(VolunteerChapter, ids["dot"]) is not None

    usage = blocks_text(slack.ask("chapter add Needham! name=x"))
    assert "is not a chapter slug" in usage and "Usage: /muster chapter add SLUG" in usage


def test_a_leader_sees_finds_exports_and_texts_their_chapter_only(slack: SlackHarness) -> None:
    ids = _people(slack)
    _chapters(slack)
    with slack.container.uow() as uow:
        shift = make_shift(uow.session, starts_at=T0 + timedelta(days=2))
        for name in ("nia", "dot"):
            uow.session.add(Commitment(volunteer_id=ids[name], shift_id=shift.id,
                                       status=CommitmentStatus.COMMITTED))  # fmt: skip
        uow.commit()
        shift_id = shift.id

    found = blocks_text(slack.ask("find 0", user=LEADER))
    assert "Nia" in found and "Noah" in found and "Dot" not in found
    refused = blocks_text(slack.ask("find +16175550103", user=LEADER))
    assert "belongs to a volunteer of another chapter" in refused
    assert (LEADER, f"find volunteer:{ids['dot']}") in _audits(slack, "denied")

    roster = blocks_text(slack.ask(f"roster {shift_id}", user=LEADER))
    assert "Nia" in roster and "Dot" not in roster

    slack.ask("export volunteers", user=LEADER)
    (upload,) = slack.slack.calls_to("upload")
    lines = upload.raw.decode().splitlines()
    assert len(lines) == 3 and all("needham" in line for line in lines[1:])
    assert "chapter" in lines[0].split(",")

    preview = blocks_text(
        slack.ask('broadcast to=all message="Hearing tomorrow at 10"', user=LEADER)
    )
    assert "2 volunteers" in preview and "chapter:needham" in preview
    with slack.container.read_uow() as uow:
        draft = uow.session.scalars(select(Broadcast)).one()
        assert draft.audience == "chapter:needham"
    other = blocks_text(slack.ask('broadcast to=chapter:dorchester message="Hi"', user=LEADER))
    assert "you can text your chapter's volunteers only" in other
    assert (LEADER, "broadcast to=chapter:dorchester") in _audits(slack, "denied")

    organizers_only = blocks_text(slack.ask("target add ma/sldl:10th_bristol", user=LEADER))
    assert "is for the organization's organizers" in organizers_only
    assert (LEADER, "target add") in _audits(slack, "denied")
    assert "you can see your own chapter" in blocks_text(
        slack.ask("chapter dorchester", user=LEADER)
    )
    mine = blocks_text(slack.ask("chapter needham", user=LEADER))
    assert "Progressive Needham" in mine and "02492" in mine


def test_a_leaders_confirm_sends_to_their_chapter_only(slack: SlackHarness) -> None:
    ids = _people(slack)
    _chapters(slack)
    slack.ask('broadcast to=all message="Call your rep"', user=LEADER)
    with slack.container.read_uow() as uow:
        draft_id = uow.session.scalars(select(Broadcast.id)).one()
    slack.answer(slack.click("muster.broadcast.confirm", f"b:{draft_id}", user=LEADER))
    # An organizer's broadcast to everyone: the leader's Stop button is refused.
    slack.ask('broadcast to=all message="Everyone"')
    with slack.container.read_uow() as uow:
        sent = set(uow.session.scalars(select(Delivery.volunteer_id)))
        theirs = uow.session.scalars(select(Broadcast.id).where(Broadcast.audience == "all")).one()
    assert sent == {ids["nia"], ids["noah"]}
    answer = blocks_text(
        slack.answer(slack.click("muster.broadcast.stop", f"b:{theirs}", user=LEADER))
    )
    assert "that broadcast is not to your chapter" in answer


@pytest.fixture
def slack_sms(db_url, engine, clock) -> Iterator[SlackHarness]:
    """The Slack harness whose app also takes signed texts on /twilio/sms."""
    with slack_harness(
        db_url, engine, clock, twilio_auth_token=AUTH_TOKEN, twilio_account_sid=ACCOUNT_SID
    ) as harness:
        yield harness


def test_a_chapter_volunteers_texts_go_to_its_channel_and_new_ones_join_by_zip(
    slack_sms: SlackHarness,
) -> None:
    slack = slack_sms
    ids = _people(slack)
    _chapters(slack)
    url = slack.container.settings.public_url
    for number, body in (("+16175550101", "Can I bring my kid?"), ("+16175550103", "Parking?")):
        Phone(slack.client, number, public_url=url).text(body)
    with slack.container.read_uow() as uow:
        posts = {
            p.volunteer_id: p.channel
            for p in uow.session.scalars(select(SlackPost).where(SlackPost.kind == "inbox"))
        }
    assert posts == {ids["nia"]: "C0NEEDHAM", ids["dot"]: None}  # None: SLACK_INBOX_CHANNEL

    newcomer = Phone(slack.client, "+16175550104", public_url=url)
    for body in ("JOIN", "Rosa", "02494"):
        newcomer.text(body)
    with slack.container.read_uow() as uow:
        vid = uow.session.scalar(select(Volunteer.id).where(Volunteer.phone == "+16175550104"))
        row = uow.session.get(VolunteerChapter, vid)
        assert row is not None and row.source == ChapterSource.ZIP
        assert chapter_by_slug(uow.session, "needham").id == row.chapter_id
    newcomer.text("ZIP 02124")  # moved to Dorchester: they follow their ZIP
    with slack.container.read_uow() as uow:
        row = uow.session.get(VolunteerChapter, vid)
        assert row is not None and row.chapter_id == chapter_by_slug(uow.session, "dorchester").id
