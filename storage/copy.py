"""`muster db copy --from SQLITE_URL [--to URL]`: move an existing SQLite database into PostgreSQL.

The target is migrated to head first and must hold no Muster rows. Every Muster table is copied in
dependency order (parents before children), in batches, inside ONE target transaction: a copy that
fails half-way leaves the target as empty as it was. PostgreSQL's id sequences are then set past
the copied ids, and the row counts of source and target are compared table by table.

The source is read in one read transaction (a consistent snapshot, even while a stopped-for-the-
move `muster serve` left its WAL behind) and is never written to.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Connection, Engine, Table, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from storage.db import READ_ONLY, make_engine
from storage.migrate import current_revision, head_revision, upgrade
from storage.schema import metadata

BATCH_SIZE = 1000


class CopyRefused(Exception):
    """The copy cannot start (or could not finish); the message says why and what to do."""


def copy_database(
    source_url: str, target_url: str, *, batch_size: int = BATCH_SIZE, out: TextIO | None = None
) -> int:
    """The CLI command: 0 when every row was copied and counted, 1 (with a reason) otherwise."""
    out = out or sys.stdout
    try:
        counts = copy_rows(source_url, target_url, batch_size=batch_size, out=out)
    except CopyRefused as exc:
        print(f"muster db copy: {exc}", file=sys.stderr)
        return 1
    total = sum(counts.values())
    target = make_url(target_url).render_as_string(hide_password=True)
    print(f"copied {total} rows in {len(counts)} tables into {target}; counts match", file=out)
    return 0


def muster_tables() -> list[Table]:
    """Muster's tables, parents before children (APScheduler's job store is not copied: the
    clock rebuilds its jobs from the `schedules` rows)."""
    return list(metadata.sorted_tables)


def copy_rows(
    source_url: str, target_url: str, *, batch_size: int = BATCH_SIZE, out: TextIO | None = None
) -> dict[str, int]:
    """Copy every Muster row from source to target; returns {table: rows copied}."""
    _check_urls(source_url, target_url)
    source = make_engine(source_url)
    try:
        _check_source(source)
        upgrade(target_url)
        target = make_engine(target_url)
        try:
            return _copy(source, target, batch_size=batch_size, out=out)
        finally:
            target.dispose()
    finally:
        source.dispose()


def _check_urls(source_url: str, target_url: str) -> None:
    src, dst = make_url(source_url), make_url(target_url)
    if src.get_backend_name() != "sqlite":
        raise CopyRefused("--from must be a sqlite:/// URL (the database you are moving from)")
    if src.database in (None, "", ":memory:") or not Path(src.database).is_file():
        raise CopyRefused(f"no SQLite database file at {src.database!r}")
    same_file = (
        dst.get_backend_name() == "sqlite"
        and dst.database
        and Path(dst.database).resolve() == Path(src.database).resolve()
    )
    if same_file:
        raise CopyRefused("--from and --to are the same database; set --to (or DATABASE_URL)")


def _check_source(source: Engine) -> None:
    revision, head = current_revision(source), head_revision()
    if revision != head:
        raise CopyRefused(
            f"the source database is at migration {revision or 'none'}, not {head}: run "
            "`DATABASE_URL=<the sqlite url> muster db upgrade` (or start that version of "
            "`muster serve` once) and copy again"
        )


def _copy(source: Engine, target: Engine, *, batch_size: int, out: TextIO | None) -> dict[str, int]:
    tables = muster_tables()
    counts: dict[str, int] = {}
    with (
        source.connect().execution_options(**{READ_ONLY: True}) as src,
        src.begin(),
        target.begin() as dst,
    ):
        occupied = [t.name for t in tables if _count(dst, t)]
        if occupied:
            raise CopyRefused(
                "the target database already holds data (in "
                + ", ".join(occupied)
                + "); copy into a new, empty database"
            )
        for table in tables:
            copied = 0
            for rows in _batches(src, table, batch_size):
                try:
                    dst.execute(table.insert(), rows)
                except DBAPIError as exc:
                    raise CopyRefused(
                        f"table {table.name}: the target refused a row "
                        f"({type(exc.orig).__name__}: {str(exc.orig).splitlines()[0]}); "
                        "nothing was copied"
                    ) from None
                copied += len(rows)
            counts[table.name] = copied
            if out is not None:
                print(f"{table.name}: {copied} rows", file=out)
        if dst.dialect.name == "postgresql":
            _reset_sequences(dst, tables)
        for table in tables:
            there = _count(dst, table)
            if there != _count(src, table) or there != counts[table.name]:
                raise CopyRefused(
                    f"table {table.name}: {counts[table.name]} rows read but {there} in the "
                    "target; nothing was copied"
                )
    return counts


def _count(conn: Connection, table: Table) -> int:
    return int(conn.scalar(select(func.count()).select_from(table)) or 0)


def _batches(conn: Connection, table: Table, size: int) -> Iterator[list[dict[str, Any]]]:
    """The table's rows in primary-key order, `size` at a time (never the whole table at once)."""
    order = list(table.primary_key.columns) or list(table.columns)
    try:
        result = conn.execution_options(yield_per=size).execute(select(table).order_by(*order))
    except SQLAlchemyError as exc:
        raise CopyRefused(f"cannot read table {table.name} from the source: {exc}") from None
    for partition in result.mappings().partitions(size):
        yield [dict(row) for row in partition]


def _reset_sequences(conn: Connection, tables: list[Table]) -> None:
    """Set each id sequence past the highest copied id, so new rows do not collide."""
    for table in tables:
        for column in table.primary_key.columns:
            if not column.autoincrement or column.type.python_type is not int:
                continue
            sequence = conn.scalar(
                text("SELECT pg_get_serial_sequence(:table, :column)"),
                {"table": table.name, "column": column.name},
            )
            if sequence is None:
                continue
            conn.execute(
                text(
                    f'SELECT setval(:seq, COALESCE(MAX("{column.name}"), 1), '
                    f'MAX("{column.name}") IS NOT NULL) FROM "{table.name}"'
                ),
                {"seq": sequence},
            )
