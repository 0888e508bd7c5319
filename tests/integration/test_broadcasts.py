"""Broadcasts: audiences expand into the outbox in one statement, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from handlers.audiences import parse_audience
from handlers.broadcast_reports import broadcast_report
from handlers.broadcasts import (
    cancel_broadcast,
    confirm_broadcast,
    create_draft,
    expand_broadcast,
    preview_broadcast,
)
from handlers.config import OrgConfig
from handlers.errors import InvalidInput, UnknownShift, UsageError
from storage.models import (
    AuditEntry,
    Broadcast,
    BroadcastStatus,
    Commitment,
    CommitmentStatus,
    Delivery,
    DeliveryStatus,
    Priority,
    VolunteerStatus,
)
from storage.uow import SqlAlchemyUnitOfWork
from tests.builders import make_shift, make_volunteer
from tests.conftest import T0

ORG = OrgConfig(default_timezone="America/New_York")


def _people(session) -> dict[str, int]:
    """A small organization with one volunteer per interesting case; returns ids by name."""
    shift = make_shift(session, starts_at=T0 + timedelta(days=2))
    v = {
        "boston_canvass": make_volunteer(session, first_name="Ana", zip="02124", state="MA",
                                         tags=["canvass"]),
        "cambridge_phone": make_volunteer(session, first_name="Ben", zip="02139", state="MA",
                                          tags=["phonebank"]),
        "worcester": make_volunteer(session, first_name="Cy", zip="01608", state="MA"),
        "chicago": make_volunteer(session, first_name="Dee", zip="60614", state="IL",
                                  timezone="America/Chicago", tags=["Canvass"]),
        "honolulu": make_volunteer(session, first_name="Eli", zip="96813", state="HI",
                                   timezone="Pacific/Honolulu"),
        "opted_out": make_volunteer(session, first_name="Flo", zip="02124",
                                    status=VolunteerStatus.OPTED_OUT, tags=["canvass"]),
        "unreachable": make_volunteer(session, first_name="Gus", zip="02124",
                                      status=VolunteerStatus.UNREACHABLE),
        "forgotten": make_volunteer(session, first_name=None, zip="02124", phone=None),
    }  # fmt: skip
    ids = {name: vol.id for name, vol in v.items()}
    for name, status in (
        ("boston_canvass", CommitmentStatus.COMMITTED),
        ("chicago", CommitmentStatus.CONFIRMED),
        ("worcester", CommitmentStatus.WAITLISTED),
        ("honolulu", CommitmentStatus.DROPPED),
        ("opted_out", CommitmentStatus.COMMITTED),
    ):
        session.add(Commitment(volunteer_id=ids[name], shift_id=shift.id, status=status))
    session.flush()
    ids["shift"] = shift.id
    return ids


@pytest.mark.parametrize(
    ("audience", "expected"),
    [
        ("all", {"boston_canvass", "cambridge_phone", "worcester", "chicago", "honolulu"}),
        ("tag:canvass", {"boston_canvass", "chicago"}),
        ("TAG:Phonebank", {"cambridge_phone"}),
        ("zip:021", {"boston_canvass", "cambridge_phone"}),
        ("zip:02124", {"boston_canvass"}),
        ("zip:0", {"boston_canvass", "cambridge_phone", "worcester"}),
        ("state:ma", {"boston_canvass", "cambridge_phone", "worcester"}),
        ("state:HI", {"honolulu"}),
        ("shift:{shift}", {"boston_canvass", "chicago"}),
        # Dorchester 02124 to Cambridge 02139 is about 5 miles; Worcester 01608 about 40.
        ("near:02124:3", {"boston_canvass"}),
        ("near:02124:10", {"boston_canvass", "cambridge_phone"}),
        ("near:02124:50", {"boston_canvass", "cambridge_phone", "worcester"}),
        ("near:60614:5", {"chicago"}),
    ],
)
def test_each_audience_expands_to_exactly_its_reachable_volunteers(
    uow: SqlAlchemyUnitOfWork, audience: str, expected: set[str]
) -> None:
    with uow:
        ids = _people(uow.session)
        audience = audience.format(shift=ids["shift"])
        draft = create_draft(uow.session, body="Rally Sat 10am. Reply YES", audience=audience,
                             created_by="U0ORGANIZER", now=T0)  # fmt: skip
        count = confirm_broadcast(uow.session, broadcast_id=draft.id, user_id="U0ORG", now=T0)
        uow.commit()
    with uow:
        rows = uow.session.scalars(select(Delivery).where(Delivery.broadcast_id == draft.id)).all()
        names = {n for n, vid in ids.items() if n != "shift" for r in rows if r.volunteer_id == vid}
        assert names == expected
        assert count == len(expected)
        for row in rows:
            assert row.idempotency_key == f"bc:{draft.id}:{row.volunteer_id}"
            assert row.priority == Priority.BULK
            assert row.status == DeliveryStatus.PENDING
            assert row.body == "Rally Sat 10am. Reply YES"
            assert row.segments == 1
        b = uow.session.get(Broadcast, draft.id)
        assert b.status == BroadcastStatus.QUEUED
        assert b.recipient_count == len(expected)


def test_preview_counts_recipients_segments_cost_and_quiet_hours(
    uow: SqlAlchemyUnitOfWork,
) -> None:
    evening = T0.replace(hour=2, minute=30) + timedelta(days=1)  # 21:30 Boston, 16:30 Honolulu
    with uow:
        _people(uow.session)
        body = "Tonight’s phonebank moved to 7pm \U0001f4de " + "details " * 10
        preview = preview_broadcast(uow.session, audience="all", body=body, now=evening, org=ORG)
        assert preview.recipients == 5
        assert preview.encoding == "ucs2"
        assert preview.segments_per_message == 2
        assert preview.total_segments == 10
        assert preview.estimated_cost_usd > 0
        # Ana, Ben, Cy are in Boston (21:30, quiet); Dee in Chicago (20:30) and Eli in Honolulu.
        assert preview.in_quiet_hours_now == 3
        assert preview.first_names == ["Ana", "Ben", "Cy", "Dee", "Eli"]
        assert preview.non_gsm_characters == ["’", "\U0001f4de"]
        assert uow.session.scalar(select(func.count()).select_from(Delivery)) == 0


def test_confirm_is_idempotent_and_a_second_expansion_inserts_nothing(
    uow: SqlAlchemyUnitOfWork,
) -> None:
    with uow:
        _people(uow.session)
        draft = create_draft(uow.session, body="Hi", audience="all", created_by="U1", now=T0)
        assert confirm_broadcast(uow.session, broadcast_id=draft.id, user_id="U1", now=T0) == 5
        assert confirm_broadcast(uow.session, broadcast_id=draft.id, user_id="U1", now=T0) == 0
        assert expand_broadcast(uow.session, draft, now=T0) == 0
        uow.commit()
    with uow:
        assert uow.session.scalar(select(func.count()).select_from(Delivery)) == 5
        actions = uow.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
        assert actions == ["broadcast.draft", "broadcast.confirm"]


def test_quiet_hours_override_and_deadline_are_carried_and_audited(
    uow: SqlAlchemyUnitOfWork,
) -> None:
    deadline = T0 + timedelta(hours=2)
    with uow:
        _people(uow.session)
        draft = create_draft(uow.session, body="Flooding: shelter at the school NOW",
                             audience="zip:021", created_by="U0LEAD", now=T0, deadline=deadline,
                             quiet_hours_override=True)  # fmt: skip
        confirm_broadcast(uow.session, broadcast_id=draft.id, user_id="U0OTHER", now=T0)
        uow.commit()
    with uow:
        rows = uow.session.scalars(select(Delivery)).all()
        assert {(r.deadline, r.quiet_hours_override) for r in rows} == {(deadline, True)}
        overrides = uow.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "broadcast.quiet_hours_override")
        ).all()
        assert [e.actor for e in overrides] == ["U0LEAD", "U0OTHER"]
        assert {e.target for e in overrides} == {f"broadcast:{draft.id}"}


def test_a_broadcast_past_its_deadline_is_missed_not_sent(uow: SqlAlchemyUnitOfWork) -> None:
    with uow:
        _people(uow.session)
        draft = create_draft(uow.session, body="Hi", audience="all", created_by="U1", now=T0,
                             deadline=T0 + timedelta(minutes=5))  # fmt: skip
        later = T0 + timedelta(minutes=10)
        assert confirm_broadcast(uow.session, broadcast_id=draft.id, user_id="U1", now=later) == 0
        assert draft.status == BroadcastStatus.MISSED
        assert uow.session.scalar(select(func.count()).select_from(Delivery)) == 0


def test_cancel_stops_every_unsent_row_and_keeps_what_went(uow: SqlAlchemyUnitOfWork) -> None:
    with uow:
        _people(uow.session)
        draft = create_draft(uow.session, body="Hi", audience="all", created_by="U1", now=T0)
        confirm_broadcast(uow.session, broadcast_id=draft.id, user_id="U1", now=T0)
        first = uow.session.scalars(select(Delivery).order_by(Delivery.id).limit(2)).all()
        first[0].status, first[0].provider_sid = DeliveryStatus.DELIVERED, "SM1"
        first[1].status, first[1].provider_sid = DeliveryStatus.QUEUED, "SM2"
        uow.session.flush()
        assert cancel_broadcast(uow.session, broadcast_id=draft.id, user_id="U2", now=T0) == 3
        assert cancel_broadcast(uow.session, broadcast_id=draft.id, user_id="U2", now=T0) == 0
        uow.commit()
    with uow:
        report = broadcast_report(uow.session, draft.id)
        assert (report.delivered, report.sent, report.cancelled, report.queued) == (1, 1, 3, 0)
        assert report.status == "cancelled"
        b = uow.session.get(Broadcast, draft.id)
        assert b.cancelled_by == "U2"


def test_bad_audiences_and_bodies_get_a_clear_answer(uow: SqlAlchemyUnitOfWork) -> None:
    for bad in ("", "everybody", "zip:abc", "state:ZZ", "near:02124", "near:2124:5", "shift:x"):
        with pytest.raises(UsageError, match="all, tag:NAME, zip:PREFIX"):
            parse_audience(bad)
    with pytest.raises(UsageError, match="up to 250 miles"):
        parse_audience("near:02124:900")
    for typo, meant in (
        ("al", "all"),
        ("tags:canvass", "tag:canvass"),
        ("targets+tga:x", "targets+tag:x"),
    ):
        with pytest.raises(UsageError, match=f"Did you mean {re.escape(meant)}\\?"):
            parse_audience(typo)
    with uow:
        with pytest.raises(UsageError, match="ZIP code 00000"):
            create_draft(uow.session, body="Hi", audience="near:00000:5", created_by="U1", now=T0)
        with pytest.raises(UnknownShift):
            create_draft(uow.session, body="Hi", audience="shift:999", created_by="U1", now=T0)
        with pytest.raises(InvalidInput, match="empty"):
            create_draft(uow.session, body="  ", audience="all", created_by="U1", now=T0)
        with pytest.raises(InvalidInput, match="1600"):
            create_draft(uow.session, body="x" * 1601, audience="all", created_by="U1", now=T0)
        with pytest.raises(InvalidInput, match="deadline"):
            create_draft(uow.session, body="Hi", audience="all", created_by="U1", now=T0,
                         deadline=T0 - timedelta(minutes=1))  # fmt: skip


def test_audiences_print_back_in_canonical_form() -> None:
    assert str(parse_audience(" Tag:Canvass ")) == "tag:canvass"
    assert str(parse_audience("near:02124:5")) == "near:02124:5"
    assert str(parse_audience("shift:#12")) == "shift:12"
    assert str(parse_audience("ALL")) == "all"
