"""Chapters: the local groups of an organization, the ZIPs each covers, its leaders, and which
chapter each volunteer belongs to.

A chapter has a slug (`needham`), a name ("Progressive Needham"), the ZIPs it covers (a ZIP
belongs to at most one chapter, so a new volunteer's chapter follows from their ZIP without a
choice), its leaders (Slack user ids: organizers for their own chapter only) and optionally its
own Slack channel, where its volunteers' texts are posted instead of the inbox channel.

`volunteer_chapters` holds one row per volunteer in a chapter, with where it came from (`zip`:
joined by their ZIP; `import`; `organizer`: moved by hand, who and when), so a ZIP change moves
a volunteer who joined by ZIP and never one an organizer placed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import ForeignKey, String, delete, exists, func, insert, literal, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage.models import Base, StrEnum, Volunteer, enum_column, utcnow


class ChapterSource(StrEnum):
    ZIP = "zip"
    IMPORT = "import"
    ORGANIZER = "organizer"


class Chapter(Base):
    __tablename__ = "chapters"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    channel_id: Mapped[str | None] = mapped_column(String(32))  # its own Slack channel, if any
    created_by: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChapterZip(Base):
    __tablename__ = "chapter_zips"

    zip: Mapped[str] = mapped_column(String(5), primary_key=True)  # one chapter per ZIP
    chapter_id: Mapped[int] = mapped_column(
        ForeignKey("chapters.id", ondelete="CASCADE"), index=True
    )


class ChapterLeader(Base):
    __tablename__ = "chapter_leaders"

    chapter_id: Mapped[int] = mapped_column(
        ForeignKey("chapters.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(80), primary_key=True, index=True)


class VolunteerChapter(Base):
    __tablename__ = "volunteer_chapters"

    volunteer_id: Mapped[int] = mapped_column(
        ForeignKey("volunteers.id", ondelete="CASCADE"), primary_key=True
    )
    chapter_id: Mapped[int] = mapped_column(
        ForeignKey("chapters.id", ondelete="CASCADE"), index=True
    )
    source: Mapped[ChapterSource] = mapped_column(enum_column(ChapterSource))
    set_by: Mapped[str | None] = mapped_column(String(80))
    set_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- chapters ---------------------------------------------------------------------------------


def chapter_by_slug(session: Session, slug: str) -> Chapter | None:
    return session.scalar(select(Chapter).where(Chapter.slug == slug))


def all_chapters(session: Session) -> list[Chapter]:
    return list(session.scalars(select(Chapter).order_by(Chapter.slug)))


def chapter_zips(session: Session, chapter_id: int) -> list[str]:
    return list(
        session.scalars(
            select(ChapterZip.zip)
            .where(ChapterZip.chapter_id == chapter_id)
            .order_by(ChapterZip.zip)
        )
    )


def zip_owners(session: Session, zips: Iterable[str]) -> dict[str, int]:
    """ZIP -> the chapter id that already covers it, for the ZIPs given."""
    zips = list(zips)
    if not zips:
        return {}
    rows = session.execute(
        select(ChapterZip.zip, ChapterZip.chapter_id).where(ChapterZip.zip.in_(zips))
    )
    return {z: c for z, c in rows}


def set_chapter_zips(session: Session, chapter_id: int, zips: Sequence[str]) -> None:
    session.execute(
        delete(ChapterZip)
        .where(ChapterZip.chapter_id == chapter_id)
        .execution_options(synchronize_session=False)
    )
    if zips:
        session.execute(insert(ChapterZip), [{"zip": z, "chapter_id": chapter_id} for z in zips])


def chapter_leaders(session: Session, chapter_id: int) -> list[str]:
    return list(
        session.scalars(
            select(ChapterLeader.user_id)
            .where(ChapterLeader.chapter_id == chapter_id)
            .order_by(ChapterLeader.user_id)
        )
    )


def set_chapter_leaders(session: Session, chapter_id: int, user_ids: Sequence[str]) -> None:
    session.execute(
        delete(ChapterLeader)
        .where(ChapterLeader.chapter_id == chapter_id)
        .execution_options(synchronize_session=False)
    )
    if user_ids:
        session.execute(
            insert(ChapterLeader), [{"chapter_id": chapter_id, "user_id": u} for u in user_ids]
        )


def led_chapters(session: Session, user_id: str) -> list[Chapter]:
    """The chapters this Slack user leads (empty for everyone else)."""
    return list(
        session.scalars(
            select(Chapter)
            .join(ChapterLeader, ChapterLeader.chapter_id == Chapter.id)
            .where(ChapterLeader.user_id == user_id)
            .order_by(Chapter.slug)
        )
    )


# --- volunteers' chapters ---------------------------------------------------------------------


def membership(session: Session, volunteer_id: int) -> VolunteerChapter | None:
    return session.get(VolunteerChapter, volunteer_id)


def put_membership(
    session: Session,
    *,
    volunteer_id: int,
    chapter_id: int,
    source: ChapterSource,
    set_by: str | None,
    now: datetime,
) -> None:
    row = session.get(VolunteerChapter, volunteer_id)
    if row is None:
        session.add(
            VolunteerChapter(
                volunteer_id=volunteer_id,
                chapter_id=chapter_id,
                source=source,
                set_by=set_by,
                set_at=now,
            )
        )
    else:
        row.chapter_id, row.source, row.set_by, row.set_at = chapter_id, source, set_by, now
    session.flush()


def drop_membership(session: Session, volunteer_id: int) -> None:
    row = session.get(VolunteerChapter, volunteer_id)
    if row is not None:
        session.delete(row)
        session.flush()


def join_by_zip(session: Session, *, now: datetime, chapter_id: int | None = None) -> int:
    """Volunteers in no chapter yet whose ZIP a chapter covers join it (of that chapter only, when
    given); one INSERT ... SELECT whatever the number of volunteers. Returns how many joined."""
    chosen = (
        select(
            Volunteer.id,
            ChapterZip.chapter_id,
            literal(ChapterSource.ZIP.value, String(20)),
            literal(now, VolunteerChapter.set_at.type),
        )
        .join(ChapterZip, ChapterZip.zip == Volunteer.zip)
        .where(
            Volunteer.forgotten_at.is_(None),
            ~exists().where(VolunteerChapter.volunteer_id == Volunteer.id),
        )
    )
    if chapter_id is not None:
        chosen = chosen.where(ChapterZip.chapter_id == chapter_id)
    stmt = insert(VolunteerChapter).from_select(
        ["volunteer_id", "chapter_id", "source", "set_at"], chosen
    )
    # RETURNING counts on both databases (psycopg reports no rowcount for INSERT ... SELECT here).
    return len(session.execute(stmt.returning(VolunteerChapter.volunteer_id)).all())


def members_count(session: Session) -> dict[int, int]:
    rows = session.execute(
        select(VolunteerChapter.chapter_id, func.count())
        .join(Volunteer, Volunteer.id == VolunteerChapter.volunteer_id)
        .where(Volunteer.forgotten_at.is_(None))
        .group_by(VolunteerChapter.chapter_id)
    )
    return {c: int(n) for c, n in rows}


def chapters_of(session: Session, volunteer_ids: Iterable[int]) -> dict[int, Chapter]:
    """Volunteer id -> their chapter, for the ids given (in chunks: any number of ids)."""
    ids = list(volunteer_ids)
    found: dict[int, Chapter] = {}
    for start in range(0, len(ids), 900):
        rows = session.execute(
            select(VolunteerChapter.volunteer_id, Chapter)
            .join(Chapter, Chapter.id == VolunteerChapter.chapter_id)
            .where(VolunteerChapter.volunteer_id.in_(ids[start : start + 900]))
        )
        found.update({vid: chapter for vid, chapter in rows})
    return found
