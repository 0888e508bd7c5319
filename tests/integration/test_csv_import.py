"""`muster import volunteers`: which rows of an organizer's file are taken and which are
rejected with a reason, how a number already on file is merged, and that a second run changes
nothing (on SQLite and PostgreSQL, whichever this run targets)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.bootstrap import Container
from bot.csv_export import export
from bot.csv_import import import_volunteers
from handlers.exports import VOLUNTEER_COLUMNS
from storage.models import ConsentAction, Volunteer
from tests.builders import make_volunteer
from tests.conftest import T0
from tests.importing import HEADER, ledger, run_import, snapshot, volunteers


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
