"""`muster export`: the volunteers file (which imports back unchanged) and a shift's roster,
committed first, then the waitlist in the order volunteers are told (on SQLite and
PostgreSQL, whichever this run targets)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.bootstrap import Container
from bot.csv_export import export
from handlers import shifts
from handlers.consent import record_opt_out
from handlers.exports import ROSTER_COLUMNS, VOLUNTEER_COLUMNS, roster_rows
from storage.models import Commitment, CommitmentStatus, VolunteerStatus
from tests.builders import make_shift, make_volunteer
from tests.conftest import T0
from tests.importing import HEADER, run_import, snapshot


def test_export_volunteers_round_trips_through_import(
    container: Container, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_import(
        container,
        HEADER
        + '6175550171,=HYPERLINK("x"),02124,canvass,2026-03-01T10:00:00Z,an\n'
        + "6175550172,Bo,,,,\n",
    )
    out = tmp_path / "volunteers.csv"
    assert export(container, "volunteers", output=str(out)) == 0
    rows = list(csv.DictReader(out.open(newline="")))
    assert list(rows[0]) == list(VOLUNTEER_COLUMNS)
    first = rows[0]
    assert first["phone"] == "+16175550171" and first["status"] == "active"
    assert first["name"] == '\'=HYPERLINK("x")'  # a spreadsheet shows it, never runs it
    assert first["opted_in_at"] == "2026-03-01T10:00:00+00:00"
    assert rows[1]["status"] == "unreachable" and rows[1]["opted_in_at"] == ""
    before = snapshot(container)
    report, _ = run_import(container, out.read_text())
    assert report.unchanged == 2 and snapshot(container) == before


def test_export_roster_lists_committed_then_waitlist(
    container: Container, capsys: pytest.CaptureFixture[str]
) -> None:
    with container.uow() as uow:
        shift = make_shift(uow.session, starts_at=T0 + timedelta(days=2), capacity=1)
        a = make_volunteer(uow.session, first_name="Ann")
        b = make_volunteer(uow.session, first_name="Ben")
        uow.session.add_all(
            [
                Commitment(
                    volunteer_id=b.id,
                    shift_id=shift.id,
                    status=CommitmentStatus.WAITLISTED,
                    waitlist_position=1,
                ),
                Commitment(
                    volunteer_id=a.id,
                    shift_id=shift.id,
                    status=CommitmentStatus.COMMITTED,
                    committed_at=T0,
                ),
            ]
        )
        shift.committed_count = 1
        shift_id = shift.id
        uow.commit()
    with container.read_uow() as uow:
        rows = list(roster_rows(uow.session, shift_id))
    assert [(r["name"], r["status"], r["waitlist_position"]) for r in rows] == [
        ("Ann", "committed", ""),
        ("Ben", "waitlisted", "1"),
    ]
    assert export(container, "roster", shift_id=shift_id) == 0
    printed = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert list(printed[0]) == list(ROSTER_COLUMNS) and len(printed) == 2
    assert export(container, "roster", shift_id=9999) == 1
    assert "no shift 9999" in capsys.readouterr().err


def test_export_roster_waitlist_position_is_the_place_in_line_the_volunteer_is_told(
    container: Container,
) -> None:
    """Tickets 1-4 were handed out; one left the line, one opted out, one is unreachable: the one
    left is next (position 1), as `shifts.waitlist_rank` tells them, not ticket 4."""
    with container.uow() as uow:
        s = uow.session
        shift = make_shift(s, starts_at=T0 + timedelta(days=2), capacity=1)
        seated, left, gone, lost, next_ = (make_volunteer(s, first_name=n) for n in "ABCDE")
        for v in (seated, left, gone, lost, next_):
            shifts.commit_to_shift(s, volunteer=v, shift_id=shift.id, now=T0, channel="sms")
        shifts.drop_commitment(s, volunteer=left, shift_id=shift.id, now=T0)
        record_opt_out(s, phone=gone.phone, volunteer=gone, keyword="STOP", channel="sms", now=T0)
        lost.status = VolunteerStatus.UNREACHABLE
        shift_id = shift.id
        uow.commit()
    with container.read_uow() as uow:
        rows = list(roster_rows(uow.session, shift_id))
        told = shifts.waitlist_rank(
            uow.session,
            uow.session.scalar(select(Commitment).where(Commitment.volunteer_id == next_.id)),
        )
    assert [(r["name"], r["status"], r["waitlist_position"]) for r in rows] == [
        ("A", "committed", ""),
        ("C", "waitlisted", ""),  # opted out: promotion passes them over
        ("D", "waitlisted", ""),  # unreachable: the same
        ("E", "waitlisted", "1"),
        ("B", "dropped", ""),
    ]
    assert told == 1
