"""`muster districts load FILE.csv [--vintage V]` and `muster districts show ZIP`."""

from __future__ import annotations

import csv
import logging
import sys
from pathlib import Path

from bot.bootstrap import Container
from handlers.district_crosswalk import (
    districts_of_zip,
    iter_rows,
    load_crosswalk,
    load_default_crosswalk,
    read_crosswalk,
)
from handlers.districts import district_label
from handlers.errors import MusterError
from handlers.geo import normalize_zip

log = logging.getLogger(__name__)


def load(container: Container, path: str, *, vintage: str | None = None) -> int:
    source = Path(path)
    if not source.is_file():
        print(f"muster: no such file: {path}", file=sys.stderr)
        return 1
    try:
        with source.open(newline="", encoding="utf-8-sig") as stream:
            rows, report = read_crosswalk(stream, vintage=vintage or source.stem)
    except (MusterError, UnicodeDecodeError, csv.Error) as exc:
        message = exc.message if isinstance(exc, MusterError) else str(exc)
        print(f"muster: cannot load {path}: {message}", file=sys.stderr)
        return 1
    with container.uow() as uow:
        report.loaded = load_crosswalk(uow.session, rows)
        uow.commit()
    print(report.summary())
    log.info("crosswalk %s: %s rows loaded", source.name, report.loaded)
    return 0


def show(container: Container, zip_text: str) -> int:
    zip5 = normalize_zip(zip_text)
    if zip5 is None:
        print(f"muster: {zip_text!r} is not a ZIP code", file=sys.stderr)
        return 2
    with container.read_uow() as uow:
        found = districts_of_zip(uow.session, zip5)
    if not found.sure and not found.split:
        print(f"{zip5}: no district in the crosswalk")
        return 0
    for chamber, row in sorted(found.sure.items()):
        print(f"{zip5} {chamber}: {row.district} ({district_label(row.district)}) [{row.vintage}]")
    for chamber, rows in sorted(found.split.items()):
        print(f"{zip5} {chamber}: split between {len(rows)} districts, none for sure:")
        for line in iter_rows(rows):
            print(f"    {line}")
    return 0


def load_default(container: Container) -> int:
    """The shipped congressional crosswalk into an empty crosswalk (db upgrade, serve)."""
    with container.uow() as uow:
        count = load_default_crosswalk(uow.session)
        uow.commit()
    if count:
        log.info("default congressional crosswalk loaded: %s rows (zcta-cd118)", count)
    return count
