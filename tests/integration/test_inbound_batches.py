"""Texts answered together: `receive_texts` (one transaction for the texts a web process's SQLite
writer finds waiting) answers each text as `receive_text` would have answered it in turn, and
the desk hands every caller its own outcome. On SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.bootstrap import Container
from bot.districts_cli import load_default
from bot.inbound_desk import Desk
from handlers.district_crosswalk import apply_zip
from handlers.messages import Channel, InboundText
from handlers.results import Result
from handlers.volunteer import consent
from handlers.volunteer.receive import receive_text, receive_texts
from storage.db import make_engine, make_session_factory
from storage.models import (
    Commitment,
    CommitmentStatus,
    InboundMessage,
    Shift,
    SlackPost,
    Volunteer,
)
from storage.uow import SqlAlchemyUnitOfWork
from tests.adapters.sms_phone import new_sid
from tests.builders import make_shift, make_volunteer, random_phone
from tests.conftest import T0


def text(phone: str, body: str, sid: str | None = None) -> InboundText:
    return InboundText(Channel.SMS, phone, body, T0, sid or new_sid())


def answer(container: Container, msgs: Sequence[InboundText]) -> list[Result | Exception]:
    return receive_texts(msgs, uow=container.uow(), org=container.org, clock=container.clock)


def stored(container: Container) -> list[tuple[str, str, str | None]]:
    with container.session_factory() as s:
        rows = s.execute(
            select(InboundMessage.from_phone, InboundMessage.intent, InboundMessage.reply).order_by(
                InboundMessage.id
            )
        )
        return [tuple(r) for r in rows]


def on_file(container: Container, *capacities: int) -> tuple[str, str, list[int]]:
    """Two volunteers, Sam and Lee, and shifts with these capacities (a day apart, from
    tomorrow): their numbers and the shifts' ids."""
    sam, lee = random_phone(), random_phone()
    with container.session_factory() as s:
        make_volunteer(s, phone=sam, first_name="Sam")
        make_volunteer(s, phone=lee, first_name="Lee")
        ids = [
            make_shift(s, starts_at=T0 + timedelta(days=1 + k), capacity=capacity).id
            for k, capacity in enumerate(capacities)
        ]
        s.commit()
    return sam, lee, ids


def test_a_batch_answers_every_text_as_it_would_be_answered_in_turn(container) -> None:
    sam, lee, (n,) = on_file(container, 1)
    maria, stranger = random_phone(), random_phone()

    msgs = [
        text(maria, "JOIN"),
        text(sam, f"YES {n}"),
        text(maria, "Maria"),  # answers the question the JOIN above asked, in the same batch
        text(lee, f"YES {n}"),  # the one seat went to Sam a moment ago: the waitlist
        text(stranger, "hello?"),
        text(stranger, "anyone there?"),  # acknowledged once an hour, batch or not
        text(sam, "MY"),
    ]
    outcomes = answer(container, msgs)

    assert all(isinstance(o, Result) for o in outcomes), outcomes
    replies = [o.reply for o in outcomes]  # type: ignore[union-attr]
    assert "Msg & data rates may apply" in replies[0]
    assert "signed up" in replies[1]
    assert replies[2] == "Thanks, Maria! What's your 5-digit ZIP code? (or SKIP)"
    assert "waitlist" in replies[3] and "#1" in replies[3]
    assert "JOIN" in replies[4] and replies[5] is None
    assert f"#{n}" in replies[6]

    expected = [(m.phone, o.intent, o.reply) for m, o in zip(msgs, outcomes, strict=True)]  # type: ignore[union-attr]
    assert stored(container) == expected
    with container.session_factory() as s:
        joined = s.scalars(select(Volunteer).where(Volunteer.phone == maria)).one()
        assert joined.first_name == "Maria"
        seats = {c.volunteer.phone: c.status for c in s.scalars(select(Commitment))}
        assert seats == {sam: CommitmentStatus.COMMITTED, lee: CommitmentStatus.WAITLISTED}
        assert s.get(Shift, n).committed_count == 1
        kinds = [p.kind for p in s.scalars(select(SlackPost).order_by(SlackPost.id))]
        assert kinds == ["signup", "inbox", "inbox"]  # in the order the texts came


