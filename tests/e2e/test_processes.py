"""The real `muster` processes: start, answer, stop cleanly on SIGTERM."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

MUSTER = [sys.executable, "-m", "bot.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "SLACK_"))}
    env.update({"DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}", "LOG_LEVEL": "INFO"})
    env.update(extra)
    return env


def _wait_for_health(url: str, proc: subprocess.Popen, deadline: float = 30) -> httpx.Response:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"process exited early: {proc.stderr.read()}")
        try:
            return httpx.get(url, timeout=1)
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("server did not start")


@pytest.mark.parametrize("args", [[], ["--web-only"]])
def test_serve_on_a_fresh_sqlite_file_then_sigterm(tmp_path: Path, args: list[str]) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [*MUSTER, "serve", "--port", str(port), *args],
        env=_env(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        response = _wait_for_health(f"http://127.0.0.1:{port}/healthz", proc)
        assert response.status_code == 200
        assert response.json()["database"] == "ok"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def _wait_for_line(proc: subprocess.Popen, needle: str, deadline: float) -> str:
    """Read the process's stderr until a line contains `needle` (it must still be running)."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in proc.stderr:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    end = time.monotonic() + deadline
    seen: list[str] = []
    while time.monotonic() < end:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        if line is None:
            raise AssertionError(f"process exited before saying {needle!r}: {''.join(seen)}")
        seen.append(line)
        if needle in line:
            return line
    raise AssertionError(f"no line with {needle!r} within {deadline} s: {''.join(seen)}")


@pytest.mark.parametrize("command", [["worker"], ["clock"]])
def test_worker_and_clock_stop_cleanly(tmp_path: Path, command: list[str]) -> None:
    subprocess.run([*MUSTER, "db", "upgrade"], env=_env(tmp_path), check=True, cwd=tmp_path)
    proc = subprocess.Popen(
        [*MUSTER, *command], env=_env(tmp_path), cwd=tmp_path, stderr=subprocess.PIPE, text=True
    )
    try:
        # SIGTERM once the part says it runs (a fixed sleep raced a slow start on a loaded machine).
        _wait_for_line(proc, "started", deadline=60)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_bad_setting_gives_one_clear_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [*MUSTER, "serve"],
        env=_env(tmp_path, QUIET_HOURS="late"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "QUIET_HOURS" in lines[0] and "Traceback" not in done.stderr


@pytest.mark.parametrize("command", ["serve", "worker", "clock"])
def test_an_in_memory_database_is_refused_with_one_clear_line(tmp_path: Path, command: str) -> None:
    done = subprocess.run(
        [*MUSTER, command],
        env=_env(tmp_path, DATABASE_URL="sqlite://"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "in-memory" in lines[0] and "sqlite:///muster.db" in lines[0]


def test_healthz_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from bot.bootstrap import bootstrap
    from bot.web import create_app
    from tests.conftest import make_settings

    settings = make_settings("postgresql+psycopg://nobody@127.0.0.1:1/none")
    client = TestClient(create_app(bootstrap(settings)))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


def test_serve_logs_the_console_address_it_listens_on(tmp_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [*MUSTER, "serve", "--web-only", "--port", str(port)],
        env=_env(tmp_path, LOG_FORMAT="text"),
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = _wait_for_line(proc, "local console is on", deadline=60)
        assert f"open http://127.0.0.1:{port}/console" in line, line
        assert _wait_for_health(f"http://127.0.0.1:{port}/healthz", proc).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8765/console"),
        ("0.0.0.0", "http://127.0.0.1:8765/console"),  # every interface, loopback among them
        ("::", "http://[::1]:8765/console"),
        ("localhost", "http://localhost:8765/console"),
        ("192.0.2.10", None),  # not loopback: the console would refuse this machine's own visits
    ],
)
def test_the_console_address_follows_the_host_and_port(host: str, url: str | None) -> None:
    from bot.console_web import console_url

    assert console_url(host, 8765) == url
