"""`muster import volunteers` and `muster export`: what an organizer's file does to the database,
and what comes back out (on SQLite and PostgreSQL, whichever this run targets)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.bootstrap import Container
from bot.csv_export import export
from bot.csv_import import import_volunteers, import_volunteers_from
from handlers import shifts
from handlers.consent import record_opt_in, record_opt_out
from handlers.exports import ROSTER_COLUMNS, VOLUNTEER_COLUMNS, roster_rows
from storage.models import (
    Commitment,
    CommitmentStatus,
    ConsentAction,
    ConsentEvent,
    Delivery,
    DeliveryStatus,
    Volunteer,
    VolunteerStatus,
)
from tests.builders import make_shift, make_volunteer
from tests.conftest import T0

HEADER = "phone,name,zip,tags,opted_in_at,source\n"


def run_import(container: Container, text: str) -> tuple[object, list[dict[str, str]]]:
    rejects = io.StringIO()
    report = import_volunteers_from(
        container, io.StringIO(text), rejects=rejects, file_name="members.csv"
    )
    rejected = list(csv.DictReader(io.StringIO(rejects.getvalue())))
    return report, rejected


def volunteers(session: Session) -> dict[str, Volunteer]:
    return {v.phone: v for v in session.scalars(select(Volunteer))}


def ledger(session: Session) -> list[ConsentEvent]:
    return list(session.scalars(select(ConsentEvent).order_by(ConsentEvent.id)))


def snapshot(container: Container) -> list[tuple]:
    with container.read_uow() as uow:
        people = [
            (v.phone, v.first_name, v.zip, v.status, v.opted_in_at, tuple(v.tag_names))
            for v in uow.session.scalars(select(Volunteer).order_by(Volunteer.phone))
        ]
        events = uow.session.scalar(select(func.count()).select_from(ConsentEvent))
    return [*people, ("ledger", events)]


def test_good_rows_are_imported_with_their_consent(container: Container) -> None:
    report, rejected = run_import(
        container,
        HEADER
        + '(617) 555-0134,Maria,02124,"phonebank, canvass",2026-03-01T14:05:00-05:00,an\n'
        + "+1 312 555 0147,  Dev  ,60601,testify,2026-04-02 10:00,\n",
    )
    assert rejected == []
    assert (report.created, report.subscribed, report.rejected) == (2, 2, 0)
    with container.read_uow() as uow:
        people = volunteers(uow.session)
        maria, dev = people["+16175550134"], people["+13125550147"]
        assert (maria.first_name, maria.zip, maria.status) == ("Maria", "02124", "active")
        assert (maria.state, maria.timezone) == ("MA", "America/New_York")  # from the ZIP
        assert maria.tag_names == ["canvass", "phonebank"]
        assert maria.source == "an"
        assert maria.opted_in_at == T0.replace(2026, 3, 1, 19, 5)
        assert (dev.first_name, dev.source, dev.timezone) == ("Dev", "import", "America/Chicago")
        # A time without a zone is read in DEFAULT_TIMEZONE (New York, EDT in April).
        assert dev.opted_in_at == T0.replace(2026, 4, 2, 14, 0)
        events = ledger(uow.session)
        assert [(e.phone, e.action, e.channel) for e in events] == [
            ("+16175550134", ConsentAction.OPT_IN, "import"),
            ("+13125550147", ConsentAction.OPT_IN, "import"),
        ]
        assert events[0].occurred_at == maria.opted_in_at
        assert "members.csv" in (events[0].detail or "")


def test_bad_rows_are_rejected_with_a_reason_and_the_rest_imported(
    container: Container,
) -> None:
    report, rejected = run_import(
        container,
        HEADER
        + "555-1234,Short,,,2026-03-01,\n"
        + "not a phone,Word,,,2026-03-01,\n"
        + ",Nobody,,,2026-03-01,\n"
        + "6175550101,Zed,ABCDE,,2026-03-01,\n"
        + '6175550102,Tag,,"ok, no way!",2026-03-01,\n'
        + "6175550103,When,,,03/01/2026,\n"
        + "6175550104,Later,,,2099-01-01,\n"
        + "6175550105,Fine,2124,,2026-03-01,\n"
        + "6175550106,Nowhere,99999,,2026-03-01,\n",
    )
    assert report.created == 1 and report.rejected == 8
    reasons = {r["name"]: r["reason"] for r in rejected}
    assert reasons["Short"].startswith("phone:") and "555-1234" in reasons["Short"]
    assert reasons["Word"].startswith("phone:")
    assert reasons["Nobody"] == "phone: empty"
    assert reasons["Zed"].startswith("zip:")
    assert reasons["Tag"].startswith("tags:") and "no way!" in reasons["Tag"]
    assert reasons["When"].startswith("opted_in_at:") and "ISO 8601" in reasons["When"]
    assert "future" in reasons["Later"]
    assert reasons["Nowhere"] == "zip: 99999 is not a US ZIP code in use"
    # The rejects file keeps the organizer's own columns and says which line each came from.
    assert list(rejected[0]) == [*HEADER.strip().split(","), "reason", "line"]
    assert [r["line"] for r in rejected] == ["2", "3", "4", "5", "6", "7", "8", "10"]
    with container.read_uow() as uow:
        # Spreadsheets drop New England's leading zero; it is put back.
        assert volunteers(uow.session)["+16175550105"].zip == "02124"


def test_a_row_without_consent_is_kept_but_never_subscribed(container: Container) -> None:
    report, rejected = run_import(container, HEADER + "6175550111,Quinn,02124,canvass,,\n")
    assert rejected == [] and report.not_subscribed == 1 and report.subscribed == 0
    with container.read_uow() as uow:
        quinn = volunteers(uow.session)["+16175550111"]
        assert quinn.status == VolunteerStatus.UNREACHABLE
        assert quinn.opted_in_at is None and quinn.tag_names == ["canvass"]
        assert ledger(uow.session) == []
    # Later evidence (a second file with a time) subscribes them, once.
    report, _ = run_import(container, HEADER + "6175550111,,,,2026-05-01T09:00:00Z,\n")
    assert (report.updated, report.subscribed) == (1, 1)
    with container.read_uow() as uow:
        assert volunteers(uow.session)["+16175550111"].status == VolunteerStatus.ACTIVE
        assert len(ledger(uow.session)) == 1


def test_duplicate_phones_in_the_file_first_row_wins(container: Container) -> None:
    report, rejected = run_import(
        container,
        HEADER
        + "6175550121,First,02124,,2026-03-01,\n"
        + "(617) 555-0121,Second,02125,,2026-03-02,\n",
    )
    assert report.created == 1 and report.rejected == 1
    assert rejected[0]["name"] == "Second"
    assert rejected[0]["reason"] == "duplicate: the same phone as line 2"
    with container.read_uow() as uow:
        assert volunteers(uow.session)["+16175550121"].first_name == "First"


def test_a_number_already_on_file_keeps_its_data_and_only_fills_gaps(
    container: Container,
) -> None:
    with container.uow() as uow:
        make_volunteer(
            uow.session, phone="+16175550131", first_name="Ana", zip=None, tags=["canvass"]
        )
        uow.commit()
    report, rejected = run_import(
        container, HEADER + '6175550131,Annabelle,02124,"canvass,phonebank",2026-03-01,\n'
    )
    assert rejected == [] and (report.created, report.updated) == (0, 1)
    with container.read_uow() as uow:
        people = volunteers(uow.session)
        assert len(people) == 1
        ana = people["+16175550131"]
        assert (ana.first_name, ana.zip) == ("Ana", "02124")
        assert ana.tag_names == ["canvass", "phonebank"]
        # Already subscribed (by texting JOIN): no second opt-in in the ledger.
        assert ledger(uow.session) == []


def test_a_number_that_opted_out_is_never_resubscribed(container: Container) -> None:
    with container.uow() as uow:
        gone = make_volunteer(uow.session, phone="+16175550141")
        stop = {"keyword": "STOP", "channel": "sms"}
        record_opt_out(
            uow.session, phone=gone.phone, volunteer=gone, now=T0 - timedelta(days=3), **stop
        )
        # A number that opted out and was then forgotten: only the ledger remembers it.
        record_opt_out(
            uow.session, phone="+16175550142", volunteer=None, now=T0 - timedelta(days=30), **stop
        )
        uow.commit()
    report, rejected = run_import(
        container,
        HEADER
        # Even consent dated after the opt-out does not override a STOP: only their START does.
        + f"6175550141,Gone,,,{(T0 - timedelta(days=1)).isoformat()},\n"
        + "6175550142,Forgotten,,,2026-01-01,\n",
    )
    assert report.created == 0 and report.subscribed == 0 and report.rejected == 2
    assert all(r["reason"].startswith("opted out:") for r in rejected)
    with container.read_uow() as uow:
        people = volunteers(uow.session)
        assert people["+16175550141"].status == VolunteerStatus.OPTED_OUT
        assert "+16175550142" not in people
        assert [e.action for e in ledger(uow.session)] == [ConsentAction.OPT_OUT] * 2


def test_a_second_run_changes_nothing(container: Container) -> None:
    text = (
        HEADER
        + "6175550151,Ines,02124,canvass,2026-03-01,\n"
        + "6175550152,Jo,,,,\n"
        + "bad,Bad,,,,\n"
    )
    first, _ = run_import(container, text)
    assert (first.created, first.rejected) == (2, 1)
    before = snapshot(container)
    second, rejected = run_import(container, text)
    assert (second.created, second.updated, second.subscribed) == (0, 0, 0)
    assert second.unchanged == 2 and len(rejected) == 1
    assert snapshot(container) == before


def test_a_file_bigger_than_one_batch_is_imported_whole(container: Container) -> None:
    lines = [f"+1617555{n:04d},P{n},,,2026-03-01," for n in range(2500)]
    report, rejected = run_import(container, HEADER + "\n".join(lines) + "\n")
    assert rejected == [] and report.created == 2500 and report.subscribed == 2500
    with container.read_uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Volunteer)) == 2500


def test_the_command_writes_rejects_and_refuses_a_file_without_phones(
    container: Container, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("\ufeff" + HEADER + "6175550161,Kim,,,2026-03-01,\nxx,Lee,,,,\n")
    rejects = tmp_path / "rejects.csv"
    assert import_volunteers(container, str(source), rejects=str(rejects)) == 0
    out = capsys.readouterr().out
    assert "1 new volunteers" in out and "1 rejected" in out
    assert "xx" in rejects.read_text() and "phone:" in rejects.read_text()

    (tmp_path / "nophone.csv").write_text("name,zip\nKim,02124\n")
    assert import_volunteers(container, str(tmp_path / "nophone.csv")) == 1
    assert "no phone column" in capsys.readouterr().err
    assert import_volunteers(container, str(tmp_path / "missing.csv")) == 1


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


def test_a_volunteer_imported_without_consent_is_in_no_audience(container: Container) -> None:
    from handlers.audiences import parse_audience, recipients

    run_import(
        container,
        HEADER
        + "6175550181,Sub,02124,canvass,2026-03-01,\n"
        + "6175550182,Unsub,02124,canvass,,\n",
    )
    with container.read_uow() as uow:
        for audience in ("all", "tag:canvass", "zip:02124", "state:MA"):
            reached = uow.session.scalars(recipients(parse_audience(audience))).all()
            assert [v.first_name for v in reached] == ["Sub"], audience


EXPORT_HEADER = ",".join(VOLUNTEER_COLUMNS) + "\n"


def exported_row(**values: str) -> str:
    """One line of a `muster export volunteers` file (columns not given are empty)."""
    return ",".join(values.get(c, "") for c in VOLUNTEER_COLUMNS) + "\n"


def opt_in_and_out(
    session: Session, volunteer: Volunteer, *, opted_in: datetime, stop: datetime | None
) -> None:
    record_opt_in(
        session,
        phone=volunteer.phone,
        volunteer=volunteer,
        keyword="JOIN",
        channel="sms",
        now=opted_in,
    )
    if stop is not None:
        record_opt_out(
            session,
            phone=volunteer.phone,
            volunteer=volunteer,
            keyword="STOP",
            channel="sms",
            now=stop,
        )


def test_an_exported_opt_out_imports_as_an_opt_out_never_as_a_subscription(
    container: Container, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Export from one list, import into another (here: the same rows under numbers this
    database has never seen): whoever texted STOP stays opted out, with the proof in the ledger."""
    with container.uow() as uow:
        gone = make_volunteer(uow.session, first_name="Gone", tags=["canvass"])
        opt_in_and_out(
            uow.session, gone, opted_in=T0 - timedelta(days=30), stop=T0 - timedelta(days=3)
        )
        uow.commit()
    out = tmp_path / "volunteers.csv"
    assert export(container, "volunteers", output=str(out)) == 0
    (exported,) = list(csv.DictReader(out.open(newline="")))
    assert exported["status"] == "opted_out" and exported["opted_in_at"] != ""
    text = EXPORT_HEADER + exported_row(**{**exported, "phone": "+16175550192"})
    # Rows another tool wrote: only `status`, or only `opted_out_at`, says they opted out.
    text += exported_row(
        phone="6175550193", name="Only", status="opted_out", opted_in_at="2026-03-01"
    )
    text += exported_row(
        phone="6175550194", name="When", opted_in_at="2026-03-01", opted_out_at="2026-04-01T12:00Z"
    )

    report, rejected = run_import(container, text)
    assert rejected == [] and (report.created, report.subscribed) == (3, 0)
    with container.read_uow() as uow:
        people = volunteers(uow.session)
        for phone in ("+16175550192", "+16175550193", "+16175550194"):
            assert people[phone].status == VolunteerStatus.OPTED_OUT, phone
            assert people[phone].opted_in_at is None, phone  # no opt-in the ledger could prove
        copy = people["+16175550192"]
        assert (copy.first_name, copy.tag_names) == ("Gone", ["canvass"])  # kept on file
        assert copy.opted_out_at == T0 - timedelta(days=3)
        assert people["+16175550193"].opted_out_at == T0  # no time given: when it was imported
        events = [e for e in ledger(uow.session) if e.phone != gone.phone]
        assert [(e.phone, e.action, e.channel) for e in events] == [
            ("+16175550192", ConsentAction.OPT_OUT, "import"),
            ("+16175550193", ConsentAction.OPT_OUT, "import"),
            ("+16175550194", ConsentAction.OPT_OUT, "import"),
        ]
        assert [e.occurred_at for e in events] == [
            T0 - timedelta(days=3),
            T0,
            T0.replace(2026, 4, 1, 12, 0),
        ]
        assert "file=members.csv" in (events[0].detail or "") and "line=2" in (
            events[0].detail or ""
        )
        assert "line=4" in (events[2].detail or "")
    assert (report.kept_opted_out, report.opted_out) == (3, 3)

    # Running it again changes nothing; a later file with consent cannot subscribe them.
    before = snapshot(container)
    again, rejected = run_import(container, text)
    assert rejected == [] and again.unchanged == 3 and (again.opted_out, again.created) == (0, 0)
    assert snapshot(container) == before
    later, rejected = run_import(container, HEADER + "6175550192,,,,2026-11-01,\n")
    assert later.subscribed == 0 and rejected[0]["reason"].startswith("opted out:")
    assert snapshot(container) == before


