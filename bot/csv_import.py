"""`muster import volunteers FILE.csv [--rejects FILE]` (the rows are read and checked in
`bot/csv_rows.py`, each batch is written by `bot/csv_batch.py`; `muster export` is
`bot/csv_export.py`).

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
from pathlib import Path
from typing import IO

from bot.bootstrap import Container
from bot.csv_batch import import_batch
from bot.csv_rows import (
    BATCH_ROWS,
    COLUMN_ALIASES,
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
from handlers.errors import MusterError

log = logging.getLogger(__name__)


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
