"""`muster export volunteers|roster N [--output FILE]`: CSV to standard output or to FILE."""

from __future__ import annotations

import csv
import io
import logging
import os
import sys
from collections.abc import Iterable
from typing import IO

from bot.bootstrap import Container
from bot.csv_rows import maybe_open
from handlers.errors import MusterError
from handlers.exports import ROSTER_COLUMNS, VOLUNTEER_COLUMNS, roster_rows, volunteer_rows

log = logging.getLogger(__name__)

IMPORT_COLUMNS: tuple[str, ...] = ("phone", "name", "zip", "tags", "opted_in_at", "source")
# Header names other tools use for the same thing (Action Network, spreadsheets).


def export(
    container: Container, what: str, *, shift_id: int | None = None, output: str | None = None
) -> int:
    """`muster export volunteers|roster N [--output FILE]`: CSV to standard output or FILE."""
    if what == "roster" and shift_id is None:
        print("muster: usage: muster export roster N [--output FILE]", file=sys.stderr)
        return 2
    with container.read_uow() as uow:
        try:
            if what == "volunteers":
                columns, rows = VOLUNTEER_COLUMNS, volunteer_rows(uow.session)
            else:
                assert shift_id is not None
                columns, rows = ROSTER_COLUMNS, roster_rows(uow.session, shift_id)
        except MusterError as exc:
            print(f"muster: {exc.message}", file=sys.stderr)
            return 1
        try:
            with maybe_open(output, default=sys.stdout) as out:
                count = write_csv(out, columns, rows)
        except BrokenPipeError:  # `muster export volunteers | head`: the reader has had enough
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
    if output:
        print(f"{count} rows written to {output}", file=sys.stderr)
    return 0


def write_csv(stream: IO[str], columns: Iterable[str], rows: Iterable[dict[str, str]]) -> int:
    writer = csv.DictWriter(stream, fieldnames=list(columns), lineterminator="\r\n")
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return count


def csv_text(columns: Iterable[str], rows: Iterable[dict[str, str]]) -> str:
    """The same CSV as a string (small exports, e.g. a file uploaded to Slack)."""
    buffer = io.StringIO()
    write_csv(buffer, columns, rows)
    return buffer.getvalue()