def test_a_shift_filled_earlier_in_the_batch_is_no_longer_offered(container) -> None:
    sam, lee, (last_seat, other) = on_file(container, 1, 9)
    before, taken, after = answer(
        container, [text(lee, "SHIFTS"), text(sam, f"YES {last_seat}"), text(lee, "SHIFTS")]
    )
    assert f"#{last_seat}" in before.reply and f"#{other}" in before.reply  # type: ignore[union-attr]
    assert "signed up" in taken.reply  # type: ignore[union-attr]
    assert f"#{last_seat}" not in after.reply and f"#{other}" in after.reply  # type: ignore[union-attr]


def test_several_shifts_in_one_text_of_a_batch_answer_as_one_at_a_time(container) -> None:
    sam, lee, (two, one) = on_file(container, 2, 1)
    texts = [
        text(lee, "SHIFTS"),
        text(sam, f"YES {two}, {one}"),
        text(lee, "SHIFTS"),
        text(sam, f"drop {one} and {two} please"),
        text(lee, "SHIFTS"),
    ]
    batch = [o.reply for o in answer(container, texts)]  # type: ignore[union-attr]
    assert batch[1].startswith("Your shifts:\n") and batch[1].count(": signed up") == 2
    assert f"#{one}" not in batch[2] and "(1 left)" in batch[2]
    assert batch[4] == batch[0] and "you're off it" in batch[3]
    one_by_one = []
    for t in [text(lee, "SHIFTS"), text(sam, f"YES {two}, {one}")]:
        done = receive_text(t, uow=container.uow(), org=container.org, clock=container.clock)
        one_by_one.append(done.reply)
    assert one_by_one == batch[:2]


def test_shifts_in_a_batch_show_the_seats_taken_and_freed_before_them(container) -> None:
    sam, lee, (two, one) = on_file(container, 2, 1)
    ana = random_phone()
    with container.session_factory() as s:
        make_volunteer(s, phone=ana, first_name="Ana")
        s.commit()
    outcomes = answer(
        container,
        [
            text(lee, "SHIFTS"),
            text(sam, f"YES {two}"),
            text(lee, "SHIFTS"),
            text(ana, f"YES {one}"),  # its only seat
            text(lee, "SHIFTS"),
            text(ana, f"DROP {one}"),  # open again
            text(lee, "SHIFTS"),
            text(sam, f"DROP {two}"),
            text(lee, "SHIFTS"),
        ],
    )
    lists = [o.reply for o in outcomes[::2]]  # type: ignore[union-attr]
    assert f"#{two}" in lists[0] and "(2 left)" in lists[0] and f"#{one}" in lists[0]
    assert "(1 left)" in lists[1].split(f"#{one}")[0]  # shift `two` is listed first (sooner)
    assert f"#{one}" not in lists[2] and f"#{two}" in lists[2]
    assert f"#{one}" in lists[3] and "(1 left)" in lists[3].split(f"#{one}")[1]
    assert lists[4] == lists[0]
    # ... exactly as the same texts answered one at a time would have said
    with container.session_factory() as s:
        assert [s.get(Shift, n).committed_count for n in (two, one)] == [0, 0]
    alone = receive_text(text(lee, "SHIFTS"), uow=container.uow(), org=container.org,
                         clock=container.clock)  # fmt: skip
    assert alone.reply == lists[0]


