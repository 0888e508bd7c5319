"""An import with district columns (short, full and named forms, one unknown), then previews of
`district:` and combined audiences with exact counts; the export writes the districts back."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select

from bot.bootstrap import Container
from bot.csv_export import csv_text
from bot.csv_import import import_volunteers_from
from handlers.broadcasts import preview_broadcast
from handlers.districts import districts_of, known_districts
from handlers.exports import VOLUNTEER_COLUMNS, volunteer_rows
from storage.districts import put_target
from storage.models import Volunteer
from tests.conftest import T0

HEADER = (
    "phone,name,zip,tags,opted_in_at,address,congressional_district,state_senate_district,"
    "state_house_district\n"
)
ROWS = [
    # short ids
    "6175550101,Ana,02720,canvass,2026-05-01T09:00:00Z,1 Main St,ma/cd:4,"
    "ma/sldu:1st_bristol_and_plymouth,ma/sldl:10th_bristol",
    # full ids
    "6175550102,Ben,02720,phonebank,2026-05-01T09:00:00Z,,ocd-division/country:us/state:ma/cd:4,,"
    "ocd-division/country:us/state:ma/sldl:10th_bristol",
    # names within the row's state (from its ZIP)
    "6175550103,Cy,02720,canvass,2026-05-01T09:00:00Z,,4,,10th Bristol",
    # an unknown district: the row is rejected with the nearest names
    "6175550104,Dee,02720,canvass,2026-05-01T09:00:00Z,,,,11th Bristl",
    # Nebraska: one chamber, numbered
    "4025550105,Eli,68508,canvass,2026-05-01T09:00:00Z,,ne/cd:1,12,",
]


def run_import(container: Container, text: str):
    rejects = io.StringIO()
    report = import_volunteers_from(container, io.StringIO(text), rejects=rejects, file_name="x")
    return report, list(csv.DictReader(io.StringIO(rejects.getvalue())))


def test_import_districts_then_preview_exact_counts(container: Container) -> None:
    report, rejected = run_import(container, HEADER + "\n".join(ROWS) + "\n")
    assert report.created == 4
    assert [r["name"] for r in rejected] == ["Dee"]
    reason = rejected[0]["reason"]
    assert reason.startswith("state_house_district: I don't know the district '11th Bristl'")
    assert "ma/sldl:11th_bristol" in reason

    with container.uow() as uow:
        s = uow.session
        people = {v.first_name: v for v in s.scalars(select(Volunteer))}
        assert districts_of(s, people["Ana"].id) == {
            "cd": "ma/cd:4",
            "sldu": "ma/sldu:1st_bristol_and_plymouth",
            "sldl": "ma/sldl:10th_bristol",
        }
        assert districts_of(s, people["Ben"].id) == {
            "cd": "ma/cd:4",
            "sldl": "ma/sldl:10th_bristol",
        }
        assert districts_of(s, people["Cy"].id) == {"cd": "ma/cd:4", "sldl": "ma/sldl:10th_bristol"}
        assert districts_of(s, people["Eli"].id) == {"cd": "ne/cd:1", "sldu": "ne/sldu:12"}
        assert {k.source for k in known_districts(s, people["Ana"].id)} == {"import"}
        assert people["Ana"].address == "1 Main St"

        put_target(s, district="ma/sldl:10th_bristol", goal=40, set_by="U1", reason=None, now=T0)
        uow.commit()

    def count(audience: str) -> int:
        with container.read_uow() as uow:
            return preview_broadcast(
                uow.session, audience=audience, body="Hi", now=T0, org=container.org
            ).recipients

    assert count("district:ma/sldl:10th_bristol") == 3
    assert count("district:ocd-division/country:us/state:ne/sldu:12") == 1
    assert count("district:ma/cd:4+tag:canvass") == 2
    assert count("targets+tag:canvass") == 2
    assert count("targets+tag:phonebank") == 1
    assert count("district:ne/cd:1+district:ma/cd:4") == 0

    # Export writes the districts as short ids, and the file imports again unchanged.
    with container.read_uow() as uow:
        text = csv_text(VOLUNTEER_COLUMNS, volunteer_rows(uow.session))
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(text))}
    assert rows["Ana"]["state_house_district"] == "ma/sldl:10th_bristol"
    assert rows["Eli"]["state_senate_district"] == "ne/sldu:12"
    assert rows["Ana"]["address"] == "1 Main St"
    again, rejected = run_import(container, text)
    assert (again.created, again.updated, again.rejected) == (0, 0, 0)
