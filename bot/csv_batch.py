"""Writing one batch of checked rows (`ImportRow`s from `bot/csv_rows.py`) for `muster import
volunteers`, inside the caller's transaction: one SELECT of the numbers already on file, one of
their consent history, which rows are new, unchanged or refused, and the volunteers on file that a
row changes updated one by one. The new volunteers are inserted by `bot/csv_batch_insert.py`.
The rules it keeps are in `bot/csv_import.py`'s docstring and docs/data.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.csv_batch_insert import insert_new, ledger_detail
from bot.csv_rows import IMPORT_CHANNEL, ImportReport, ImportRow
from handlers.consent import record_opt_in, record_opt_out
from handlers.districts import districts_of, put_districts
from storage.chapters import (
    ChapterSource,
    all_chapters,
    join_by_zip,
    membership,
    put_membership,
)
from storage.districts import DistrictSource, enqueue_lookup
from storage.models import (
    ConsentAction,
    ConsentEvent,
    Volunteer,
    VolunteerStatus,
    VolunteerTag,
)


def _latest_consent(session: Session, phones: list[str]) -> dict[str, tuple[str, datetime]]:
    """Each number's latest consent record: (action, when)."""
    latest: dict[str, tuple[str, datetime]] = {}
    stmt = (
        select(ConsentEvent.phone, ConsentEvent.action, ConsentEvent.occurred_at)
        .where(ConsentEvent.phone.in_(phones))
        .order_by(ConsentEvent.phone, ConsentEvent.occurred_at, ConsentEvent.id)
    )
    for phone, action, occurred_at in session.execute(stmt):
        latest[phone] = (action, occurred_at)
    return latest


def _on_file(session: Session, phones: list[str]) -> dict[str, Any]:
    """The volunteers already on file with these numbers, as plain rows, with their tags."""
    stmt = select(
        Volunteer.id,
        Volunteer.phone,
        Volunteer.first_name,
        Volunteer.zip,
        Volunteer.timezone,
        Volunteer.status,
        Volunteer.opted_in_at,
        Volunteer.address,
        Volunteer.email,
        Volunteer.member_since,
    ).where(Volunteer.phone.in_(phones))
    found = {r.phone: r for r in session.execute(stmt)}
    tags: dict[int, set[str]] = {r.id: set() for r in found.values()}
    if tags:
        for vid, tag in session.execute(
            select(VolunteerTag.volunteer_id, VolunteerTag.tag).where(
                VolunteerTag.volunteer_id.in_(list(tags))
            )
        ):
            tags[vid].add(tag)
    return {phone: (r, tags[r.id]) for phone, r in found.items()}


def _opts_out_now(row: ImportRow, last: tuple[str, datetime] | None) -> bool:
    """Whether the row's opt-out is news for a number that has not opted out: it has no consent
    record, or the row gives no time (then it counts from now), or a time after the latest one.
    An opt-out older than the latest record (they opted in again since) is not."""
    if not row.opted_out:
        return False
    return last is None or row.opted_out_at is None or row.opted_out_at > last[1]


def _would_change(
    row: ImportRow, current: Any, tags: set[str], last: tuple[str, datetime] | None
) -> bool:
    """Whether the row adds anything to a volunteer already on file (see _update_existing)."""
    never_subscribed = current.opted_in_at is None and current.status != VolunteerStatus.ACTIVE
    return bool(
        (row.address and not current.address)
        or bool(row.districts)  # compared with what is on file by put_districts
        or bool(row.chapter)  # compared with the volunteer's chapter by _set_chapter
        or (row.name and not current.first_name)
        or (row.zip and not current.zip)
        or (row.timezone and not current.timezone)
        or (row.email and not current.email)
        or (row.member_since and not current.member_since)
        or set(row.tags) - tags
        or _opts_out_now(row, last)
        or (never_subscribed and row.opted_in_at and not row.opted_out)
    )