def test_an_opt_out_in_the_file_opts_out_a_volunteer_on_file_unless_they_came_back(
    container: Container,
) -> None:
    with container.uow() as uow:
        s = uow.session
        # Subscribed here; the other list heard their STOP later.
        stays = make_volunteer(s, phone="+16175550201", first_name="Stays")
        opt_in_and_out(s, stays, opted_in=T0 - timedelta(days=30), stop=None)
        s.add(
            Delivery(
                idempotency_key="queued-201",
                volunteer_id=stays.id,
                to_phone=stays.phone,
                body="Canvass Saturday?",
                kind="broadcast",
                status=DeliveryStatus.PENDING,
            )
        )
        # Texted START again here after the STOP the file knows of: their START stands.
        back = make_volunteer(s, phone="+16175550202", first_name="Back", zip=None)
        opt_in_and_out(s, back, opted_in=T0 - timedelta(days=30), stop=T0 - timedelta(days=20))
        opt_in_and_out(s, back, opted_in=T0 - timedelta(days=2), stop=None)
        # On file without consent (imported earlier without opted_in_at).
        make_volunteer(s, phone="+16175550203", status=VolunteerStatus.UNREACHABLE)
        uow.commit()
    text = (
        EXPORT_HEADER
        + exported_row(phone="+16175550201", status="opted_out", opted_out_at="2026-11-10")
        + exported_row(
            phone="+16175550202",
            zip="02124",
            status="opted_out",
            opted_in_at="2026-10-01",
            opted_out_at="2026-10-27",
        )
        + exported_row(phone="+16175550203", opted_in_at="2026-11-01", status="Opted Out")
    )
    report, rejected = run_import(container, text)
    assert rejected == [] and (report.subscribed, report.updated) == (0, 3)
    with container.read_uow() as uow:
        people = volunteers(uow.session)
        assert people["+16175550201"].status == VolunteerStatus.OPTED_OUT
        assert people["+16175550201"].opted_out_at == datetime(2026, 11, 10, 5, 0, tzinfo=UTC)
        assert people["+16175550202"].status == VolunteerStatus.ACTIVE  # gap filled, still in
        assert people["+16175550202"].zip == "02124"
        assert people["+16175550203"].status == VolunteerStatus.OPTED_OUT
        assert people["+16175550203"].opted_in_at is None
        queued = uow.session.scalar(
            select(Delivery).where(Delivery.idempotency_key == "queued-201")
        )
        assert queued.status == DeliveryStatus.SKIPPED  # as a STOP by text would
        stops = [
            (e.phone, e.channel)
            for e in ledger(uow.session)
            if e.action == ConsentAction.OPT_OUT and e.channel == "import"
        ]
        assert stops == [("+16175550201", "import"), ("+16175550203", "import")]
    assert report.opted_out == 2
    before = snapshot(container)
    again, _ = run_import(container, text)
    assert again.unchanged == 3 and snapshot(container) == before


