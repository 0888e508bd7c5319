"""The inbound spool: texts that arrive while the database is away are kept, then replayed."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from bot.spool_files import Spool, SpooledRequest
from storage.db import is_database_away, make_engine
from tests.builders import random_phone
from tests.conftest import ON_POSTGRES, T0

UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/none"


def _request(n: int, phone: str | None = None) -> SpooledRequest:
    return SpooledRequest(
        path="/twilio/sms",
        params={"MessageSid": f"SM{n:032d}", "From": phone or random_phone(), "Body": f"text {n}"},
        signature="sig",
        received_at=T0 + timedelta(seconds=n),
    )


def test_a_refused_connection_counts_as_the_database_being_away() -> None:
    engine = make_engine(UNREACHABLE)
    with pytest.raises(OperationalError) as caught, engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    engine.dispose()
    assert is_database_away(caught.value)
    assert not is_database_away(ValueError("a bug"))


def test_a_deadlock_is_not_the_database_being_away() -> None:
    """PostgreSQL ending one of two batches that locked the same shifts in opposite orders
    (SQLSTATE 40P01, raised as an OperationalError): the batch's texts are answered one at a
    time, not kept in the spool as if the database were gone."""

    class Deadlock(Exception):
        sqlstate = "40P01"

    class Refused(Exception):
        sqlstate = "08006"

    assert not is_database_away(OperationalError("UPDATE shifts ...", {}, Deadlock()))
    assert is_database_away(OperationalError("SELECT 1", {}, Refused()))


def test_spooled_requests_are_private_durable_files_replayed_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    assert spool.pending() == [] and spool.replay(lambda r: None) == 0
    phone = random_phone()
    for n in range(12):
        spool.put(_request(n, phone))
    files = spool.pending()
    assert len(files) == 12
    assert stat.S_IMODE((tmp_path / "spool").stat().st_mode) == 0o700
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    assert not list((tmp_path / "spool").glob(".*.tmp"))
    loaded = spool.load(files[0])
    assert loaded.params["From"] == phone and loaded.received_at == T0

    seen: list[str] = []

    def handle(request: SpooledRequest) -> None:
        if request.params["Body"] == "text 5" and "away" not in seen:
            seen.append("away")
            raise OperationalError("SELECT 1", {}, Exception("connection refused"))
        if request.params["Body"] == "text 8":
            raise ValueError("a bug in the handler")
        seen.append(request.params["Body"])

    # The database goes away at the sixth: it stays first in line, nothing after it overtakes.
    assert spool.replay(handle) == 5
    assert len(spool.pending()) == 7
    # Back: the rest in order; the one the handler refused is set aside, not retried forever.
    assert spool.replay(handle) == 6
    assert seen == [f"text {n}" for n in range(5)] + ["away"] + [
        f"text {n}" for n in (5, 6, 7, 9, 10, 11)
    ]
    assert spool.pending() == []
    assert [p.name for p in (tmp_path / "spool" / "failed").iterdir()] == [files[8].name]


# --- through the real webhook -----------------------------------------------------------------

AUTH_TOKEN = "spool-test-auth-token-0123456789"


def _settings(db_url: str, spool: Path, **extra: str):
    from tests.conftest import make_settings

    values = {
        "twilio_account_sid": "AC" + "f" * 32,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_from_number": "+16175550100",
        "spool_dir": str(spool),
    }
    return make_settings(db_url, **{**values, **extra})


def _post(client, phone: str, body: str, sid: str):
    from twilio.request_validator import RequestValidator

    params = {"MessageSid": sid, "From": phone, "To": "+16175550100", "Body": body}
    url = "https://muster.example.org/twilio/sms"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
    return client.post("/twilio/sms", data=params, headers={"X-Twilio-Signature": signature})


def _replayer(container):
    from bot.spool import replay_through
    from bot.twilio_inbound import inbound_text

    return lambda request: replay_through(container, request, to_message=inbound_text)


def test_texts_kept_while_the_database_is_away_are_replayed_in_order(
    tmp_path: Path, db_url: str, engine, clock
) -> None:
    from sqlalchemy import select
    from starlette.testclient import TestClient

    from bot.bootstrap import bootstrap
    from bot.spool import spool_for
    from bot.web import create_app
    from storage.db import make_session_factory
    from storage.models import Delivery, InboundMessage, Volunteer, VolunteerStatus

    spool_dir = tmp_path / "spool"
    away = bootstrap(_settings(UNREACHABLE, spool_dir), clock=clock)
    client = TestClient(create_app(away))
    maria, sam = random_phone(), random_phone()
    texts = [
        (maria, "JOIN", "SMa1"),
        (maria, "Maria", "SMa2"),
        (sam, "JOIN", "SMb1"),
        (sam, "STOP", "SMb2"),
    ]
    answers = []
    for phone, body, sid in texts:
        clock.advance(1)
        response = _post(client, phone, body, sid)
        assert response.status_code == 200
        answers.append(response.text)
    # New numbers: the spool cannot tell they are subscribed, so no acknowledgement now; their
    # real answers are texted on replay.
    assert all("<Message>" not in answer for answer in answers)
    assert "<Message>" not in answers[3]  # nothing but the one confirmation may follow a STOP
    assert len(spool_for(away).pending()) == 4

    # The database is back (here: a container on the real one, sharing the spool directory).
    back = bootstrap(_settings(db_url, spool_dir), clock=clock, engine=engine)
    spool = spool_for(back)
    # A text arriving now waits behind the four, instead of overtaking them.
    late = _post(TestClient(create_app(back)), maria, "02124", "SMa3")
    assert "<Message>" not in late.text and len(spool.pending()) == 5

    assert spool.replay(_replayer(back)) == 5 and spool.pending() == []
    with make_session_factory(engine)() as s:
        rows = s.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
        assert [r.message_sid for r in rows] == ["SMa1", "SMa2", "SMb1", "SMb2", "SMa3"]
        assert rows[0].received_at < rows[1].received_at  # the time they arrived, kept
        v = s.scalar(select(Volunteer).where(Volunteer.phone == maria))
        assert v.first_name == "Maria" and v.zip == "02124"
        assert s.scalar(select(Volunteer.status).where(Volunteer.phone == sam)) == (
            VolunteerStatus.OPTED_OUT
        )
        replies = s.scalars(select(Delivery).where(Delivery.kind == "reply")).all()
        assert {d.idempotency_key for d in replies} >= {"spooled-reply:SMa1", "spooled-reply:SMa2"}
        assert all(d.to_phone in (maria, sam) for d in replies)

    # Replayed twice (a crash between the replay and the file's removal): nothing doubles.
    # And a spool file whose signature does not match (tampered with) is set aside, never run.
    before = _count_rows(engine)
    params = {"MessageSid": "SMa1", "From": maria, "To": "+16175550100", "Body": "JOIN"}
    spool.put(
        SpooledRequest(
            path="/twilio/sms", params=params, signature=_signature(params), received_at=T0
        )
    )
    forged = {**params, "MessageSid": "SMforged", "Body": "STOP"}
    spool.put(
        SpooledRequest(
            path="/twilio/sms", params=forged, signature=_signature(params), received_at=T0
        )
    )
    assert spool.replay(_replayer(back)) == 1
    assert _count_rows(engine) == before
    assert len(list((spool_dir / "failed").iterdir())) == 1


def _signature(params: dict[str, str]) -> str:
    from twilio.request_validator import RequestValidator

    url = "https://muster.example.org/twilio/sms"
    return RequestValidator(AUTH_TOKEN).compute_signature(url, params)


def _count_rows(engine) -> tuple[int, int]:
    from sqlalchemy import func, select

    from storage.db import make_session_factory
    from storage.models import Delivery, InboundMessage

    with make_session_factory(engine)() as s:
        return (
            s.scalar(select(func.count()).select_from(InboundMessage)),
            s.scalar(select(func.count()).select_from(Delivery)),
        )


@pytest.mark.skipif(
    not ON_POSTGRES, reason="stops and restarts a private PostgreSQL server: PostgreSQL pass only"
)
def test_a_postgresql_restart_loses_no_text(tmp_path: Path, clock) -> None:
    """The real thing: the server stops, texts arrive, it starts again; the background replayer
    catches up by itself and the web app's pool reconnects without help."""
    import threading
    import time

    from sqlalchemy import select
    from starlette.testclient import TestClient

    from bot.bootstrap import bootstrap
    from bot.spool import run_spool_replayer, spool_for
    from bot.web import create_app
    from storage.db import make_session_factory
    from storage.migrate import upgrade
    from storage.models import InboundMessage
    from tests.soak.private_postgres import PrivatePostgres

    pg = PrivatePostgres()
    pg.start_fresh()
    stop = threading.Event()
    try:
        upgrade(pg.url)
        container = bootstrap(_settings(pg.url, tmp_path / "spool"), clock=clock)
        client = TestClient(create_app(container))
        phone = random_phone()
        assert "<Message>" in _post(client, phone, "JOIN", "SMr0").text  # pool warm
        replayer = threading.Thread(
            target=run_spool_replayer, args=(container, stop), kwargs={"interval": 0.1}
        )
        replayer.start()

        pg.stop()
        for n, body in enumerate(["Maria", "02124", "canvass"], start=1):
            assert "will answer it shortly" in _post(client, phone, body, f"SMr{n}").text
        assert len(spool_for(container).pending()) == 3
        pg.start()

        deadline = time.monotonic() + 60
        while spool_for(container).pending() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert spool_for(container).pending() == []
        after = _post(client, phone, "SHIFTS", "SMr4")  # straight through again
        assert after.status_code == 200 and "will answer it shortly" not in after.text

        with make_session_factory(container.engine)() as s:
            sids = s.scalars(select(InboundMessage.message_sid).order_by(InboundMessage.id))
            assert list(sids) == ["SMr0", "SMr1", "SMr2", "SMr3", "SMr4"]
    finally:
        stop.set()
        pg.destroy()


