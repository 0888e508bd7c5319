"""`/muster` through the real `/slack/events` route, signed as Slack signs, answered through the
fake Slack Web API: help, the usage lines and the refusals of each command, find and stats, and the
route's own checks. The shift commands are in test_slack_shifts.py."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

from bot.bootstrap import bootstrap
from bot.web import create_app
from handlers.organizer.parsing import USAGE
from storage.models import Shift
from tests.adapters.slack_harness import (
    ORGANIZER,
    STRANGER,
    SlackHarness,
    audit_actions,
    blocks_text,
    count,
)
from tests.builders import make_volunteer
from tests.conftest import T0, make_settings


def test_help_lists_every_command(slack: SlackHarness):
    answer = slack.ask("help")
    text = blocks_text(answer)
    for usage in USAGE.values():
        assert usage.split("  ")[0] in text
    assert answer.params["response_type"] == "ephemeral"
    # a bare /muster is help too
    assert "shift add" in blocks_text(slack.ask(""))


def test_a_renamed_command_is_the_name_every_usage_line_and_alert_gives(
    db_url, engine, clock
) -> None:
    """SLACK_COMMAND=/rally (a second app in the workspace, say): organizers read /rally."""
    from slack_sdk import WebClient

    from bot.parts import SlackPostRender
    from handlers.ports import SystemClock
    from handlers.results import InboxPost
    from handlers.sending import enqueue_posts
    from scheduler.slack_poster import SlackPoster
    from tests.adapters.slack_harness import INBOX, slack_harness

    with slack_harness(db_url, engine, clock, slack_command="/rally") as rally:
        help_text = blocks_text(rally.ask("help"))
        assert "/rally broadcast to=AUDIENCE" in help_text and "/muster" not in help_text
        usage = blocks_text(rally.ask("roster twelve"))
        assert "Usage: /rally roster N" in usage and "/muster" not in usage

        container = rally.container
        with container.uow() as uow:
            alert = "Broadcast 3 was NOT sent. Send it again with /muster broadcast."
            enqueue_posts(uow.session, [InboxPost(kind="alert", text=alert)])
            uow.commit()
        SlackPoster(
            client=WebClient(token="xoxb-test", base_url=container.settings.slack_api_url),
            uow=container.uow(),
            read_uow=container.read_uow(),
            clock=SystemClock(),
            org=container.org,
            render=SlackPostRender(container.settings.slack_command),
            inbox_channel=INBOX,
        ).post_due()
        (posted,) = rally.slack.wait_for("chat.postMessage")
        assert "Send it again with /rally broadcast." in str(posted.params["text"])


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        ("roster", "roster"),
        ("roster twelve", "roster"),
        ("find", "find"),
        ("find (000) 000-0000", "find"),
        ("unschedule", "unschedule"),
        ("unschedule soon", "unschedule"),
        ("export", "export"),
        ("export everything", "export"),
        ("shifts please", "shifts"),
        ("stats now", "stats"),
        ("sync now", "sync"),
    ],
)
def test_malformed_commands_answer_the_exact_usage_line(
    slack: SlackHarness, engine, command, usage
):
    text = blocks_text(slack.ask(command))
    assert f"Usage: {USAGE[usage]}" in text
    assert audit_actions(engine) == []


def test_unknown_command_points_to_help_and_to_the_one_meant(slack: SlackHarness):
    dance = blocks_text(slack.ask("dance"))
    assert "/muster help" in dance and "Did you mean" not in dance
    assert "Did you mean `roster`?" in blocks_text(slack.ask("rostr 3"))


@pytest.mark.parametrize(
    "command",
    [
        "help",
        "",
        'shift add title="x" start="2026-11-21 10:00" end="2026-11-21 12:00" capacity=3',
        "shift add",
        "shifts",
        "roster 1",
        "signup 1 (617) 264-1234",
        "find Maria",
        "broadcast to=all message=hi",
        "broadcast",
        "scheduled",
        "unschedule 1",
        "stats",
        "export volunteers",
        "export roster 1",
        "sync",
    ],
)
def test_a_non_organizer_is_refused_every_command(slack: SlackHarness, engine, command):
    answer = slack.ask(command, user=STRANGER)
    assert "only organizers" in blocks_text(answer)
    assert answer.params["response_type"] == "ephemeral"
    assert count(engine, Shift) == 0
    assert audit_actions(engine) == [(STRANGER, "denied")]
    assert not slack.slack.calls_to("views.open")
    assert not slack.slack.calls_to("files.completeUploadExternal")


def test_find_by_phone_its_last_four_name_zip_prefix_and_tag(slack: SlackHarness, engine):
    from sqlalchemy.orm import Session

    with Session(bind=engine) as session:
        make_volunteer(session, first_name="Maria", phone="+16175550123", zip="02124")
        make_volunteer(
            session, first_name="Mariana", phone="+16175550456", zip="02130", tags=["canvass"]
        )
        make_volunteer(
            session, first_name="Dev", phone="+13125550789", zip="60601", tags=["phonebank"]
        )
        session.commit()
    assert "Maria" in blocks_text(slack.ask("find (617) 555-0123"))
    by_name = blocks_text(slack.ask("find mari"))
    assert "Maria" in by_name and "Mariana" in by_name and "Dev" not in by_name
    by_zip = blocks_text(slack.ask("find 021"))
    assert "ZIP prefix" in by_zip and "Dev" not in by_zip and "Mariana" in by_zip
    by_tag = blocks_text(slack.ask("find tag:phonebank"))
    assert "Dev" in by_tag and "Maria" not in by_tag
    assert "Dev" in blocks_text(slack.ask("find phonebank"))
    assert "No volunteer matches" in blocks_text(slack.ask("find Zed"))
    # a number as a roster shows it (masked to the last four), or those four digits alone
    masked = blocks_text(slack.ask("find ***-***-0123"))
    assert "Maria" in masked and "Mariana" not in masked and "last four digits" in masked
    four = blocks_text(slack.ask("find 0123"))
    assert "Maria" in four and "Mariana" not in four and "Dev" not in four
    assert "Dev" in blocks_text(slack.ask("find 6060"))  # still a ZIP prefix too


def test_stats_counts_volunteers_and_signups(slack: SlackHarness, engine):
    from sqlalchemy.orm import Session

    with Session(bind=engine) as session:
        for _ in range(3):
            make_volunteer(session, created_at=T0 - timedelta(days=30))
        make_volunteer(session, created_at=T0 - timedelta(days=1))
        make_volunteer(session, status="opted_out", created_at=T0 - timedelta(days=30))
        session.commit()
    text = blocks_text(slack.ask("stats"))
    assert "*Active volunteers*\n4" in text
    assert "*New this week*\n1" in text
    assert "*Opted out*\n1" in text
    assert "Shift sign-ups, last 8 weeks" in text


def test_wrong_signature_and_old_timestamp_are_refused(slack: SlackHarness, engine):
    body = urlencode({"command": "/muster", "text": "help", "user_id": ORGANIZER})
    assert slack.post(body, secret="not-the-secret").status_code == 401
    assert slack.post(body, timestamp=int(time.time()) - 301).status_code == 401
    unsigned = slack.client.post("/slack/events", content=body.encode())
    assert unsigned.status_code == 401
    assert not slack.slack.calls_to("response")


def test_slack_events_is_404_without_slack_settings(db_url, engine, clock):
    container = bootstrap(make_settings(db_url), clock=clock, engine=engine)
    with TestClient(create_app(container)) as client:
        assert client.post("/slack/events", content=b"{}").status_code == 404


def test_url_verification_challenge(slack: SlackHarness):
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "t"})
    response = slack.post(body, content_type="application/json")
    assert response.status_code == 200 and "abc123" in response.text
