"""The logs of Muster's main flows hold no full phone number, no secret, no volunteer's words.

The flows run through the real routes with real signatures and the real logging pipeline
(`configure_logging`, JSON lines at INFO, and Muster's own loggers at DEBUG too; and the whole
process at LOG_LEVEL=DEBUG, in both log formats); then every captured line is scanned.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import sys
from collections.abc import Iterator

import phonenumbers
import pytest
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from bot.bootstrap import bootstrap
from bot.cli import main as muster
from bot.logs import configure_logging
from bot.parts import SlackPostRender
from bot.web import create_app
from tests.builders import random_phone
from tests.conftest import make_settings

AUTH_TOKEN = "twilio-auth-token-0123456789abcdef"
METRICS_TOKEN = "metrics-token-fedcba9876543210"
SIGNING_SECRET = "slack-signing-secret-00112233445566"
BOT_TOKEN = "xoxb-1111111111-2222222222-abcdefghijklmnopqrstuvwx"
PRIVATE_WORDS = "I live at 42 Zanzibar Ochre Lane"


@pytest.fixture
def log_lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """The real logging pipeline, writing JSON lines into a buffer instead of standard error."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging("INFO", json_lines=True)
    ours = logging.getLogger("bot")  # Muster's own lines at every level (a routine text is DEBUG)
    saved_ours = ours.level
    ours.setLevel(logging.DEBUG)
    yield stream
    ours.setLevel(saved_ours)
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


@pytest.fixture
def settings_values(db_url: str) -> dict[str, str]:
    return {
        "database_url": db_url,
        "twilio_account_sid": "AC" + "f" * 32,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_from_number": "+16175550100",
        "twilio_api_url": "http://127.0.0.1:9",  # never reached in these flows
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": "http://127.0.0.1:9/api/",
        "metrics_token": METRICS_TOKEN,
    }


def _text(client: TestClient, phone: str, body: str, n: int) -> tuple[int, str]:
    url = "https://muster.example.org/twilio/sms"
    params = {
        "MessageSid": f"SM{n:032d}",
        "From": phone,
        "To": "+16175550100",
        "Body": body,
        "AccountSid": "AC" + "f" * 32,
    }
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
    response = client.post("/twilio/sms", data=params, headers={"X-Twilio-Signature": signature})
    return response.status_code, signature


def test_main_flows_log_no_phone_secret_or_message_body(
    log_lines: io.StringIO,
    settings_values: dict[str, str],
    clock,
    engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make_settings(settings_values.pop("database_url"), **settings_values)
    client = TestClient(create_app(bootstrap(settings, clock=clock, engine=engine)))
    phones = [random_phone() for _ in range(3)]
    signatures = []

    # A volunteer signs up by text, answers the questions, writes something personal, asks for
    # help and shifts, then opts out; a second one texts a bad signature.
    n = 0
    for phone in phones[:2]:
        for body in ["JOIN", "Maria", "02124", "canvass", PRIVATE_WORDS, "HELP", "SHIFTS", "STOP"]:
            n += 1
            status, signature = _text(client, phone, body, n)
            assert status == 200
            signatures.append(signature)
    refused = client.post(
        "/twilio/sms",
        data={"From": phones[2], "Body": PRIVATE_WORDS},
        headers={"X-Twilio-Signature": "forged"},
    )
    assert refused.status_code == 403

    # An operator scrapes the metrics (and someone tries a wrong token), and erases a volunteer.
    assert (
        client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).status_code
        == 200
    )
    assert client.get("/metrics", headers={"Authorization": "Bearer guess"}).status_code == 401
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    assert muster(["forget", phones[0]]) == 0

    # Even a careless log call is scrubbed on its way out.
    logging.getLogger("muster.careless").error(
        "sending to %s with token %s / %s", phones[1], AUTH_TOKEN, BOT_TOKEN
    )

    lines = [json.loads(line) for line in log_lines.getvalue().splitlines() if line.strip()]
    assert len(lines) >= 5, "the flows should have logged something"
    inbound = {  # the level of each inbound text's line: consent changes at INFO, the rest DEBUG
        line["msg"].rsplit(": ", 1)[-1]: line["level"]
        for line in lines
        if line["msg"].startswith("inbound sms from")
    }
    assert inbound["opt_out"] == "INFO" and inbound["shifts"] == inbound["help"] == "DEBUG"
    text = "\n".join(json.dumps(line) for line in lines)
    for phone in phones:
        national = phone[2:]
        assert phone not in text and national not in text, f"full number {phone[-4:]} logged"
    assert not [m.raw_string for m in phonenumbers.PhoneNumberMatcher(text, "US")]
    for secret in (AUTH_TOKEN, METRICS_TOKEN, SIGNING_SECRET, BOT_TOKEN, "guess", *signatures):
        assert secret not in text, f"secret {secret[:6]}... logged"
    info = "\n".join(line["msg"] for line in lines if line["level"] in {"INFO", "DEBUG"})
    assert PRIVATE_WORDS not in info and not re.search(r"Zanzibar", info)


