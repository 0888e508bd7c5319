"""Helpers for tests that import an organizer's CSV file and look at what it left in the database
(the volunteers, the consent ledger)."""

from __future__ import annotations

import csv
import io

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.bootstrap import Container
from bot.csv_import import import_volunteers_from
from storage.models import ConsentEvent, Volunteer

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
