"""`muster db copy`: an existing SQLite database moved into PostgreSQL, every row intact."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Engine,
    Enum,
    Float,
    Integer,
    String,
    Table,
    Text,
    TypeDecorator,
    func,
    insert,
    select,
)

from bot.cli import main
from storage.copy import copy_database, muster_tables
from storage.db import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.models import ConsentAction, ConsentEvent, Volunteer
from tests.builders import make_shift, make_volunteer, random_phone
from tests.conftest import ON_POSTGRES, T0

needs_postgres = pytest.mark.skipif(
    not ON_POSTGRES,
    reason="db copy moves SQLite into PostgreSQL: runs on the PostgreSQL pass (TEST_DATABASE_URL)",
)


def _value(column: Any, parents: dict[str, Any], n: int) -> Any:
    """A valid value for any column: the parent row's key for a foreign key, else by type."""
    for fk in column.foreign_keys:
        return parents.get(fk.column.table.name, {}).get(fk.column.name)
    kind = column.type.impl if isinstance(column.type, TypeDecorator) else column.type
    if isinstance(kind, Enum):
        return kind.enums[n % len(kind.enums)]
    if isinstance(kind, Boolean):
        return n % 2 == 0
    if isinstance(kind, Integer):
        return n + 1
    if isinstance(kind, Float):
        return 1.5 + n
    if isinstance(kind, DateTime):  # an end after its start (tables check it: ballots)
        return T0 + timedelta(minutes=n + (60 if column.name in ("closes_at", "ends_at") else 0))
    if isinstance(kind, JSON):
        return {"k": [n, "é"]}
    if isinstance(kind, String | Text):
        value = f"v{n}-ü" if not column.name.endswith("phone") else random_phone()
        return value[: kind.length] if getattr(kind, "length", None) else value
    return None


def _fill_every_table(engine: Engine) -> None:
    """Rows in every Muster table: realistic ones through the builders, then one generic row in
    each table (so a table added later is covered too)."""
    with make_session_factory(engine)() as s:
        for _ in range(23):  # more than two batches of 10
            v = make_volunteer(s, tags=["canvass", "phonebank"])
            s.add(
                ConsentEvent(
                    phone=v.phone,
                    volunteer_id=v.id,
                    action=ConsentAction.OPT_IN,
                    keyword="JOIN",
                    channel="sms",
                    occurred_at=T0,
                )
            )
        make_shift(s, starts_at=T0 + timedelta(days=1), capacity=3, committed_count=2)
        s.commit()
    parents: dict[str, dict[str, Any]] = {}
    with engine.begin() as conn:
        for table in muster_tables():
            row = {c.name: _value(c, parents, 7) for c in table.columns if not _is_serial(c)}
            conn.execute(insert(table), row)
            # The parent for later tables' foreign keys: the highest-keyed row of this table.
            last = conn.execute(
                select(table).order_by(*[c.desc() for c in table.primary_key])
            ).first()
            parents[table.name] = dict(last._mapping)


def _is_serial(column: Any) -> bool:
    return column.primary_key and isinstance(column.type, Integer) and not column.foreign_keys


def _rows(engine: Engine, table: Table) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(table).order_by(*table.primary_key.columns))]


@pytest.fixture
def sqlite_source(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        _fill_every_table(engine)
    finally:
        engine.dispose()
    return url


@needs_postgres
def test_copy_a_sqlite_database_into_postgresql(sqlite_source: str, db_url: str) -> None:
    out = io.StringIO()
    assert copy_database(sqlite_source, db_url, batch_size=10, out=out) == 0
    assert "counts match" in out.getvalue()

    source, target = make_engine(sqlite_source), make_engine(db_url)
    try:
        for table in muster_tables():
            rows = _rows(source, table)
            assert rows, f"the test left {table.name} empty"
            assert _rows(target, table) == rows, table.name
        # The sequences moved past the copied ids: a new volunteer gets a fresh id.
        with make_session_factory(target)() as s:
            top = s.scalar(select(func.max(Volunteer.id)))
            new = make_volunteer(s)
            s.commit()
            assert new.id > top
    finally:
        source.dispose()
        target.dispose()


@needs_postgres
def test_copy_refuses_a_target_that_holds_data(sqlite_source: str, db_url: str, capsys) -> None:
    target = make_engine(db_url)
    with make_session_factory(target)() as s:
        make_volunteer(s)
        s.commit()
    target.dispose()
    assert copy_database(sqlite_source, db_url) == 1
    assert "already holds data (in volunteers" in capsys.readouterr().err


def test_copy_refuses_what_it_cannot_copy(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    missing = f"sqlite:///{tmp_path / 'nope.db'}"
    assert main(["db", "copy", "--from", missing]) == 1
    assert "no SQLite database file" in capsys.readouterr().err
    assert not (tmp_path / "nope.db").exists()  # and none was created by looking

    assert main(["db", "copy", "--from", db_url, "--to", db_url]) == 1
    err = capsys.readouterr().err
    assert "same database" in err or "must be a sqlite" in err

    stale = tmp_path / "stale.db"
    upgrade(f"sqlite:///{stale}", "0001")
    assert main(["db", "copy", "--from", f"sqlite:///{stale}", "--to", db_url]) == 1
    assert "muster db upgrade" in capsys.readouterr().err