def test_without_a_spool_the_webhook_asks_twilio_to_retry(tmp_path: Path, clock) -> None:
    from starlette.testclient import TestClient

    from bot.bootstrap import bootstrap
    from bot.web import create_app

    away = bootstrap(_settings(UNREACHABLE, tmp_path / "unused", spool_dir="off"), clock=clock)
    response = _post(TestClient(create_app(away)), random_phone(), "JOIN", "SMoff")
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert not (tmp_path / "unused").exists()


def test_help_is_answered_while_the_database_is_away_and_a_kept_stop_is_confirmed_on_replay(
    tmp_path: Path, db_url: str, engine, clock
) -> None:
    from sqlalchemy import select
    from starlette.testclient import TestClient

    from bot.bootstrap import bootstrap
    from bot.spool import spool_for
    from bot.web import create_app
    from handlers.sending import COMPLIANCE
    from storage.db import make_session_factory
    from storage.models import Delivery, Volunteer, VolunteerStatus
    from tests.adapters.sms_phone import twiml_messages
    from tests.builders import make_volunteer

    spool_dir = tmp_path / "spool"
    sam = random_phone()
    with make_session_factory(engine)() as s:
        make_volunteer(s, phone=sam)
        s.commit()
    away = bootstrap(_settings(UNREACHABLE, spool_dir), clock=clock)
    client = TestClient(create_app(away))
    (help_answer,) = twiml_messages(_post(client, sam, "HELP", "SMh1").text)
    assert "Mass Forward" in help_answer and "STOP" in help_answer and "help@" in help_answer
    assert twiml_messages(_post(client, sam, "STOP", "SMs1").text) == []

    back = bootstrap(_settings(db_url, spool_dir), clock=clock, engine=engine)
    assert spool_for(back).replay(_replayer(back)) == 2
    with make_session_factory(engine)() as s:
        v = s.scalar(select(Volunteer).where(Volunteer.phone == sam))
        assert v.status == VolunteerStatus.OPTED_OUT
        stop = s.scalar(select(Delivery).where(Delivery.idempotency_key == "spooled-reply:SMs1"))
        assert stop.kind == COMPLIANCE and "unsubscribed" in stop.body
