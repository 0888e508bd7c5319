"""Alembic, driven from code: `muster db upgrade`, start-up of `serve` on SQLite, the schema check
every process makes at start and `/healthz` reports, and the tests."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import ResolutionError
from alembic.util import CommandError
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"

# Tables other libraries own (APScheduler's job store) are not Muster's migrations' business.
FOREIGN_TABLES = {"apscheduler_jobs"}


def include_object(obj, name, type_, reflected, compare_to):
    return not (type_ == "table" and name in FOREIGN_TABLES)


def render_item(type_, obj, autogen_context):
    """Render our UTCDateTime as the plain column type, so migrations never import the models."""
    if type_ == "type" and obj.__class__.__name__ == "UTCDateTime":
        return "sa.DateTime(timezone=True)"
    return False


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return _scripts().get_current_head()


@dataclass(frozen=True)
class SchemaState:
    """Where the database's schema is against this code's migrations.

    `state` is `ok` (at head), `empty` (no schema: never migrated), `behind` (an older revision:
    run `muster db upgrade`) or `ahead` (a revision this code does not know: a newer Muster
    migrated it)."""

    current: str | None
    expected: str | None
    state: str

    @property
    def ok(self) -> bool:
        return self.state == "ok"

    def problem(self) -> str:
        """One line naming the fix (empty when the schema is at head)."""
        if self.state == "empty":
            return (
                f"database has no schema (revision none), this Muster needs {self.expected}: "
                "run muster db upgrade"
            )
        if self.state == "behind":
            return (
                f"database is at revision {self.current}, this Muster needs {self.expected}: "
                "run muster db upgrade"
            )
        if self.state == "ahead":
            return (
                f"database is at revision {self.current}, newer than this Muster "
                f"({self.expected}): run the Muster that migrated it (or a newer one)"
            )
        return ""


@functools.cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS))


def schema_state(engine: Engine) -> SchemaState:
    """Read the database's revision (raises the driver's error when it cannot be reached)."""
    with engine.connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    expected = _scripts().get_current_head()
    if not heads:
        return SchemaState(None, expected, "empty")
    current = ",".join(heads)
    if heads == (expected,):
        return SchemaState(current, expected, "ok")
    behind = all(_known(head) for head in heads)
    return SchemaState(current, expected, "behind" if behind else "ahead")


def _known(revision: str) -> bool:
    try:
        return _scripts().get_revision(revision) is not None
    except (ResolutionError, CommandError):
        return False


def previous_revision(revision: str | None = None) -> str:
    """The revision just before `revision` (default: head), or `base`: for tests and tools that
    need a database one step behind."""
    script = _scripts().get_revision(revision or head_revision())
    down = script.down_revision if script is not None else None
    if isinstance(down, tuple | list):
        down = down[0]
    return down or "base"