def test_a_commitment_made_in_a_batch_is_the_one_its_later_texts_see(container) -> None:
    sam, _, (n,) = on_file(container, 3)
    outcomes = answer(
        container,
        [
            text(sam, f"YES {n}"),
            text(sam, f"YES {n}"),
            text(sam, "MY"),
            text(sam, f"DROP {n}"),
            text(sam, "MY"),
            text(sam, f"YES {n}"),  # back again, on the same row
        ],
    )
    replies = [o.reply for o in outcomes]  # type: ignore[union-attr]
    assert "signed up" in replies[0] and "already signed up" in replies[1]
    assert f"#{n}" in replies[2] and "off shift" in replies[3]
    assert f"#{n}" not in replies[4] and "signed up" in replies[5]
    with container.session_factory() as s:
        [c] = s.scalars(select(Commitment)).all()
        assert c.status == CommitmentStatus.COMMITTED and c.dropped_at is None
        assert s.get(Shift, n).committed_count == 1


def test_a_volunteers_changes_in_a_batch_are_kept_and_seen_by_its_later_texts(container) -> None:
    sam, _, _ = on_file(container)
    outcomes = answer(
        container,
        [
            text(sam, "NAME Kim"),
            text(sam, "ZIP 60622"),
            text(sam, "Is there parking?"),
            text(sam, "And coffee?"),  # one acknowledgment an hour, even inside one batch
            text(sam, "MY"),
        ],
    )
    replies = [o.reply for o in outcomes]  # type: ignore[union-attr]
    assert replies[0] == "Thanks, Kim! Your name is updated."
    assert replies[1] == "Got it: ZIP 60622 (Chicago, IL)."
    assert "thanks, we got your message" in replies[2] and replies[3] is None
    with container.session_factory() as s:
        v = s.scalars(select(Volunteer).where(Volunteer.phone == sam)).one()
        assert (v.first_name, v.zip, v.state, v.timezone) == (
            "Kim",
            "60622",
            "IL",
            "America/Chicago",
        )
        assert v.last_ack_at == T0
        posts = [p.text for p in s.scalars(select(SlackPost).order_by(SlackPost.id))]
        assert posts[-1].startswith("Kim (")  # the organizers' inbox sees the new name at once


def test_shifts_in_a_batch_come_first_in_the_districts_its_sender_has_then(container) -> None:
    """A batch reads its senders' districts once, at its first SHIFTS: a sender whose ZIP
    earlier in the batch gave a district is not answered from that read."""
    load_default(container)  # 02492 (Needham) lies inside ma/cd:4
    sam, lee, near = on_file(container, 5, 5, 5, 5, 5)  # five shifts in Dorchester, 02124
    with container.uow() as uow:
        sam_id = uow.session.scalars(select(Volunteer.id).where(Volunteer.phone == sam)).one()
        apply_zip(uow.session, sam_id, "02492", now=T0)
        district = make_shift(
            uow.session, starts_at=T0 + timedelta(days=9), zip="94612", district="ma/cd:4"
        ).id
        uow.commit()

    outcomes = answer(
        container,
        [
            text(sam, "SHIFTS"),
            text(lee, "SHIFTS"),  # no district yet: the five nearest
            text(lee, "ZIP 02492"),
            text(lee, "SHIFTS"),  # now in ma/cd:4
        ],
    )
    sams, lees_before, moved, lees_after = [o.reply or "" for o in outcomes]  # type: ignore[union-attr]
    assert "02492" in moved
    assert sams.index(f"#{district}") < sams.index(f"#{near[0]}")
    assert f"#{district}" not in lees_before and f"#{near[0]}" in lees_before
    assert lees_after.index(f"#{district}") < lees_after.index(f"#{near[0]}")


def test_a_message_id_repeated_in_a_batch_is_acted_on_once(container) -> None:
    sam, lee, (n,) = on_file(container, 5)
    twice = text(sam, f"YES {n}")
    outcomes = answer(container, [twice, text(lee, f"YES {n}"), twice])

    first, other, again = outcomes
    assert isinstance(first, Result) and isinstance(again, Result) and isinstance(other, Result)
    assert "signed up" in first.reply and again.reply == first.reply  # type: ignore[operator]
    assert again.intent == "duplicate" and "signed up" in other.reply  # type: ignore[operator]
    with container.session_factory() as s:
        assert s.get(Shift, n).committed_count == 2
        assert len(s.scalars(select(InboundMessage)).all()) == 2


