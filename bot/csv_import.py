"""`muster import volunteers FILE.csv [--rejects FILE]` (the rows are read and checked in
`bot/csv_rows.py`; `muster export` is `bot/csv_export.py`).

The import reads the file as a stream, in batches: each batch is validated in Python, then written
with a handful of set-based statements in its own transaction (one SELECT of the numbers already on
file, one of their consent history, one multi-row INSERT each for volunteers, tags and consent
records). Memory stays flat however long the file is (only the set of numbers already seen in the
file grows, to report duplicates), and a running server is never locked out for long on SQLite.

The rules (docs/data.md says the same for organizers):
- every row is validated; a bad row is written to the rejects file with a `reason` and the line
  it came from, and nothing of it is imported;
- a row with a valid `opted_in_at` is consent evidence: the volunteer is subscribed (`active`) and
  the opt-in is written to the consent ledger (channel `import`, at the time the file gives);
- a row without `opted_in_at` is kept on file but NOT subscribed: status `unreachable`,
  `opted_in_at` empty, no ledger entry. Such volunteers receive nothing (no broadcast, no
  reminder) until they text JOIN themselves; their name, ZIP and tags are kept;
- a row that says the person opted out (`status` is `opted_out`, or `opted_out_at` is filled, as
  `muster export volunteers` writes them) is never subscribed, whatever its `opted_in_at`: a new
  number is kept on file as opted out, and the opt-out is written to the consent ledger (channel
  `import`, at the row's `opted_out_at`, or the import's time), so no later file can subscribe it;
  a volunteer on file is opted out the same way, unless they opted in again after that time;
- a number whose latest consent record is an opt-out is never re-subscribed: the row is rejected
  (or, when the row says the same, left as it is);
- a number already on file keeps what it has: the row only fills empty fields, adds tags and, when
  the volunteer was never subscribed, subscribes them on the row's evidence;
- the same number twice in the file: the first row counts, the later ones are rejected;
- running the same file again changes nothing.
"""

from __future__ import annotations

import csv
import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.bootstrap import Container
from bot.csv_rows import (
    BATCH_ROWS,
    COLUMN_ALIASES,
    IMPORT_CHANNEL,
    ImportFileError,
    ImportReport,
    ImportRow,
    RejectsWriter,
    RowError,
    batches,
    maybe_open,
    read_rows,
    validate_row,
)
from handlers.consent import record_opt_in, record_opt_out
from handlers.districts import districts_of, put_districts
from handlers.errors import MusterError
from storage.chapters import (
    ChapterSource,
    VolunteerChapter,
    all_chapters,
    join_by_zip,
    membership,
    put_membership,
)
from storage.districts import DistrictSource, VolunteerDistrict, enqueue_lookup
from storage.models import (
    ConsentAction,
    ConsentEvent,
    Delivery,
    DeliveryStatus,
    OnboardingStep,
    Volunteer,
    VolunteerStatus,
    VolunteerTag,
)

log = logging.getLogger(__name__)


