"""Inserting the new volunteers of a batch for `muster import volunteers` (the rows
`bot/csv_batch.py` found no one on file for), inside the caller's transaction: one multi-row INSERT
each for the volunteers, their tags, districts, chapters and consent records, and the texts still
queued for an opted-out row's number skipped, as `record_opt_out` does. A number that texted JOIN
a moment ago keeps its own row (INSERT ... ON CONFLICT DO NOTHING, on either database).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.csv_rows import IMPORT_CHANNEL, ImportReport, ImportRow
from storage.chapters import ChapterSource, VolunteerChapter
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


def _insert_returning(session: Session, model: Any, rows: list[dict[str, Any]], *cols: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING cols, on either database."""
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(model).on_conflict_do_nothing().returning(*cols)
    return session.execute(stmt, rows).all()


def ledger_detail(row: ImportRow, detail: str) -> str:
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
        "detail": ledger_detail(row, detail),
        "occurred_at": occurred_at,
    }


def _new_status(row: ImportRow) -> VolunteerStatus:
    if row.opted_out:
        return VolunteerStatus.OPTED_OUT
    return VolunteerStatus.ACTIVE if row.opted_in_at else VolunteerStatus.UNREACHABLE


def insert_new(
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
            "member_since": r.member_since,
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