def test_a_text_that_fails_costs_the_others_in_its_batch_nothing(container, monkeypatch) -> None:
    sam, lee, _ = on_file(container)
    ana = random_phone()

    def broken(self) -> str:
        raise RuntimeError("a bug in HELP")

    monkeypatch.setattr(consent, "help_reply", broken)
    outcomes = answer(container, [text(sam, "SHIFTS"), text(lee, "HELP"), text(ana, "JOIN")])

    assert isinstance(outcomes[1], RuntimeError)
    assert isinstance(outcomes[0], Result) and isinstance(outcomes[2], Result)
    assert [(phone, intent) for phone, intent, _ in stored(container)] == [
        (sam, "shifts"),
        (ana, "opt_in"),
    ]


def test_with_the_database_away_every_text_in_the_batch_hears_so(container, tmp_path) -> None:
    away = make_engine(f"sqlite:///{tmp_path / 'no such directory' / 'muster.db'}")
    uow = SqlAlchemyUnitOfWork(make_session_factory(away))
    msgs = [text(random_phone(), "JOIN"), text(random_phone(), "HELP")]
    outcomes = receive_texts(msgs, uow=uow, org=container.org, clock=container.clock)
    assert [type(o) for o in outcomes] == [OperationalError, OperationalError]
    away.dispose()


def test_one_text_alone_is_answered_as_receive_text_answers_it(container) -> None:
    phone = random_phone()
    [outcome] = answer(container, [text(phone, "JOIN")])
    again = receive_text(text(phone, "JOIN"), uow=container.uow(), org=container.org,
                         clock=container.clock)  # fmt: skip
    assert isinstance(outcome, Result) and outcome.intent == again.intent == "opt_in"
    assert len(stored(container)) == 2


# --- the desk ------------------------------------------------------------------------------------


def test_the_desk_answers_each_caller_with_its_own_outcome_in_batches() -> None:
    batches: list[list[int]] = []
    first_batch_taken, rest_queued = threading.Event(), threading.Event()

    def answer_all(jobs: Sequence[int]) -> list[int | Exception]:
        batches.append(list(jobs))
        first_batch_taken.set()
        rest_queued.wait(timeout=30)  # the first batch is busy while the rest queue up behind
        return [ValueError(f"no {j}") if j == 13 else j * 10 for j in jobs]

    desk: Desk[int, int] = Desk(answer_all, threads=1, batch=8)

    async def main() -> list[int | BaseException]:
        first = asyncio.ensure_future(desk.answer(0))
        await asyncio.get_running_loop().run_in_executor(None, first_batch_taken.wait, 10)
        rest = [asyncio.ensure_future(desk.answer(j)) for j in range(1, 20)]
        while desk._queue.qsize() < len(rest):
            await asyncio.sleep(0.001)
        rest_queued.set()
        return await asyncio.gather(first, *rest, return_exceptions=True)

    try:
        outcomes = asyncio.run(main())
    finally:
        desk.close()
    assert outcomes[13].args == ("no 13",)  # type: ignore[union-attr]
    assert [o for j, o in enumerate(outcomes) if j != 13] == [j * 10 for j in range(20) if j != 13]
    assert batches[0] == [0] and [len(b) for b in batches[1:]] == [8, 8, 3]
    assert [j for b in batches for j in b] == list(range(20))  # in the order they came


@pytest.mark.parametrize("threads", [1, 3])
def test_a_closed_desk_finishes_what_was_queued_and_opens_again(threads: int) -> None:
    desk: Desk[int, int] = Desk(lambda jobs: [j + 1 for j in jobs], threads=threads, batch=4)

    async def main() -> list[int]:
        return await asyncio.gather(*(desk.answer(j) for j in range(10)))

    assert asyncio.run(main()) == list(range(1, 11))
    desk.close()
    assert asyncio.run(main()) == list(range(1, 11))
    desk.close()
