"""The SMS desk in a process of its own (bot/desk_process.py), as `muster serve` runs it: signed
texts into the real route, answered by a spawned child on the test's database; a child that
dies is replaced and its texts answered, none twice; the child stops with the app."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from bot.bootstrap import Container, bootstrap
from bot.desk_process import IN_A_PROCESS, SMS_DESK
from bot.web import create_app
from storage.models import InboundMessage, Volunteer
from tests.adapters.sms_phone import ACCOUNT_SID, AUTH_TOKEN, Phone
from tests.builders import random_phone
from tests.conftest import make_settings

pytestmark = pytest.mark.timeout(120)


def _container(db_url: str, engine, tmp_path: Path) -> Container:
    """What `muster serve` builds: the test's database, the desk in a process of its own."""
    s = make_settings(
        db_url,
        twilio_auth_token=AUTH_TOKEN,
        twilio_account_sid=ACCOUNT_SID,
        spool_dir=str(tmp_path / "spool"),
    )
    container = bootstrap(s, engine=engine)
    container.extras[SMS_DESK] = IN_A_PROCESS
    return container


@pytest.fixture
def served(db_url: str, engine, tmp_path: Path) -> Iterator[tuple[Container, TestClient]]:
    container = _container(db_url, engine, tmp_path)
    with TestClient(create_app(container)) as client:
        yield container, client


def _desk_children() -> list[multiprocessing.process.BaseProcess]:
    return [p for p in multiprocessing.active_children() if p.name == "sms"]


def _stored(engine, phone: str) -> tuple[int, list[str]]:
    with engine.connect() as conn:
        texts = conn.scalar(
            select(func.count())
            .select_from(InboundMessage)
            .where(InboundMessage.from_phone == phone)
        )
        names = conn.scalars(select(Volunteer.first_name).where(Volunteer.phone == phone)).all()
    return texts or 0, [n or "" for n in names]


def test_texts_are_answered_by_the_desk_process_and_a_dead_one_is_replaced(
    served: tuple[Container, TestClient], engine
) -> None:
    container, client = served
    phone = Phone(client, random_phone(), public_url=container.settings.public_url)

    welcome = phone.text("JOIN")
    assert welcome and "name" in welcome.lower()
    (child,) = _desk_children()
    assert child.pid != os.getpid() and child.is_alive()

    os.kill(child.pid, signal.SIGKILL)
    child.join(10)
    # The next text is answered by a new child, and the conversation goes on where it was.
    after = phone.text("Maria")
    assert after and "zip" in after.lower()
    (again,) = _desk_children()
    assert again.pid != child.pid

    assert _stored(engine, phone.number) == (2, ["Maria"])
    # A retry of a text already answered gets the same reply and changes nothing.
    answer = phone.post(phone.params("Maria", sid=_last_sid(engine, phone.number)))
    assert answer.reply == after
    assert _stored(engine, phone.number) == (2, ["Maria"])


def test_a_desk_process_stopped_by_its_own_sigterm_is_replaced_without_an_error(
    served: tuple[Container, TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    """A platform stops every process of the web's at once: the desk ends between batches, and
    the texts that still come while the web process drains are answered by another."""
    container, client = served
    phone = Phone(client, random_phone(), public_url=container.settings.public_url)
    first = phone.text("HELP")
    assert first and "STOP" in first
    (child,) = _desk_children()
    with caplog.at_level(logging.INFO, logger="bot.desk_process"):
        os.kill(child.pid, signal.SIGTERM)
        # (not joined here: the desk reaps its own child, and two waits on one pid race)
        reply = phone.text("HELP")  # answered by the child that replaced it
    assert reply == first
    (again,) = _desk_children()
    assert again.pid != child.pid
    assert child.exitcode == 0  # it stopped on its own, cleanly
    said = [r for r in caplog.records if r.name == "bot.desk_process" and "stopped" in r.message]
    assert said and all(r.levelno == logging.INFO for r in said)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_the_desk_process_stops_with_the_app(db_url: str, engine, tmp_path: Path) -> None:
    container = _container(db_url, engine, tmp_path)
    with TestClient(create_app(container)) as client:
        phone = Phone(client, random_phone(), public_url=container.settings.public_url)
        assert phone.text("HELP")
        (child,) = _desk_children()
    deadline = time.monotonic() + 10
    while child.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not child.is_alive()
    assert child.exitcode == 0


def _last_sid(engine, phone: str) -> str:
    with engine.connect() as conn:
        return conn.scalar(
            select(InboundMessage.message_sid)
            .where(InboundMessage.from_phone == phone)
            .order_by(InboundMessage.id.desc())
            .limit(1)
        )
