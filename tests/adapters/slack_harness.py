"""Driving `/slack/events` as Slack does: signed HTTP requests into the real route, with the Web
API (and every `response_url`) pointed at a local fake (tests/fakes/slack_api.py); and what the
tests count in the database afterwards (the outbox, any table's rows, the audit log)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from bot.bootstrap import Container, bootstrap
from bot.web import create_app
from handlers.ports import FixedClock
from storage.models import AuditEntry, Delivery
from tests.conftest import make_settings
from tests.fakes.slack_api import Call, FakeSlackApi

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
ORGANIZER = "U0ORGANIZER"
STRANGER = "U0STRANGER"
INBOX = "C0INBOX"
CHANNEL = "C0GENERAL"


def signed_headers(body: str, *, secret: str = SECRET, timestamp: int | None = None) -> dict:
    """Headers as Slack sends them, signed with slack_sdk's own signature code."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }


class SlackHarness:
    def __init__(self, client: TestClient, slack: FakeSlackApi, container: Container):
        self.client, self.slack, self.container = client, slack, container

    def post(self, body: str, *, content_type: str | None = None, **sign: Any) -> httpx.Response:
        headers = signed_headers(body, **sign)
        if content_type:
            headers["Content-Type"] = content_type
        return self.client.post("/slack/events", content=body.encode(), headers=headers)

    # --- what Slack sends ----------------------------------------------------------------------

    def command(self, text: str, *, user: str = ORGANIZER, channel: str = CHANNEL) -> str:
        """Run `/muster text`; returns the response_url name to wait on."""
        name = uuid.uuid4().hex[:10]
        form = {
            "token": "legacy",
            "team_id": "T1",
            "team_domain": "massforward",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": "someone",
            "command": self.container.settings.slack_command,  # as the app registered it
            "text": text,
            "api_app_id": "A1",
            "is_enterprise_install": "false",
            "response_url": self.slack.response_url(name),
            "trigger_id": f"trig-{name}",
        }
        response = self.post(urlencode(form))
        assert response.status_code == 200, response.text
        self.last_ack = response
        return name

    def answer(self, name: str, *, timeout: float = 15.0) -> Call:
        """The response_url post that answered command `name`."""
        return self.slack.wait_for(
            "response", where=lambda c: c.path.endswith("/" + name), timeout=timeout
        )[-1]

    def ask(self, text: str, *, user: str = ORGANIZER) -> Call:
        return self.answer(self.command(text, user=user))

    def click(
        self,
        action_id: str,
        value: str,
        *,
        user: str = ORGANIZER,
        message_ts: str = "1763300000.000001",
    ) -> str:
        name = uuid.uuid4().hex[:10]
        payload = {
            "type": "block_actions",
            "team": {"id": "T1", "domain": "massforward"},
            "user": {"id": user, "username": "someone", "team_id": "T1"},
            "api_app_id": "A1",
            "token": "legacy",
            "container": {"type": "message", "message_ts": message_ts, "channel_id": CHANNEL},
            "trigger_id": f"trig-{name}",
            "channel": {"id": CHANNEL, "name": "general"},
            "response_url": self.slack.response_url(name),
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "b",
                    "value": value,
                    "type": "button",
                    "action_ts": f"{time.time():.6f}-{name}",
                }
            ],
        }
        response = self.post(urlencode({"payload": json.dumps(payload)}))
        assert response.status_code == 200, response.text
        return name

    def submit(
        self, callback_id: str, state: dict[str, dict[str, Any]], *, user: str = ORGANIZER
    ) -> httpx.Response:
        """Submit a modal; `state` is {block_id: element state} as Slack puts it in view.state."""
        payload = {
            "type": "view_submission",
            "team": {"id": "T1", "domain": "massforward"},
            "user": {"id": user, "username": "someone", "team_id": "T1"},
            "api_app_id": "A1",
            "token": "legacy",
            "trigger_id": "trig-view",
            "view": {
                "id": f"V{uuid.uuid4().hex[:8]}",
                "type": "modal",
                "callback_id": callback_id,
                "private_metadata": CHANNEL,
                "state": {"values": {k: {k: v} for k, v in state.items()}},
                "hash": "h",
            },
        }
        return self.post(urlencode({"payload": json.dumps(payload)}))

    def event(self, event: dict[str, Any], *, event_id: str | None = None, retry: int = 0):
        body = json.dumps(
            {
                "token": "legacy",
                "team_id": "T1",
                "api_app_id": "A1",
                "type": "event_callback",
                "event_id": event_id or f"Ev{uuid.uuid4().hex[:10]}",
                "event_time": int(time.time()),
                "event": event,
            }
        )
        headers = signed_headers(body)
        headers["Content-Type"] = "application/json"
        if retry:
            headers["X-Slack-Retry-Num"] = str(retry)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        response = self.client.post("/slack/events", content=body.encode(), headers=headers)
        assert response.status_code == 200, response.text
        return response


def blocks_text(call: Call) -> str:
    """Everything a message shows (fallback text and every text inside its blocks), joined."""
    parts = [str(call.params.get("text") or "")]
    blocks = call.json_param("blocks") or []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    parts.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return "\n".join(parts)


def buttons(call) -> dict[str, str]:
    """A message's buttons: action_id -> value (those in its actions blocks)."""
    out = {}
    for block in call.json_param("blocks") or []:
        for element in block.get("elements", []):
            if element.get("type") == "button":
                out[element["action_id"]] = element["value"]
    return out


def deliveries(engine) -> int:
    """How many texts are in the outbox, in any status."""
    with Session(bind=engine) as session:
        return session.scalar(select(func.count()).select_from(Delivery)) or 0


def count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(model))


def audit_actions(engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [(a, b) for a, b in conn.execute(select(AuditEntry.actor, AuditEntry.action))]


@contextmanager
def slack_harness(
    db_url: str, engine: Any, clock: FixedClock, **overrides: Any
) -> Iterator[SlackHarness]:
    with FakeSlackApi() as slack:
        values: dict[str, Any] = {
            "slack_bot_token": "xoxb-test-token",
            "slack_signing_secret": SECRET,
            "slack_api_url": slack.api_url,
            "slack_inbox_channel": INBOX,
            "organizer_slack_ids": ORGANIZER,
        }
        values.update(overrides)
        container = bootstrap(make_settings(db_url, **values), clock=clock, engine=engine)
        with TestClient(create_app(container)) as client:
            yield SlackHarness(client, slack, container)
