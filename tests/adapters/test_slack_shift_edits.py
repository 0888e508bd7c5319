"""Shifts changed from Slack: `shift edit N` and `shift cancel N` tell the volunteers once; a shift
from Mobilize is refused with where to edit it; an organizer's `signup` on a Mobilize shift is
written back to Mobilize through the same outbox as a volunteer's YES (issue 18)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.mobilize_api import MobilizeHttpApi
from handlers.config import OrgConfig
from handlers.mobilize import sync_mobilize
from handlers.mobilize_writes import ATTEND, drain_mobilize_writes
from handlers.shifts import commit_to_shift
from storage.db import make_session_factory
from storage.integrations import IntegrationWrite, WriteStatus
from storage.models import AuditEntry, Commitment, CommitmentStatus, Delivery, Shift
from storage.uow import SqlAlchemyUnitOfWork
from tests.adapters.slack_harness import ORGANIZER, SlackHarness, blocks_text
from tests.builders import make_shift, make_volunteer
from tests.conftest import T0
from tests.fakes.mobilize_api import FakeMobilize

NOW = int(T0.timestamp())


def _texts(engine, kind: str | None = None) -> list[Delivery]:
    with Session(bind=engine) as s:
        query = select(Delivery).order_by(Delivery.id)
        if kind:
            query = query.where(Delivery.kind == kind)
        return list(s.scalars(query))


@pytest.fixture
def crew(engine) -> dict[str, object]:
    """A Muster shift of 2 seats, both taken, and one volunteer on its waitlist."""
    with Session(bind=engine) as s:
        shift = make_shift(s, starts_at=T0 + timedelta(days=2), capacity=2, title="Phonebank")
        people = [make_volunteer(s, first_name=n) for n in ("Ana", "Ben", "Cy")]
        for v in people:
            commit_to_shift(s, volunteer=v, shift_id=shift.id, now=T0, channel="sms")
        s.commit()
        return {"shift": shift.id, "phones": [v.phone for v in people]}


def test_a_moved_shift_is_told_once_and_more_seats_go_to_the_waitlist(
    slack: SlackHarness, engine, crew
) -> None:
    n = crew["shift"]
    moved = blocks_text(
        slack.ask(f'shift edit {n} start="2026-11-19 18:00" end="2026-11-19 20:00"')
    )
    assert f"Shift #{n} updated: start, end." in moved and "3 volunteers told" in moved
    again = blocks_text(
        slack.ask(f'shift edit {n} start="2026-11-19 18:00" end="2026-11-19 20:00"')
    )
    assert "nothing to change" in again
    told = _texts(engine, "shift_change")
    assert sorted(t.to_phone for t in told) == sorted(crew["phones"])  # once each, waitlist too
    assert all("Thu 11/19 6pm" in t.body and f"DROP {n}" in t.body for t in told)

    raised = blocks_text(slack.ask(f"shift edit {n} capacity=3"))
    assert "1 moved up from the waitlist" in raised
    (promotion,) = _texts(engine, "promotion")
    assert promotion.to_phone == crew["phones"][2]
    with Session(bind=engine) as s:
        assert s.get(Shift, n).committed_count == 3
        statuses = s.scalars(select(Commitment.status).where(Commitment.shift_id == n)).all()
        assert set(statuses) == {CommitmentStatus.COMMITTED}

    lower = blocks_text(slack.ask(f"shift edit {n} capacity=1"))
    assert "3 volunteers hold a seat already" in lower
    assert "say what to change" in blocks_text(slack.ask(f"shift edit {n}"))
    assert "must be after the start" in blocks_text(
        slack.ask(f'shift edit {n} end="2026-11-19 17:00"')
    )
    assert "no shift 999" in blocks_text(slack.ask("shift edit 999 capacity=4")).lower()


def test_a_cancelled_shift_is_told_once(slack: SlackHarness, engine, crew) -> None:
    n = crew["shift"]
    answer = blocks_text(slack.ask(f"shift cancel {n}"))
    assert f"Shift #{n} (Phonebank) is cancelled. 3 volunteers told by text." in answer
    assert "cancelled already" in blocks_text(slack.ask(f"shift cancel {n}"))
    assert "cancelled already" in blocks_text(slack.ask(f"shift edit {n} capacity=5"))
    roster = blocks_text(slack.ask(f"roster {n}"))
    assert f"#{n} Phonebank* · :no_entry: *cancelled*" in roster
    assert "cancelled" not in blocks_text(slack.ask("shifts"))  # gone from the upcoming ones
    told = _texts(engine, "shift_change")
    assert len(told) == 3 and all("has been cancelled by the organizers" in t.body for t in told)
    with Session(bind=engine) as s:
        assert s.get(Shift, n).cancelled_at is not None
        actions = s.scalars(select(AuditEntry.actor).where(AuditEntry.action == "shift.cancel"))
        assert list(actions) == [ORGANIZER]


@pytest.fixture
def fake() -> Iterator[FakeMobilize]:
    with FakeMobilize(now=NOW) as server:
        yield server


@pytest.fixture
def api(fake: FakeMobilize) -> Iterator[MobilizeHttpApi]:
    client = MobilizeHttpApi(
        base_url=fake.url, organization_id=str(fake.organization_id), api_key=fake.api_key
    )
    yield client
    client.close()


def _mobilize_shift(fake, api, engine, clock) -> Shift:
    event = fake.add_event(title="Canvass Dorchester", timeslots=[(NOW + 86_400, NOW + 93_600)])
    sync_mobilize(
        uow=SqlAlchemyUnitOfWork(make_session_factory(engine)),
        org=OrgConfig(),
        clock=clock,
        mobilize=api,
    )
    with Session(bind=engine) as s:
        shift = s.scalars(select(Shift).where(Shift.mobilize_event_id == event["id"])).one()
        s.expunge(shift)
        return shift


def test_a_shift_from_mobilize_is_edited_in_mobilize(
    slack: SlackHarness, engine, clock, fake: FakeMobilize, api: MobilizeHttpApi
) -> None:
    shift = _mobilize_shift(fake, api, engine, clock)
    listed = blocks_text(slack.ask("shifts"))
    assert "from Mobilize" in listed
    for command in (f"shift edit {shift.id} capacity=40", f"shift cancel {shift.id}"):
        refusal = blocks_text(slack.ask(command))
        assert f"Shift #{shift.id} comes from Mobilize" in refusal
        assert f"edit it in Mobilize: {shift.url}" in refusal
    with Session(bind=engine) as s:
        after = s.get(Shift, shift.id)
        assert (after.capacity, after.cancelled_at) == (shift.capacity, None)


def test_an_organizers_signup_on_a_mobilize_shift_is_written_back(
    slack: SlackHarness, engine, clock, fake: FakeMobilize, api: MobilizeHttpApi
) -> None:
    shift = _mobilize_shift(fake, api, engine, clock)
    with Session(bind=engine) as s:
        maria = make_volunteer(s, first_name="Maria Lopez", zip="02124", email="maria@example.org")
        dev = make_volunteer(s, first_name="Dev")  # no email on file
        s.commit()
        maria_phone, dev_phone = maria.phone, dev.phone

    answer = blocks_text(slack.ask(f"signup {shift.id} {maria_phone}"))
    assert "signed up" in answer and "also sent to Mobilize." in answer
    answer = blocks_text(slack.ask(f"signup {shift.id} {dev_phone}"))
    assert "once they reply with their email" in answer
    assert [t.to_phone for t in _texts(engine, "email_ask")] == [dev_phone]  # asked once
    with Session(bind=engine) as s:
        writes = list(s.scalars(select(IntegrationWrite).order_by(IntegrationWrite.id)))
        assert [(w.kind, w.status) for w in writes] == [
            (ATTEND, WriteStatus.PENDING),
            (ATTEND, WriteStatus.WAITING),
        ]

    uow = SqlAlchemyUnitOfWork(make_session_factory(engine))
    assert drain_mobilize_writes(uow=uow, clock=clock, mobilize=api).done == 1
    (sent,) = fake.attendances
    assert sent["event_id"] == shift.mobilize_event_id
    assert sent["timeslots"] == [{"timeslot_id": shift.mobilize_timeslot_id}]
    assert sent["person"]["email_address"] == "maria@example.org"
    assert sent["person"]["phone_number"] == maria_phone.removeprefix("+1")
    assert drain_mobilize_writes(uow=uow, clock=clock, mobilize=api).done == 0  # never doubled
