"""An un-migrated database: every process refuses it at start with one line naming the fix, and
`/healthz` says 503 while the schema is behind. After `muster db upgrade` they all start.

The processes are real (`python -m bot.cli ...`) against a scratch PostgreSQL database of their
own on the server the suite uses (TEST_DATABASE_URL, or 127.0.0.1:5432); outside CI an unreachable
server skips these tests with the reason. "Behind" is computed from the migrations (the revision
before head), so the tests hold as revisions are added.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from bot.bootstrap import bootstrap
from bot.web import create_app
from storage.db import make_engine
from storage.migrate import head_revision, previous_revision, upgrade
from tests.conftest import IN_CI, ON_POSTGRES, TEST_DATABASE_URL, _Postgres, make_settings
from tests.e2e.test_processes import MUSTER, _env, _free_port, _wait_for_health, _wait_for_line

SERVER = (
    TEST_DATABASE_URL if ON_POSTGRES else "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture
def empty_pg() -> Iterator[str]:
    """A new, empty PostgreSQL database (no schema at all), dropped afterwards."""
    pg = _Postgres(SERVER)
    try:
        pg.create(migrate=False)
    except Exception as exc:
        reason = f"PostgreSQL at {pg.admin_url.host}:{pg.admin_url.port} unreachable: {exc}"
        if IN_CI:
            pytest.fail(f"{reason} (CI must not skip PostgreSQL tests)", pytrace=False)
        pytest.skip(reason.splitlines()[0])
    yield pg.url
    pg.drop()


def _refused(command: list[str], db_url: str, tmp_path: Path) -> str:
    """Run a process that must refuse to start; its one line on standard error."""
    done = subprocess.run(
        [*MUSTER, *command],
        env=_env(tmp_path, DATABASE_URL=db_url),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def _stamp(db_url: str, revision: str) -> None:
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    finally:
        engine.dispose()


@pytest.mark.parametrize("command", [["serve"], ["serve", "--web-only"], ["worker"], ["clock"]])
def test_every_process_refuses_an_empty_database_with_one_line(
    empty_pg: str, tmp_path: Path, command: list[str]
) -> None:
    line = _refused([*command, "--port", str(_free_port())] if command[0] == "serve" else command,
                    empty_pg, tmp_path)  # fmt: skip
    assert "no schema" in line and "revision none" in line
    assert f"needs {head_revision()}" in line and line.endswith("run muster db upgrade")


def test_a_database_one_revision_behind_is_refused_and_named(empty_pg: str, tmp_path: Path):
    behind = previous_revision()
    upgrade(empty_pg, behind)
    line = _refused(["worker"], empty_pg, tmp_path)
    if behind == "base":  # (a chain of one migration: behind is an empty database)
        assert "no schema" in line
    else:
        assert f"database is at revision {behind}, this Muster needs {head_revision()}" in line
    assert line.endswith("run muster db upgrade")


def test_a_database_a_newer_muster_migrated_is_refused(empty_pg: str, tmp_path: Path) -> None:
    upgrade(empty_pg)
    _stamp(empty_pg, "9999_from_a_newer_muster")
    line = _refused(["clock"], empty_pg, tmp_path)
    assert "9999_from_a_newer_muster" in line and "newer than this Muster" in line


def test_an_empty_sqlite_file_is_refused_by_the_worker(tmp_path: Path) -> None:
    """Only the embedded `muster serve` migrates SQLite; a worker does not guess."""
    line = _refused(["worker"], f"sqlite:///{tmp_path / 'empty.db'}", tmp_path)
    assert "no schema" in line and "run muster db upgrade" in line


def test_healthz_is_503_while_the_schema_is_behind_and_200_at_head(empty_pg: str) -> None:
    expected = head_revision()
    container = bootstrap(make_settings(empty_pg))
    client = TestClient(create_app(container))
    try:
        empty = client.get("/healthz")
        assert empty.status_code == 503
        assert empty.json()["schema"] == {"state": "empty", "current": None, "expected": expected}

        behind = previous_revision()
        upgrade(empty_pg, behind)
        response = client.get("/healthz")
        assert response.status_code == 503
        current = None if behind == "base" else behind
        assert response.json()["schema"]["current"] == current
        assert response.json()["status"] == "unavailable" and response.json()["database"] == "ok"

        upgrade(empty_pg)
        ok = client.get("/healthz")
        assert ok.status_code == 200
        assert ok.json() == {
            "status": "ok",
            "database": "ok",
            "schema": {"state": "ok", "current": expected, "expected": expected},
        }
    finally:
        container.close()


def test_after_db_upgrade_serve_worker_and_clock_all_start(empty_pg: str, tmp_path: Path):
    env = _env(tmp_path, DATABASE_URL=empty_pg)
    done = subprocess.run([*MUSTER, "db", "upgrade"], env=env, cwd=tmp_path, timeout=120,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    port = _free_port()
    procs = {
        name: subprocess.Popen(
            [*MUSTER, *args],
            env=env,
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        for name, args in {
            "serve": ["serve", "--web-only", "--port", str(port)],
            "worker": ["worker"],
            "clock": ["clock"],
        }.items()
    }
    try:
        health = _wait_for_health(f"http://127.0.0.1:{port}/healthz", procs["serve"], 60)
        assert health.status_code == 200 and health.json()["schema"]["state"] == "ok"
        _wait_for_line(procs["worker"], "started", deadline=60)
        _wait_for_line(procs["clock"], "started", deadline=60)
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        assert {name: proc.wait(timeout=30) for name, proc in procs.items()} == {
            "serve": 0,
            "worker": 0,
            "clock": 0,
        }
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
