"""Chapters: the rules of who belongs where.

A chapter covers ZIPs (each ZIP at most one chapter). A volunteer joins the chapter of their ZIP
when they give it (source `zip`), and follows their ZIP when it changes; an import's `chapter`
column (source `import`) or an organizer's move (source `organizer`) places them for good, and a
ZIP change no longer moves them. Creating a chapter, or giving it more ZIPs, brings in the
volunteers of those ZIPs who are in no chapter yet; taking a ZIP away lets go of those who had
joined by it.

Chapter leaders (Slack user ids) are organizers for their own chapter only: the scope they may
see and text is in `handlers.organizer.rights`. A chapter's own Slack channel receives its
volunteers' texts instead of the inbox channel (`channel_for`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from handlers.errors import UsageError
from storage.chapters import (
    Chapter,
    ChapterSource,
    ChapterZip,
    VolunteerChapter,
    chapter_by_slug,
    chapters_of,
    drop_membership,
    join_by_zip,
    membership,
    put_membership,
    set_chapter_leaders,
    set_chapter_zips,
    zip_owners,
)
from storage.models import Volunteer

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,20}$")
SLACK_CHANNEL = re.compile(r"^[CG][A-Z0-9]{2,20}$")
PLACED = (ChapterSource.IMPORT, ChapterSource.ORGANIZER)  # a ZIP change does not move these


@dataclass(frozen=True, slots=True)
class ChapterSpec:
    """What `chapter add` was given; None: leave as it is (on an existing chapter)."""

    slug: str
    name: str | None = None
    zips: tuple[str, ...] | None = None
    leaders: tuple[str, ...] | None = None
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class Saved:
    chapter: Chapter
    created: bool
    joined: int  # volunteers who joined by the chapter's ZIPs
    left: int  # volunteers who had joined by a ZIP the chapter no longer covers


def check_slug(text: str) -> str:
    slug = text.strip().lower()
    if not SLUG.match(slug):
        raise UsageError(
            f"{text!r} is not a chapter slug: lower-case letters, digits and dashes (needham)."
        )
    return slug


def save_chapter(session: Session, spec: ChapterSpec, *, by: str, now: datetime) -> Saved:
    """Create the chapter, or change what the spec gives of an existing one."""
    chapter = chapter_by_slug(session, spec.slug)
    created = chapter is None
    if chapter is None:
        if not spec.name:
            raise UsageError(f'A new chapter needs a name: chapter add {spec.slug} name="..."')
        chapter = Chapter(slug=spec.slug, name=spec.name, created_by=by, created_at=now)
        session.add(chapter)
        session.flush()
    elif spec.name:
        chapter.name = spec.name
    if spec.channel is not None:
        chapter.channel_id = spec.channel or None
    if spec.leaders is not None:
        set_chapter_leaders(session, chapter.id, spec.leaders)
    left = 0
    if spec.zips is not None:
        taken = {z: c for z, c in zip_owners(session, spec.zips).items() if c != chapter.id}
        if taken:
            owners = {c.id: c.slug for c in session.scalars(select(Chapter))}
            named = ", ".join(f"{z} ({owners.get(c, '?')})" for z, c in sorted(taken.items()))
            raise UsageError(f"Each ZIP belongs to one chapter; already taken: {named}.")
        set_chapter_zips(session, chapter.id, spec.zips)
        left = _let_go_outside(session, chapter.id)
    joined = join_by_zip(session, now=now, chapter_id=chapter.id)
    return Saved(chapter=chapter, created=created, joined=joined, left=left)


def _let_go_outside(session: Session, chapter_id: int) -> int:
    """Volunteers who joined by a ZIP this chapter no longer covers leave it."""
    covered = select(ChapterZip.zip).where(ChapterZip.chapter_id == chapter_id)
    outside = select(Volunteer.id).where(
        (Volunteer.zip.is_(None)) | (Volunteer.zip.not_in(covered))
    )
    result = session.execute(
        delete(VolunteerChapter)
        .where(
            VolunteerChapter.chapter_id == chapter_id,
            VolunteerChapter.source == ChapterSource.ZIP,
            VolunteerChapter.volunteer_id.in_(outside),
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def follow_zip(session: Session, volunteer_id: int, zip_code: str | None, *, now: datetime) -> None:
    """A volunteer's ZIP was set: they join its chapter, unless an import or organizer placed
    them; a ZIP no chapter covers takes them out of the one they had joined by ZIP."""
    row = membership(session, volunteer_id)
    if row is not None and row.source in PLACED:
        return
    owner = zip_owners(session, [zip_code]).get(zip_code) if zip_code else None
    if owner is None:
        if row is not None:
            drop_membership(session, volunteer_id)
        return
    if row is None or row.chapter_id != owner:
        put_membership(
            session,
            volunteer_id=volunteer_id,
            chapter_id=owner,
            source=ChapterSource.ZIP,
            set_by=None,
            now=now,
        )


def place(
    session: Session,
    volunteer_id: int,
    chapter: Chapter | None,
    *,
    source: ChapterSource,
    by: str | None,
    now: datetime,
) -> bool:
    """Put a volunteer in a chapter (None: in none, and their ZIP no longer places them either).
    Returns whether anything changed. A move opens a new inbox thread in the new channel."""
    row = membership(session, volunteer_id)
    if chapter is None:
        if row is None:
            return False
        drop_membership(session, volunteer_id)
    else:
        if row is not None and row.chapter_id == chapter.id and row.source == source:
            return False
        put_membership(
            session,
            volunteer_id=volunteer_id,
            chapter_id=chapter.id,
            source=source,
            set_by=by,
            now=now,
        )
    session.execute(
        update(Volunteer)
        .where(Volunteer.id == volunteer_id)
        .values(inbox_thread_ts=None)
        .execution_options(synchronize_session=False)
    )
    return True


def chapter_of(session: Session, volunteer_id: int) -> Chapter | None:
    return chapters_of(session, [volunteer_id]).get(volunteer_id)


def chapter_names(session: Session, volunteer_ids: Iterable[int]) -> dict[int, str]:
    """Volunteer id -> chapter name (for per-recipient texts and tallies by chapter)."""
    return {vid: c.name for vid, c in chapters_of(session, volunteer_ids).items()}


def channels_for(session: Session, volunteer_ids: Sequence[int]) -> dict[int, str]:
    """Volunteer id -> their chapter's own Slack channel, for those whose chapter has one."""
    if not volunteer_ids:
        return {}
    rows = session.execute(
        select(VolunteerChapter.volunteer_id, Chapter.channel_id)
        .join(Chapter, Chapter.id == VolunteerChapter.chapter_id)
        .where(
            VolunteerChapter.volunteer_id.in_(list(volunteer_ids)),
            Chapter.channel_id.is_not(None),
        )
    )
    return {vid: channel for vid, channel in rows}
