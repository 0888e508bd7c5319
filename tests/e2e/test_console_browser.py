"""The console in a real browser: headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright, which never downloads a browser of its own) against a real `muster serve` on a fresh
database (SQLite, or PostgreSQL on CI's second pass), prepared the way `make run` prepares it
(`db upgrade`, `seed --demo --if-empty`).

A newcomer texts JOIN from a new number, answers the name and ZIP questions, then, as the
organizer, runs `/muster broadcast to=all ...` and clicks Confirm; the broadcast arrives in the
volunteer's phone, delivered by the sender through the console transport.

Outside CI the test skips, with the reason, when Chromium or Playwright is missing
(`.ci/setup-browser` installs Chromium). In CI (CI=true) a missing browser fails the test.
Set CONSOLE_SCREENSHOT=path.png to keep a screenshot of the page at the end (docs/console.png).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.browser

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
MUSTER = [sys.executable, "-m", "bot.cli"]
# The flags a headless Chromium needs on a closed, root-run CI machine.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
WAIT_MS = 30_000


def _missing_browser() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (run .ci/setup-browser, or set CHROMIUM_PATH)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[str]:
    """`make run` on a free loopback port, on this run's fresh database (a SQLite file, or the
    PostgreSQL pass's scratch database); yields the base URL."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "SLACK_"))}
    env.update(
        {
            "DATABASE_URL": db_url,
            "ORG_NAME": "Mass Forward",
            "ORG_CONTACT": "help@massforward.org",
            "QUIET_HOURS": "off",  # the test runs at any hour; quiet hours are tested elsewhere
            "SEND_RATE_MPS": "50",
            "LOG_LEVEL": "WARNING",
        }
    )
    for step in (["db", "upgrade"], ["seed", "--demo", "--if-empty"]):
        subprocess.run([*MUSTER, *step], env=env, cwd=tmp_path, check=True, timeout=120)
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [*MUSTER, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "muster serve did not start"
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_join_answer_then_receive_an_organizers_broadcast(server: str) -> None:
    reason = _missing_browser()
    if reason:
        if IN_CI:
            pytest.fail(f"CI must run the browser test: {reason}", pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(f"{server}/console")
            thread = page.get_by_test_id("thread")
            bot_bubbles = thread.locator("li.bot")

            # A new volunteer's phone: a number of the 555-01XX block kept for fiction.
            page.get_by_test_id("phone-new").fill("(617) 555-0142")
            page.get_by_test_id("phone-new").press("Enter")
            expect(page.get_by_test_id("phone-title")).to_contain_text("555-0142")

            def text_bot(message: str) -> None:
                before = bot_bubbles.count()
                page.get_by_test_id("text").fill(message)
                page.get_by_test_id("send").click()
                expect(thread.locator("li.me").last).to_have_text(message)
                expect(bot_bubbles).not_to_have_count(before, timeout=WAIT_MS)

            text_bot("JOIN")
            expect(bot_bubbles.last).to_contain_text("Mass Forward")
            text_bot("Maria")
            text_bot("02124")
            expect(page.get_by_test_id("phone-title")).to_contain_text("Maria")

            # The organizer's pane: a broadcast, previewed, then confirmed.
            message = "Rally at City Hall on Saturday at 11. Reply YES if you can come!"
            page.get_by_test_id("command").fill(f'/muster broadcast to=all message="{message}"')
            page.get_by_test_id("run").click()
            transcript = page.get_by_test_id("transcript")
            expect(transcript.locator("li.answer").last).to_contain_text(message)
            transcript.get_by_role("button", name="Confirm").click()
            expect(transcript.locator("li.answer").last).not_to_contain_text("Preview")

            # The sender delivers it through the console transport: it shows up in her phone.
            expect(bot_bubbles.filter(has_text=message)).to_have_count(1, timeout=WAIT_MS)
            expect(bot_bubbles.filter(has_text=message).locator(".note")).to_have_count(0)

            screenshot = os.environ.get("CONSOLE_SCREENSHOT")
            if screenshot:
                page.screenshot(path=screenshot)
        finally:
            browser.close()