def test_slack_flows_log_no_phone_secret_or_message_body(
    log_lines: io.StringIO, db_url: str, engine, clock
) -> None:
    """Organizers look volunteers up by number and name, read a roster, export, answer a
    volunteer from the inbox thread, and the poster posts a volunteer's text to the inbox."""
    from slack_sdk import WebClient
    from sqlalchemy.orm import Session

    from handlers.ports import SystemClock
    from scheduler.slack_poster import SlackPoster
    from tests.adapters.slack_harness import INBOX, STRANGER, slack_harness
    from tests.builders import make_shift, make_volunteer
    from tests.conftest import T0

    phones = [random_phone() for _ in range(3)]
    with Session(bind=engine) as session:
        make_volunteer(session, phone=phones[0], first_name="Maria", inbox_thread_ts="1.2")
        make_volunteer(session, phone=phones[1], first_name="Sam")
        shift = make_shift(session, starts_at=T0.replace(year=T0.year + 1))
        session.commit()
        shift_id = shift.id
    twilio = {
        "twilio_account_sid": "AC" + "f" * 32,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_from_number": "+16175550100",
        "twilio_api_url": "http://127.0.0.1:9",
    }
    with slack_harness(db_url, engine, clock, slack_bot_token=BOT_TOKEN, **twilio) as slack:
        client = slack.client
        for text in (
            f"find {phones[0]}",
            f"find {phones[1][2:]}",
            "find Maria",
            f"roster {shift_id}",
            "export volunteers",
            "shift add tomorrow",  # malformed: the usage line
        ):
            slack.ask(text)
        slack.command(f"find {phones[2]}", user=STRANGER)  # refused, and the attempt logged
        slack.event(
            {
                "type": "message",
                "channel": INBOX,
                "user": "U0ORGANIZER",
                "text": f"Call me at {phones[2]}, {PRIVATE_WORDS}",
                "ts": "1763300001.000200",
                "thread_ts": "1.2",
                "channel_type": "channel",
            }
        )
        status, _ = _text(client, phones[0], PRIVATE_WORDS, 1)
        assert status == 200
        container = slack.container
        poster = SlackPoster(
            client=WebClient(token=BOT_TOKEN, base_url=container.settings.slack_api_url),
            uow=container.uow(),
            read_uow=container.read_uow(),
            clock=SystemClock(),  # (posts are due by the wall clock)
            org=container.org,
            render=SlackPostRender(),
            inbox_channel=INBOX,
        )
        poster.post_due()
        posted = slack.slack.wait_for("chat.postMessage")
        assert any(PRIVATE_WORDS in str(c.params.get("text")) for c in posted)  # it did post

    lines = [json.loads(line) for line in log_lines.getvalue().splitlines() if line.strip()]
    assert len(lines) >= 5, "the flows should have logged something"
    text = "\n".join(json.dumps(line) for line in lines)
    for phone in phones:
        assert phone not in text and phone[2:] not in text, f"full number {phone[-4:]} logged"
    assert not [m.raw_string for m in phonenumbers.PhoneNumberMatcher(text, "US")]
    for secret in (AUTH_TOKEN, BOT_TOKEN, "8f742231b10e8888abcd99yyyzzz85a5"):
        assert secret not in text, f"secret {secret[:6]}... logged"
    info = "\n".join(line["msg"] for line in lines if line["level"] in {"INFO", "DEBUG"})
    assert "Zanzibar" not in info


