"""`muster legislators load FILE.csv`, `muster legislators show DISTRICT` and `muster
legislators fetch` (with OPENSTATES_API_KEY: every district volunteers live in, from Open
States)."""

from __future__ import annotations

import csv
import logging
import sys
from pathlib import Path

from sqlalchemy import select

from bot.bootstrap import Container
from handlers.district_names import UnknownDistrict, parse_district
from handlers.districts import district_label
from handlers.errors import MusterError
from handlers.legislators import (
    StoredLegislators,
    load_legislators,
    read_people_csv,
    refresh_legislators,
)
from handlers.peers import PeerError
from handlers.phones import display
from storage.districts import VolunteerDistrict

log = logging.getLogger(__name__)


def load(container: Container, path: str) -> int:
    source = Path(path)
    if not source.is_file():
        print(f"muster: no such file: {path}", file=sys.stderr)
        return 1
    try:
        with source.open(newline="", encoding="utf-8-sig") as stream:
            people, report = read_people_csv(stream, file_name=source.name)
    except (MusterError, UnicodeDecodeError, csv.Error) as exc:
        message = exc.message if isinstance(exc, MusterError) else str(exc)
        print(f"muster: cannot load {path}: {message}", file=sys.stderr)
        return 1
    with container.uow() as uow:
        report.loaded = load_legislators(uow.session, people, now=container.clock.now())
        uow.commit()
    print(report.summary())
    log.info("legislators %s: %s loaded", source.name, report.loaded)
    return 0


def show(container: Container, text: str) -> int:
    try:
        district = parse_district(text)
    except UnknownDistrict as exc:
        print(f"muster: {exc.message}", file=sys.stderr)
        return 2
    with container.read_uow() as uow:
        people = StoredLegislators(uow.session).legislators_of([district.id])
    origin = ""
    api = container.legislator_directory
    if not people and api is not None:
        try:
            people, origin = api.legislators_of([district.id]), " (from Open States, not stored)"
        except PeerError as exc:
            print(f"muster: {exc}", file=sys.stderr)
            return 1
    if not people:
        print(f"{district.id} ({district_label(district.id)}): nobody loaded")
        return 0
    print(f"{district.id} ({district_label(district.id)}){origin}:")
    for p in people:
        party = f" ({p.party})" if p.party else ""
        phones = f"capitol {display(p.capitol_phone)}, district {display(p.district_phone)}"
        email = f", {p.email}" if p.email else ""
        print(f"    {p.name}{party}: {phones}{email} [{p.source}]")
    return 0


def fetch(container: Container) -> int:
    api = container.legislator_directory
    if api is None:
        print("muster: set OPENSTATES_API_KEY to fetch legislators", file=sys.stderr)
        return 2
    with container.read_uow() as uow:
        districts = list(uow.session.scalars(select(VolunteerDistrict.district).distinct()))
    try:
        with container.uow() as uow:
            count = refresh_legislators(
                uow.session, api, sorted(districts), now=container.clock.now()
            )
            uow.commit()
    except PeerError as exc:
        print(f"muster: {exc}", file=sys.stderr)
        return 1
    print(f"{count} legislators stored for {len(districts)} districts")
    return 0