def test_a_status_or_opted_out_at_that_cannot_be_read_rejects_the_row(container: Container) -> None:
    report, rejected = run_import(
        container,
        EXPORT_HEADER
        + exported_row(phone="6175550211", name="Member", status="member", opted_in_at="2026-03-01")
        + exported_row(
            phone="6175550212", name="Soon", opted_in_at="2026-03-01", opted_out_at="someday"
        )
        + exported_row(
            phone="6175550213", name="Later", opted_in_at="2026-03-01", opted_out_at="2099-01-01"
        ),
    )
    assert report.created == 0 and report.rejected == 3
    reasons = {r["name"]: r["reason"] for r in rejected}
    assert reasons["Member"] == "status: 'member' is not active, opted_out or unreachable"
    assert reasons["Soon"].startswith("opted_out_at:") and "ISO 8601" in reasons["Soon"]
    assert reasons["Later"].startswith("opted_out_at:") and "future" in reasons["Later"]


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


def test_a_row_marked_unreachable_stays_unreachable_whatever_its_opted_in_at(
    container: Container,
) -> None:
    """The file's status wins over its opted_in_at: no subscription, no ledger entry, and the
    summary says why."""
    text = (
        "phone,name,zip,status,opted_in_at\n"
        "6175550171,Rosa,02124,unreachable,2026-05-01T09:00:00Z\n"
        "6175550172,Sam,02124,active,2026-05-01T09:00:00Z\n"
    )
    report, rejected = run_import(container, text)
    assert rejected == [] and report.created == 2 and report.subscribed == 1
    assert report.unreachable_over_opt_in == 1
    assert "1 marked unreachable kept unreachable" in report.summary()
    with container.read_uow() as uow:
        people = volunteers(uow.session)
        assert people["+16175550171"].status == VolunteerStatus.UNREACHABLE
        assert people["+16175550171"].opted_in_at is None
        assert people["+16175550172"].status == VolunteerStatus.ACTIVE
        assert [e.phone for e in ledger(uow.session)] == ["+16175550172"]