BROADCAST_BODY = "Hearing Tuesday at 10, bring the Quetzalcoatl banner. Reply YES"


@pytest.fixture
def debug_log(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[io.StringIO]:
    """LOG_LEVEL=DEBUG through the real pipeline, in the format the test asks for; the CLI
    commands the test runs configure logging from the same settings."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("LOG_FORMAT", request.param)
    configure_logging("DEBUG", log_format=request.param)
    yield stream
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    configure_logging("INFO", json_lines=True)  # (SQLAlchemy and the libraries back at rest)
    root.handlers[:] = saved_handlers


@pytest.mark.parametrize("debug_log", ["json", "text"], indirect=True)
def test_at_debug_a_text_a_broadcast_and_an_export_log_no_number_or_body(
    debug_log: io.StringIO, db_url: str, engine, clock, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A volunteer signs up and writes something personal; an organizer broadcasts from Slack and
    the sender delivers it through Twilio's API; the inbox poster posts the volunteer's words to
    Slack; an organizer exports the volunteers from Slack and an operator from the command line.
    At DEBUG, in either format: not one full number, not one message body, not one SQL
    parameter."""
    from slack_sdk import WebClient

    from handlers.ports import SystemClock
    from scheduler.slack_poster import SlackPoster
    from tests.adapters.slack_harness import INBOX, slack_harness
    from tests.fakes.twilio_api import FakeTwilio
    from tests.sending import RunningSender

    phones = [random_phone() for _ in range(2)]
    with FakeTwilio(auth_token=AUTH_TOKEN) as twilio:
        twilio_settings = {
            "twilio_account_sid": twilio.account_sid,
            "twilio_auth_token": AUTH_TOKEN,
            "twilio_from_number": "+16175550100",
            "twilio_api_url": twilio.url,
        }
        with slack_harness(
            db_url, engine, clock, slack_bot_token=BOT_TOKEN, **twilio_settings
        ) as slack:
            n = 0
            for phone in phones:
                for body in ["JOIN", "Maria", "02124", "canvass", PRIVATE_WORDS, "SHIFTS"]:
                    n += 1
                    assert _text(slack.client, phone, body, n)[0] == 200
            answer = slack.ask(f'broadcast to=all message="{BROADCAST_BODY}"')
            token = next(
                element["value"]
                for block in answer.json_param("blocks") or []
                for element in block.get("elements", [])
                if element.get("action_id") == "muster.broadcast.confirm"
            )
            slack.answer(slack.click("muster.broadcast.confirm", token))
            with RunningSender(slack.container, rate_mps=10_000.0, concurrency=2):
                sent = twilio.wait_for(len(phones))
            assert {m["Body"] for m in sent} == {BROADCAST_BODY}  # it did go out
            poster = SlackPoster(
                client=WebClient(token=BOT_TOKEN, base_url=slack.container.settings.slack_api_url),
                uow=slack.container.uow(),
                read_uow=slack.container.read_uow(),
                clock=SystemClock(),
                org=slack.container.org,
                render=SlackPostRender(),
                inbox_channel=INBOX,
            )
            poster.post_due()
            slack.ask("export volunteers")
    monkeypatch.setenv("DATABASE_URL", db_url)
    exported = tmp_path / "volunteers.csv"
    assert muster(["export", "volunteers", "--output", str(exported)]) == 0
    assert phones[0] in exported.read_text()  # the export itself has them: only the log must not

    text = debug_log.getvalue()
    lines = [line for line in text.splitlines() if line.strip()]
    assert any("DEBUG" in line and "inbound sms from" in line for line in lines), "DEBUG was on"
    if os.environ["LOG_FORMAT"] == "json":
        assert all(json.loads(line)["level"] for line in lines)  # every line one JSON object
    else:
        assert not any(line.startswith("{") for line in lines)  # a person's lines, not JSON
    for phone in phones:
        assert phone not in text and phone[2:] not in text, f"full number {phone[-4:]} logged"
    assert not [m.raw_string for m in phonenumbers.PhoneNumberMatcher(text, "US")]
    assert "Zanzibar" not in text and "Quetzalcoatl" not in text, "a message body was logged"
    assert "INSERT INTO" not in text and "SELECT " not in text, "SQL was logged"
    for secret in (AUTH_TOKEN, BOT_TOKEN):
        assert secret not in text
