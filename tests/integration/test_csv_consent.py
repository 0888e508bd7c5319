"""Consent in `muster import volunteers`: a row without consent is kept but never subscribed, a
number that opted out is never resubscribed, an opt-out in the file (an exported `status` or
`opted_out_at`) opts the number out with the proof in the ledger, and a row marked unreachable
stays so (on SQLite and PostgreSQL, whichever this run targets)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.bootstrap import Container
from bot.csv_export import export
from handlers.consent import record_opt_in, record_opt_out
from handlers.exports import VOLUNTEER_COLUMNS
from storage.models import ConsentAction, Delivery, DeliveryStatus, Volunteer, VolunteerStatus
from tests.builders import make_volunteer
from tests.conftest import T0
from tests.importing import HEADER, ledger, run_import, snapshot, volunteers


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
