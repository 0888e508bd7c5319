"""Chapters on SQLite and PostgreSQL: an import with a `chapter` column (known, unknown, none:
the ZIP decides), exact previews of `chapter:` and combined audiences, the export writing the
chapter back, and a volunteer's chapter following their ZIP unless placed."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select

from bot.bootstrap import Container
from bot.csv_import import import_volunteers_from
from handlers.audiences import parse_audience
from handlers.broadcasts import preview_broadcast
from handlers.chapters import ChapterSpec, follow_zip, save_chapter
from handlers.districts import put_districts
from handlers.errors import UsageError
from handlers.exports import volunteer_rows
from storage.chapters import ChapterSource, VolunteerChapter, chapter_by_slug
from storage.districts import DistrictSource
from storage.models import Volunteer
from tests.conftest import T0

HEADER = "phone,name,zip,tags,opted_in_at,chapter\n"
ROWS = [
    "6175550101,Ana,02492,canvass,2026-05-01T09:00:00Z,needham",  # named
    "6175550102,Ben,02494,phonebank,2026-05-01T09:00:00Z,",  # none: joins by ZIP
    "6175550103,Cy,02124,canvass,2026-05-01T09:00:00Z,needham",  # named, lives elsewhere
    "6175550104,Dee,02124,canvass,2026-05-01T09:00:00Z,needam",  # unknown: rejected
    "6175550105,Eli,02124,canvass,2026-05-01T09:00:00Z,",  # no chapter covers 02124
]


def _setup(container: Container) -> None:
    with container.uow() as uow:
        for slug, name, zips in (
            ("needham", "Progressive Needham", ("02492", "02494")),
            ("wrr", "Progressive West Roxbury/Roslindale", ("02132",)),
        ):
            save_chapter(uow.session, ChapterSpec(slug, name, zips), by="U1", now=T0)  # fmt: skip
        uow.commit()


def _import(container: Container, text: str):
    rejects = io.StringIO()
    report = import_volunteers_from(container, io.StringIO(text), rejects=rejects, file_name="x")
    return report, list(csv.DictReader(io.StringIO(rejects.getvalue())))


def test_import_chapters_then_exact_previews_and_export(container: Container) -> None:
    _setup(container)
    report, rejected = _import(container, HEADER + "\n".join(ROWS) + "\n")
    assert report.created == 4
    assert [r["name"] for r in rejected] == ["Dee"]
    assert rejected[0]["reason"] == "chapter: no chapter 'needam' (chapters: needham, wrr)"

    with container.uow() as uow:
        s = uow.session
        people = {v.first_name: v.id for v in s.scalars(select(Volunteer))}
        sources = {
            name: (row.source if (row := s.get(VolunteerChapter, vid)) else None)
            for name, vid in people.items()
        }
        assert sources == {
            "Ana": ChapterSource.IMPORT,
            "Ben": ChapterSource.ZIP,
            "Cy": ChapterSource.IMPORT,
            "Eli": None,
        }
        put_districts(s, people["Ana"], {"sldl": "ma/sldl:13th_norfolk"},
                      source=DistrictSource.IMPORT, vintage=None, now=T0)  # fmt: skip
        for audience, expected in (
            ("chapter:needham", 3),
            ("chapter:needham+tag:canvass", 2),
            ("chapter:needham+district:ma/sldl:13th_norfolk", 1),
            ("chapter:wrr", 0),
            ("all", 4),
        ):
            p = preview_broadcast(
                s, audience=parse_audience(audience), body="Hi", now=T0, org=container.org
            )
            assert p.recipients == expected, audience
        try:
            preview_broadcast(
                s, audience=parse_audience("chapter:nowhere"), body="Hi", now=T0, org=container.org
            )
        except UsageError as exc:
            assert "There is no chapter 'nowhere' (chapters: needham, wrr)" in exc.message
        else:
            raise AssertionError("an unknown chapter must be refused")
        exported = {r["name"]: r["chapter"] for r in volunteer_rows(s)}
        uow.commit()
    assert exported == {"Ana": "needham", "Ben": "needham", "Cy": "needham", "Eli": ""}

    # The same file again changes nothing.
    again, _ = _import(container, HEADER + "\n".join(ROWS) + "\n")
    assert (again.created, again.updated) == (0, 0)


def test_a_chapter_follows_the_zip_unless_placed(container: Container) -> None:
    _setup(container)
    with container.uow() as uow:
        s = uow.session
        v = Volunteer(phone="+16175550109", first_name="Flo", zip="02492")
        s.add(v)
        s.flush()
        follow_zip(s, v.id, "02492", now=T0)
        needham = chapter_by_slug(s, "needham")
        wrr = chapter_by_slug(s, "wrr")
        assert s.get(VolunteerChapter, v.id).chapter_id == needham.id
        follow_zip(s, v.id, "02132", now=T0)
        assert s.get(VolunteerChapter, v.id).chapter_id == wrr.id
        follow_zip(s, v.id, "90210", now=T0)
        assert s.get(VolunteerChapter, v.id) is None
        s.add(VolunteerChapter(volunteer_id=v.id, chapter_id=needham.id,
                               source=ChapterSource.ORGANIZER, set_at=T0))  # fmt: skip
        s.flush()
        follow_zip(s, v.id, "02132", now=T0)
        assert s.get(VolunteerChapter, v.id).chapter_id == needham.id  # an organizer placed them
        uow.commit()
