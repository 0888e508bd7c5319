"""The Slack poster against the fake Slack Web API: threads per volunteer, one post per second per
channel, `ratelimited` honoured with Retry-After, failures retried with backoff, nothing lost.
The poster's clock is a FixedClock: time moves only when the test moves it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.bootstrap import bootstrap
from bot.parts import SlackPostRender
from handlers.ports import FixedClock
from handlers.results import InboxPost
from handlers.sending import enqueue_posts
from scheduler.slack_poster import SlackPoster
from storage.models import (
    Commitment,
    CommitmentStatus,
    Delivery,
    SlackPost,
    SlackReplyMark,
    Volunteer,
)
from tests.builders import make_shift, make_volunteer
from tests.conftest import make_settings
from tests.fakes.slack_api import FakeSlackApi

INBOX = "C0INBOX"


@pytest.fixture
def clock() -> FixedClock:
    """Posts are stamped with the real time when enqueued, so the poster's clock starts there."""
    return FixedClock(datetime.now(UTC) + timedelta(seconds=5))


@pytest.fixture
def slack() -> Iterator[FakeSlackApi]:
    with FakeSlackApi() as fake:
        yield fake


@pytest.fixture
def poster(slack, db_url, engine, clock) -> SlackPoster:
    settings = make_settings(db_url, slack_api_url=slack.api_url, slack_inbox_channel=INBOX)
    container = bootstrap(settings, clock=clock, engine=engine)
    return SlackPoster(
        client=WebClient(token="xoxb-test", base_url=slack.api_url),
        uow=container.uow(),
        read_uow=container.read_uow(),
        clock=clock,
        org=container.org,
        render=SlackPostRender(),
        inbox_channel=INBOX,
    )


def add_posts(engine, *posts: InboxPost) -> None:
    with Session(bind=engine) as session:
        enqueue_posts(session, posts)
        session.commit()


def rows(engine) -> list[SlackPost]:
    with Session(bind=engine) as session:
        return list(session.scalars(select(SlackPost).order_by(SlackPost.id)))


def test_a_volunteers_texts_share_one_thread_opened_by_a_masked_header(
    poster, slack, engine, clock
):
    with Session(bind=engine) as session:
        maria = make_volunteer(session, first_name="Maria", phone="+16175550123", zip="02124")
        shift = make_shift(session, starts_at=clock.now() + timedelta(days=2), title="Phonebank")
        session.add(
            Commitment(volunteer_id=maria.id, shift_id=shift.id, status=CommitmentStatus.COMMITTED)
        )
        session.commit()
        maria_id = maria.id
    add_posts(
        engine,
        InboxPost(kind="inbox", text="Can I bring my kid? <!channel>", volunteer_id=maria_id),
    )

    poster.post_due()  # opens the thread; the text itself must wait for the channel's next second
    parent = slack.calls_to("chat.postMessage")
    assert len(parent) == 1
    header = parent[0].params["text"]
    assert "Maria" in header and "***-***-0123" in header and "02124" in header
    assert "5550123" not in str(parent[0].params)
    assert "Phonebank" in str(parent[0].params["blocks"])

    poster.post_due()
    assert len(slack.calls_to("chat.postMessage")) == 1  # still inside the same second
    clock.advance(1)
    poster.post_due()
    posted = slack.calls_to("chat.postMessage")[1]
    parent_ts = parent[0].params.get("ts") or rows(engine)[0].posted_ts
    with Session(bind=engine) as session:
        thread_ts = session.get(Volunteer, maria_id).inbox_thread_ts
    assert thread_ts and posted.params["thread_ts"] == thread_ts
    assert posted.params["text"] == "Can I bring my kid? &lt;!channel&gt;"
    assert parent_ts is not None

    add_posts(engine, InboxPost(kind="inbox", text="also: parking?", volunteer_id=maria_id))
    clock.advance(1)
    poster.post_due()
    third = slack.calls_to("chat.postMessage")[2]
    assert third.params["thread_ts"] == thread_ts  # the same thread, no second header
    assert all(r.status == "posted" for r in rows(engine))