def _insert_returning(session: Session, model: Any, rows: list[dict[str, Any]], *cols: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING cols, on either database."""
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(model).on_conflict_do_nothing().returning(*cols)
    return session.execute(stmt, rows).all()


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
        or set(row.tags) - tags
        or _opts_out_now(row, last)
        or (never_subscribed and row.opted_in_at and not row.opted_out)
    )


def _ledger_detail(row: ImportRow, detail: str) -> str:
    return f"{detail}; source={row.source}; line={row.line}"


def _ledger_row(
    row: ImportRow,
    volunteer_id: int,
    detail: str,
    *,
    action: ConsentAction,
    occurred_at: datetime,
) -> dict[str, Any]:
    """The ledger row `handlers.consent.record_opt_in` (or `record_opt_out`) writes, for a
    multi-row INSERT of new volunteers (the status and time it sets are in the volunteers' own
    INSERT)."""
    return {
        "phone": row.phone,
        "volunteer_id": volunteer_id,
        "action": action,
        "keyword": None,
        "channel": IMPORT_CHANNEL,
        "message_sid": None,
        "detail": _ledger_detail(row, detail),
        "occurred_at": occurred_at,
    }


def _new_status(row: ImportRow) -> VolunteerStatus:
    if row.opted_out:
        return VolunteerStatus.OPTED_OUT
    return VolunteerStatus.ACTIVE if row.opted_in_at else VolunteerStatus.UNREACHABLE


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
        _insert_new(session, new_rows, now=now, detail=detail, report=report, geocode=geocode,
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


def _insert_new(
    session: Session,
    new_rows: list[ImportRow],
    *,
    now: datetime,
    detail: str,
    report: ImportReport,
    geocode: bool,
    chapter_ids: dict[str, int],
) -> None:
    values = [
        {
            "phone": r.phone,
            "first_name": r.name,
            "email": r.email,
            "zip": r.zip,
            "state": r.state,
            "timezone": r.timezone,
            "language": "en",
            "status": _new_status(r),
            "onboarding_step": OnboardingStep.DONE,
            "zip_attempts": 0,
            "digest_opt_in": False,
            "source": r.source,
            "address": r.address,
            # Only an opt-in the ledger records is kept: an opted-out row's stays in the file.
            "opted_in_at": None if r.opted_out else r.opted_in_at,
            "opted_out_at": (r.opted_out_at or now) if r.opted_out else None,
            "created_at": now,
            "updated_at": now,
        }
        for r in new_rows
    ]
    ids = dict(
        (phone, vid)
        for vid, phone in _insert_returning(
            session, Volunteer, values, Volunteer.id, Volunteer.phone
        )
    )
    tags, ledger, stopped, districts, placed = [], [], [], [], []
    for row in new_rows:
        vid = ids.get(row.phone)
        if vid is None:  # someone texted JOIN from this number a moment ago: theirs stands
            report.unchanged += 1
            continue
        report.created += 1
        if geocode and row.address and len(row.districts) < 3:
            enqueue_lookup(session, volunteer_id=vid, notify=False, now=now)
        tags += [{"volunteer_id": vid, "tag": t} for t in row.tags]
        districts += [
            {
                "volunteer_id": vid,
                "chamber": chamber,
                "district": district,
                "source": DistrictSource.IMPORT,
                "vintage": None,
                "set_at": now,
            }
            for chamber, district in row.districts
        ]
        if row.chapter:
            placed.append(
                {
                    "volunteer_id": vid,
                    "chapter_id": chapter_ids[row.chapter],
                    "source": ChapterSource.IMPORT,
                    "set_at": now,
                }
            )
        if row.opted_out:
            when = row.opted_out_at or now
            ledger.append(
                _ledger_row(row, vid, detail, action=ConsentAction.OPT_OUT, occurred_at=when)
            )
            stopped.append(row.phone)
            report.kept_opted_out += 1
            report.opted_out += 1
        elif row.opted_in_at:
            ledger.append(
                _ledger_row(
                    row, vid, detail, action=ConsentAction.OPT_IN, occurred_at=row.opted_in_at
                )
            )
            report.subscribed += 1
        else:
            report.not_subscribed += 1
    if tags:
        session.execute(insert(VolunteerTag), tags)
    if districts:
        session.execute(insert(VolunteerDistrict), districts)
    if placed:
        session.execute(insert(VolunteerChapter), placed)
    if ledger:
        session.execute(insert(ConsentEvent), ledger)
    if stopped:  # as `record_opt_out` does: nothing still queued for these numbers goes out
        session.execute(
            update(Delivery)
            .where(Delivery.to_phone.in_(stopped), Delivery.status == DeliveryStatus.PENDING)
            .values(status=DeliveryStatus.SKIPPED, error_message="opted out", updated_at=now)
            .execution_options(synchronize_session=False)
        )


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
            detail=_ledger_detail(row, detail),
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
            detail=_ledger_detail(row, detail),
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


# --- The commands -----------------------------------------------------------------------------


def import_volunteers_from(
    container: Container,
    stream: IO[str],
    *,
    rejects: IO[str] | None = None,
    file_name: str = "-",
) -> ImportReport:
    """Import a CSV stream; returns the counts. Each batch commits on its own."""
    now = container.clock.now()
    zone = container.org.zone
    header, rows = read_rows(stream)
    rejects_out = RejectsWriter(rejects, header)
    report = ImportReport()
    seen: dict[str, int] = {}
    detail = f"file={Path(file_name).name}; imported_at={now.isoformat()}"
    keys = [COLUMN_ALIASES.get(h.strip().lower(), h.strip().lower()) for h in header]

    def raw_values(raw: dict[str, str]) -> list[str]:
        return [raw.get(key, "") for key in keys]

    def reject(row: ImportRow, reason: str) -> None:
        report.reject(reason)
        rejects_out.write(row.line, raw_values(row.raw), reason)

    for batch in batches(rows, BATCH_ROWS):
        good: list[ImportRow] = []
        for line, raw in batch:
            report.rows += 1
            try:
                row = validate_row(line, raw, now=now, zone=zone)
            except RowError as exc:
                report.reject(str(exc))
                rejects_out.write(line, raw_values(raw), str(exc))
                continue
            first = seen.get(row.phone)
            if first is not None:
                reject(row, f"duplicate: the same phone as line {first}")
                continue
            seen[row.phone] = line
            report.unreachable_over_opt_in += row.unreachable_over_opt_in
            good.append(row)
        if good:
            with container.uow() as uow:
                import_batch(
                    uow.session, good, now=now, detail=detail, report=report, reject=reject,
                    geocode=container.org.geocoder,
                )  # fmt: skip
                uow.commit()
    return report


def import_volunteers(container: Container, path: str, *, rejects: str | None = None) -> int:
    """`muster import volunteers FILE.csv [--rejects FILE]`; exit status 0, or 1 on a bad file."""
    source = Path(path)
    if not source.is_file():
        print(f"muster: no such file: {path}", file=sys.stderr)
        return 1
    try:
        with source.open(newline="", encoding="utf-8-sig") as stream, maybe_open(rejects) as out:
            report = import_volunteers_from(container, stream, rejects=out, file_name=path)
    except (ImportFileError, UnicodeDecodeError, csv.Error) as exc:
        message = exc.message if isinstance(exc, MusterError) else str(exc)
        print(f"muster: cannot import {path}: {message}", file=sys.stderr)
        return 1
    print(report.summary())
    if report.rejected and not rejects:
        print("  (run again with --rejects FILE.csv to get the rejected rows and their reasons)")
    elif report.rejected:
        print(f"  rejected rows and reasons: {rejects}")
    log.info("imported %s: %s new, %s rejected", path, report.created, report.rejected)
    return 0