def test_an_email_column_is_imported_checked_and_exported() -> None:
    from zoneinfo import ZoneInfo

    from bot.csv_rows import RowError
    from bot.csv_rows import validate_row as clean_row

    zone = ZoneInfo("America/New_York")
    row = clean_row(2, {"phone": "(617) 555-0142", "email": " Ana@Example.ORG "}, now=T0, zone=zone)
    assert row.email == "Ana@example.org"
    with pytest.raises(RowError, match="email"):
        clean_row(3, {"phone": "(617) 555-0143", "email": "not-an-email"}, now=T0, zone=zone)
    assert "email" in VOLUNTEER_COLUMNS


def test_a_member_since_column_makes_members_and_comes_back_out(
    container: Container, tmp_path: Path
) -> None:
    text = (
        "phone,name,zip,opted_in_at,member_since\n"
        "+16175550181,Ana,02124,2025-01-05,2024-03-01\n"
        "+16175550182,Ben,02124,2025-01-05,\n"
        "+16175550183,Cy,02124,2025-01-05,March 2024\n"
    )
    report, rejected = run_import(container, text)
    assert report.created == 2
    assert [r["reason"] for r in rejected] == [
        "member_since: 'March 2024' is not a date (YYYY-MM-DD)"
    ]
    with container.read_uow() as uow:
        people = volunteers(uow.session)
        assert str(people["+16175550181"].member_since) == "2024-03-01"
        assert people["+16175550182"].member_since is None
    # a later file fills the gap on Ben, never rewrites Ana's day
    report, _ = run_import(
        container,
        "phone,member_since\n+16175550181,2025-06-01\n+16175550182,2025-06-01\n",
    )
    assert report.updated == 1
    out = tmp_path / "out.csv"
    assert export(container, "volunteers", output=str(out)) == 0
    rows = {r["phone"]: r for r in csv.DictReader(out.open())}
    assert rows["+16175550181"]["member_since"] == "2024-03-01"
    assert rows["+16175550182"]["member_since"] == "2025-06-01"