def test_one_post_per_second_per_channel_in_order(poster, slack, engine, clock):
    add_posts(
        engine,
        *(InboxPost(kind="signup", text=f"signup {i}") for i in range(3)),
        InboxPost(kind="alert", text="other channel", channel="C0ALERTS"),
    )
    poster.post_due()
    assert [c.params["text"] for c in slack.calls_to("chat.postMessage")] == [
        "signup 0",
        "other channel",
    ]
    clock.advance(1)
    poster.post_due()
    clock.advance(1)
    poster.post_due()
    texts = [c.params["text"] for c in slack.calls_to("chat.postMessage")]
    assert texts == ["signup 0", "other channel", "signup 1", "signup 2"]


def test_ratelimited_waits_for_retry_after_then_posts(poster, slack, engine, clock):
    add_posts(engine, InboxPost(kind="signup", text="Maria signed up"))
    slack.rate_limit("chat.postMessage", retry_after=7)
    assert poster.post_due() == pytest.approx(7, abs=0.01)
    (row,) = rows(engine)
    assert row.status == "pending" and row.error == "ratelimited"
    clock.advance(6)
    poster.post_due()
    assert len(slack.calls_to("chat.postMessage")) == 1  # not before Retry-After
    clock.advance(1)
    poster.post_due()
    assert len(slack.calls_to("chat.postMessage")) == 2
    assert rows(engine)[0].status == "posted"


def test_failures_back_off_and_are_never_lost(poster, slack, engine, clock):
    add_posts(engine, InboxPost(kind="drop", text="Dev dropped shift 3"))
    slack.fail("chat.postMessage", error="internal_error", times=3)
    delays = []
    for _ in range(3):
        delays.append(poster.post_due())
        clock.advance(delays[-1])
    assert delays == [1.0, 2.0, 4.0]
    (row,) = rows(engine)
    assert row.status == "pending" and row.attempts == 3 and row.error == "internal_error"
    poster.post_due()
    assert rows(engine)[0].status == "posted"


def test_a_second_poster_does_not_post_the_same_row(poster, slack, engine, clock):
    add_posts(engine, InboxPost(kind="signup", text="once"))
    due_at = rows(engine)[0].next_attempt_at
    assert poster._claim(rows(engine)[0].id, due_at)
    assert not poster._claim(rows(engine)[0].id, due_at)  # the other poster lost the race


def test_an_organizers_reply_is_marked_once_its_text_went(poster, slack, engine, clock):
    with Session(bind=engine) as session:
        v = make_volunteer(session)
        for key, ts, status in (
            ("reply:Ev1", "1.1", "pending"),
            ("reply:Ev2", "1.2", "delivered"),
            ("reply:Ev3", "1.3", "failed"),
        ):
            session.add(
                Delivery(
                    idempotency_key=key,
                    volunteer_id=v.id,
                    to_phone=v.phone,
                    body="hi",
                    kind="reply",
                    priority=0,
                    status=status,
                )
            )
            session.add(SlackReplyMark(delivery_key=key, channel=INBOX, message_ts=ts))
        session.commit()
    poster.post_due()
    marks = {c.params["timestamp"]: c.params["name"] for c in slack.calls_to("reactions.add")}
    assert marks == {"1.2": "white_check_mark", "1.3": "x"}
    poster.post_due()
    assert len(slack.calls_to("reactions.add")) == 2  # each marked once
    with Session(bind=engine) as session:
        session.scalars(
            select(Delivery).where(Delivery.idempotency_key == "reply:Ev1")
        ).one().status = "sent"
        session.commit()
    poster.post_due()
    assert slack.calls_to("reactions.add")[-1].params["timestamp"] == "1.1"
