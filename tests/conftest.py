"""Shared fixtures: a migrated database per test (SQLite file or PostgreSQL), a fixed clock,
a wired container.

Which database: `TEST_DATABASE_URL` unset runs on SQLite files; set to a PostgreSQL URL (any
existing database on the server, e.g. .../test) runs every database test on PostgreSQL, in a fresh
database this session creates and drops. `.ci/run` runs the suite once each way.
Outside CI an unreachable server skips the database tests with a one-line reason; in CI it fails.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from bot.bootstrap import Container, bootstrap
from bot.settings import Settings
from handlers.ports import FixedClock
from storage.db import make_engine
from storage.migrate import upgrade
from storage.schema import metadata
from storage.uow import SqlAlchemyUnitOfWork

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
ON_POSTGRES = TEST_DATABASE_URL.startswith("postgresql")
# A Monday, mid-morning in Boston: outside quiet hours, the week's shifts ahead.
T0 = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)


def pytest_configure(config: pytest.Config) -> None:
    # twilio 9.13's AsyncTwilioHttpClient still passes aiohttp's deprecated BasicAuth/auth=.
    for message in ("BasicAuth is deprecated", "The 'auth' parameter is deprecated"):
        config.addinivalue_line("filterwarnings", f"ignore:{message}:DeprecationWarning")


def pytest_report_header(config: pytest.Config) -> str:
    where = make_url(TEST_DATABASE_URL).render_as_string() if ON_POSTGRES else "SQLite files"
    return f"muster test database: {where}"


class _Postgres:
    """One scratch database on the server for this pytest session."""

    def __init__(self, admin_url: str):
        self.admin_url = make_url(admin_url)
        self.name = f"muster_t_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.url = self.admin_url.set(database=self.name).render_as_string(hide_password=False)

    def _admin(self) -> Engine:
        return make_engine(self.admin_url.render_as_string(hide_password=False))

    def create(self, *, migrate: bool = True) -> None:
        engine = self._admin()
        try:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        finally:
            engine.dispose()
        if migrate:
            upgrade(self.url)

    def drop(self) -> None:
        engine = self._admin()
        try:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        finally:
            engine.dispose()


@pytest.fixture(scope="session")
def _database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SQLite: the path of a migrated template file. PostgreSQL: the URL of the session's DB."""
    if ON_POSTGRES:
        pg = _Postgres(TEST_DATABASE_URL)
        try:
            pg.create()
        except Exception as exc:
            reason = f"PostgreSQL at {pg.admin_url.host}:{pg.admin_url.port} unreachable: {exc}"
            if IN_CI:
                pytest.fail(f"{reason} (CI must not skip PostgreSQL tests)", pytrace=False)
            pytest.skip(reason.splitlines()[0])
        yield pg.url
        pg.drop()
        return
    template = tmp_path_factory.mktemp("db") / "template.db"
    upgrade(f"sqlite:///{template}")
    yield str(template)


def _truncate_all(url: str) -> None:
    engine = make_engine(url)
    try:
        tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture
def db_url(_database_template: str, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database for this test alone."""
    if ON_POSTGRES:
        yield _database_template
        _truncate_all(_database_template)
        return
    path = tmp_path / "muster.db"
    shutil.copyfile(_database_template, path)
    yield f"sqlite:///{path}"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


def make_settings(db_url: str, **overrides: object) -> Settings:
    """Settings for tests: nothing from the developer's environment or .env leaks in."""
    values: dict[str, object] = {
        "database_url": db_url,
        "public_url": "https://muster.example.org",
        "org_name": "Mass Forward",
        "org_contact": "help@massforward.org",
        "default_timezone": "America/New_York",
        "quiet_hours": "21:00-09:00",
        "organizer_slack_ids": "U0ORGANIZER",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url)


@pytest.fixture
def container(settings: Settings, engine: Engine, clock: FixedClock) -> Iterator[Container]:
    c = bootstrap(settings, clock=clock, engine=engine)
    yield c


@pytest.fixture
def uow(engine: Engine) -> SqlAlchemyUnitOfWork:
    from storage.db import make_session_factory

    return SqlAlchemyUnitOfWork(make_session_factory(engine))


@pytest.fixture(autouse=True)
def _no_stray_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests build their own settings; a developer's TWILIO_*/SLACK_* must not reach them."""
    for name in list(os.environ):
        if name.startswith(("TWILIO_", "SLACK_")) or name in {"DATABASE_URL", "PUBLIC_URL"}:
            monkeypatch.delenv(name, raising=False)