def import_batch(
    session: Session,
    rows: list[ImportRow],
    *,
    now: datetime,
    detail: str,
    report: ImportReport,
    reject: Any,
    geocode: bool = False,
) -> None:
    """Write one batch of valid, in-file-unique rows inside the caller's transaction; with
    `geocode` (GEOCODER on), a row's street address without all three district columns is
    queued for the geocoder (its districts come later; nobody is texted)."""
    chapter_ids = {c.slug: c.id for c in all_chapters(session)}
    rows = _known_chapters(rows, chapter_ids, reject)
    phones = [r.phone for r in rows]
    existing = _on_file(session, phones)
    latest = _latest_consent(session, phones)

    new_rows: list[ImportRow] = []
    for row in rows:
        last = latest.get(row.phone)
        current, tags = existing.get(row.phone, (None, set()))
        opted_out = (last is not None and last[0] == ConsentAction.OPT_OUT) or (
            current is not None and current.status == VolunteerStatus.OPTED_OUT
        )
        if opted_out and row.opted_out:
            report.unchanged += 1  # the file agrees: nothing to write (nor to bring back)
        elif opted_out:
            when = last[1].date().isoformat() if last else "earlier"
            reject(row, f"opted out: this number opted out ({when}); not re-subscribed")
        elif current is None:
            new_rows.append(row)
        elif not _would_change(row, current, tags, last):
            report.unchanged += 1
        else:
            volunteer = session.get(Volunteer, current.id)
            assert volunteer is not None
            _update_existing(
                session, volunteer, row, last=last, now=now, detail=detail, report=report,
                geocode=geocode, chapter_id=chapter_ids.get(row.chapter or ""),
            )  # fmt: skip

    if new_rows:
        insert_new(session, new_rows, now=now, detail=detail, report=report, geocode=geocode,
                   chapter_ids=chapter_ids)  # fmt: skip
    if chapter_ids:  # the others join their ZIP's chapter, as a volunteer who texts their ZIP
        join_by_zip(session, now=now)


def _known_chapters(rows: list[ImportRow], chapter_ids: dict[str, int], reject: Any) -> list:
    """A row naming a chapter that does not exist is rejected, with the chapters there are."""
    known = []
    for row in rows:
        if row.chapter and row.chapter not in chapter_ids:
            there = ", ".join(sorted(chapter_ids)) or "none yet"
            reject(row, f"chapter: no chapter {row.chapter!r} (chapters: {there})")
        else:
            known.append(row)
    return known


def _update_existing(
    session: Session,
    volunteer: Volunteer,
    row: ImportRow,
    *,
    geocode: bool = False,
    last: tuple[str, datetime] | None,
    now: datetime,
    detail: str,
    report: ImportReport,
    chapter_id: int | None = None,
) -> None:
    """A number already on file keeps what it has; the row fills gaps, may subscribe it, and
    opts it out when the row says so (unless they opted in again after that)."""
    changed = False
    if not volunteer.first_name and row.name:
        volunteer.first_name, changed = row.name, True
    if not volunteer.zip and row.zip:
        volunteer.zip, volunteer.state, changed = row.zip, row.state, True
        volunteer.timezone = row.timezone or volunteer.timezone
    if not volunteer.timezone and row.timezone:
        volunteer.timezone, changed = row.timezone, True
    if not volunteer.address and row.address:
        volunteer.address, changed = row.address, True
        if geocode and len(row.districts) < 3:
            enqueue_lookup(session, volunteer_id=volunteer.id, notify=False, now=now)
    if row.districts:
        wanted = dict(row.districts)
        if {c: d for c, d in districts_of(session, volunteer.id).items() if c in wanted} != wanted:
            put_districts(
                session, volunteer.id, wanted, source=DistrictSource.IMPORT, vintage=None, now=now
            )
            changed = True
    if not volunteer.email and row.email:
        volunteer.email, changed = row.email, True
    if not volunteer.member_since and row.member_since:
        volunteer.member_since, changed = row.member_since, True
    if chapter_id is not None:
        changed = _set_chapter(session, volunteer.id, chapter_id, now=now) or changed
    have = set(volunteer.tag_names)
    for tag in row.tags:
        if tag not in have:
            volunteer.tags.append(VolunteerTag(tag=tag))
            changed = True
    never_subscribed = volunteer.opted_in_at is None and volunteer.status != VolunteerStatus.ACTIVE
    if _opts_out_now(row, last):
        record_opt_out(
            session,
            phone=row.phone,
            volunteer=volunteer,
            keyword=None,
            channel=IMPORT_CHANNEL,
            now=row.opted_out_at or now,
            detail=ledger_detail(row, detail),
        )
        report.opted_out += 1
        changed = True
    elif never_subscribed and row.opted_in_at and not row.opted_out:
        record_opt_in(
            session,
            phone=row.phone,
            volunteer=volunteer,
            keyword=None,
            channel=IMPORT_CHANNEL,
            now=row.opted_in_at,
            detail=ledger_detail(row, detail),
        )
        report.subscribed += 1
        changed = True
    if changed:
        volunteer.updated_at = now
        report.updated += 1
    else:
        report.unchanged += 1


def _set_chapter(session: Session, volunteer_id: int, chapter_id: int, *, now: datetime) -> bool:
    """The file's chapter for a volunteer on file: it fills a gap, and outranks a chapter their
    ZIP gave; an organizer's placement stands."""
    current = membership(session, volunteer_id)
    if current is not None and (
        current.chapter_id == chapter_id or current.source == ChapterSource.ORGANIZER
    ):
        return False
    put_membership(
        session,
        volunteer_id=volunteer_id,
        chapter_id=chapter_id,
        source=ChapterSource.IMPORT,
        set_by=None,
        now=now,
    )
    return True
