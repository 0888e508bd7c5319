"""An erased number stays opted out (issue 13): after STOP and `muster forget`, the number's texts
get no answer but HELP's, until it opts in again with one confirmation; through the signed
Twilio webhook, on SQLite and PostgreSQL, with the database there and with it away (the spool)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from bot.bootstrap import Container, bootstrap
from bot.cli import main
from bot.spool import consent_view_for, replay_through, spool_for
from bot.twilio_form import inbound_text
from bot.web import create_app
from handlers.broadcasts import confirm_broadcast, create_draft
from storage.db import make_session_factory
from storage.models import ConsentAction, ConsentEvent, Delivery, Volunteer
from tests.adapters.sms_phone import ACCOUNT_SID, AUTH_TOKEN, Phone
from tests.builders import make_shift, make_volunteer, random_phone
from tests.conftest import T0, make_settings

UNREACHABLE = "postgresql+psycopg://muster@127.0.0.1:1/nowhere?connect_timeout=1"
SILENCED = ["SHIFTS", "hi, is this still going?", "YES 1", "MY", "STOP", "Maria", "02124"]


def _settings(db_url: str, **extra: object):
    return make_settings(
        db_url,
        twilio_auth_token=AUTH_TOKEN,
        twilio_account_sid=ACCOUNT_SID,
        twilio_from_number="+16175550100",
        **extra,
    )


@pytest.fixture
def app(db_url: str, engine, clock, tmp_path: Path) -> Iterator[Container]:
    yield bootstrap(
        _settings(db_url, spool_dir=str(tmp_path / "spool")), clock=clock, engine=engine
    )


def _phone(container: Container, number: str) -> Phone:
    client = TestClient(create_app(container))
    return Phone(client, number, public_url=container.settings.public_url)


def _ledger(engine, phone: str) -> list[tuple[ConsentAction, str | None]]:
    with make_session_factory(engine)() as s:
        rows = s.scalars(
            select(ConsentEvent).where(ConsentEvent.phone == phone).order_by(ConsentEvent.id)
        )
        return [(e.action, e.channel) for e in rows]


def _joined_stopped_forgotten(app: Container, engine, db_url, monkeypatch, clock) -> Phone:
    """A volunteer who joined, was signed up for a shift, texted STOP, then was forgotten."""
    with make_session_factory(engine)() as s:
        make_shift(s, starts_at=T0 + timedelta(days=2), title="Canvass Dorchester")
        s.commit()
    phone = _phone(app, random_phone())
    assert "Mass Forward" in (phone.post(phone.params("JOIN")).reply or "")
    for body in ("Maria", "02124", "canvass"):
        clock.advance(1)
        phone.post(phone.params(body))
    clock.advance(1)
    assert "unsubscribed" in (phone.post(phone.params("STOP")).reply or "")
    monkeypatch.setenv("DATABASE_URL", db_url)
    assert main(["forget", phone.number]) == 0
    with make_session_factory(engine)() as s:
        assert s.scalar(select(Volunteer).where(Volunteer.phone == phone.number)) is None
    return phone


def test_an_erased_number_gets_nothing_but_help_until_it_joins_again(
    app: Container, engine, db_url: str, monkeypatch: pytest.MonkeyPatch, clock
) -> None:
    phone = _joined_stopped_forgotten(app, engine, db_url, monkeypatch, clock)
    for body in SILENCED:
        clock.advance(1)
        answer = phone.post(phone.params(body))
        assert answer.status == 200 and answer.reply is None, (body, answer.reply)
    with make_session_factory(engine)() as s:
        # Texting did not put the number back in a volunteer row (it was erased).
        assert s.scalar(select(Volunteer).where(Volunteer.phone == phone.number)) is None
        # A broadcast to everyone does not reach it.
        make_volunteer(s, first_name="Sam")
        draft = create_draft(
            s, body="Rally Saturday", audience="all", created_by="U0LEAD", now=clock.now()
        )
        assert confirm_broadcast(s, broadcast_id=draft.id, user_id="U0LEAD", now=clock.now()) == 1
        s.commit()
        assert s.scalars(select(Delivery.to_phone).where(Delivery.kind == "broadcast")).all() != [
            phone.number
        ]
        assert not s.scalars(
            select(Delivery).where(Delivery.to_phone == phone.number, Delivery.kind != "reply")
        ).all()

    clock.advance(1)
    help_answer = phone.post(phone.params("HELP")).reply
    assert help_answer and "Mass Forward" in help_answer and "help@massforward.org" in help_answer
    assert "reply START to get our texts again" in help_answer  # opted out on record: how back
    clock.advance(1)
    welcome = phone.post(phone.params("JOIN")).reply
    assert welcome and "Mass Forward" in welcome and "name" in welcome.lower()
    assert _ledger(engine, phone.number)[-3:] == [
        (ConsentAction.OPT_OUT, "sms"),  # the STOP
        (ConsentAction.OPT_OUT, "sms"),  # the STOP texted again after erasure, not answered
        (ConsentAction.OPT_IN, "sms"),  # JOIN again
    ]
    clock.advance(1)
    assert "Maria" in (phone.post(phone.params("Maria")).reply or "")  # a volunteer again


def test_forget_of_a_number_never_on_file_silences_it_too(
    app: Container, engine, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """`muster forget` of a number Muster holds nothing about records its opt-out: its texts
    get no "reply JOIN" invitation; START opts it in with one confirmation."""
    number = random_phone()
    monkeypatch.setenv("DATABASE_URL", db_url)
    assert main(["forget", number]) == 0
    assert "opt-out is recorded" in capsys.readouterr().out
    assert _ledger(engine, number) == [(ConsentAction.OPT_OUT, "cli")]
    phone = _phone(app, number)
    assert phone.post(phone.params("what is this")).reply is None
    assert phone.post(phone.params("SHIFTS")).reply is None
    welcome = phone.post(phone.params("START")).reply
    assert welcome and "Mass Forward" in welcome
    assert [a for a, _ in _ledger(engine, number)] == [ConsentAction.OPT_OUT, ConsentAction.OPT_IN]


def test_with_the_database_away_the_spool_answers_only_numbers_it_knows_are_subscribed(
    app: Container, engine, db_url: str, monkeypatch: pytest.MonkeyPatch, clock, tmp_path: Path
) -> None:
    """While the database is away, the spool's acknowledgement goes to a number its view of the
    ledger shows subscribed, never to an erased one (nor a new one), nor after a STOP it holds;
    HELP is answered to all. On replay, the same rules as ever: the erased number gets nothing,
    its JOIN one welcome."""
    erased = _joined_stopped_forgotten(app, engine, db_url, monkeypatch, clock)
    active = _phone(app, random_phone())
    assert active.post(active.params("JOIN")).reply
    stopping = _phone(app, random_phone())
    assert stopping.post(stopping.params("JOIN")).reply

    away = bootstrap(_settings(UNREACHABLE, spool_dir=str(tmp_path / "spool")), clock=clock)
    assert consent_view_for(away).refresh(engine) > 0  # what its replayer read before the outage
    url = away.settings.public_url
    client = TestClient(create_app(away))
    erased, active, stopping, stranger = (
        Phone(client, number, public_url=url)
        for number in (erased.number, active.number, stopping.number, random_phone())
    )

    def text(phone: Phone, body: str) -> str | None:
        clock.advance(1)
        answer = phone.post(phone.params(body))
        assert answer.status == 200
        return answer.reply

    for body in SILENCED:
        assert text(erased, body) is None, body
    assert "will answer it shortly" in (text(active, "SHIFTS") or "")
    assert text(stranger, "hello?") is None
    assert text(stopping, "STOP") is None
    assert text(stopping, "wait, sorry") is None  # its STOP waits in the spool: opted out
    assert "STOP" in (text(erased, "HELP") or "")
    assert text(erased, "JOIN") is None  # the welcome comes on replay

    back = bootstrap(
        _settings(db_url, spool_dir=str(tmp_path / "spool")), clock=clock, engine=engine
    )
    spool = spool_for(back)
    waiting = len(spool.pending())
    assert spool.replay(lambda r: replay_through(back, r, to_message=inbound_text)) == waiting
    with make_session_factory(engine)() as s:
        replies = {
            d.to_phone: d.body
            for d in s.scalars(select(Delivery).where(Delivery.idempotency_key.like("spooled-%")))
        }
        texted = s.scalars(
            select(Delivery.body).where(
                Delivery.to_phone == erased.number,
                Delivery.idempotency_key.like("spooled-%"),
            )
        ).all()
    # The erased number: HELP's answer again and JOIN's welcome, nothing for the rest.
    assert len(texted) == 2 and any("name" in body.lower() for body in texted)
    assert "unsubscribed" in replies[stopping.number]  # the STOP's one confirmation
    assert "JOIN" in replies[stranger.number]  # a new number: the real answer, on replay
    assert active.number in replies
