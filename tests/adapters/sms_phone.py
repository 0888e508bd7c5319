"""A volunteer's phone for tests: texts go to the real `POST /twilio/sms` route, signed the way
Twilio signs them (the twilio library's RequestValidator), and the TwiML answer is parsed."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from xml.etree import ElementTree

from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

AUTH_TOKEN = "test-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "0" * 32
GROUP_NUMBER = "+16175550100"
_counter = itertools.count(1)


def new_sid() -> str:
    return f"SM{uuid.uuid4().hex}"


def twiml_messages(body: str) -> list[str]:
    """The <Message> texts of a TwiML document (raises if it is not well-formed TwiML)."""
    root = ElementTree.fromstring(body)  # noqa: S314 (our own server's answer, in a test)
    assert root.tag == "Response", body
    return [m.text or "" for m in root.iter("Message")]


@dataclass
class Answer:
    status: int
    body: str
    sid: str

    @property
    def messages(self) -> list[str]:
        return twiml_messages(self.body)

    @property
    def reply(self) -> str | None:
        """The one reply texted back, or None when Muster stayed silent."""
        msgs = self.messages
        assert len(msgs) <= 1, msgs
        return msgs[0] if msgs else None


class Phone:
    def __init__(self, client: TestClient, number: str, *, public_url: str):
        self.client = client
        self.number = number
        self.url = public_url.rstrip("/") + "/twilio/sms"

    def params(self, body: str, *, sid: str | None = None, **extra: str) -> dict[str, str]:
        params = {
            "MessageSid": sid or new_sid(),
            "SmsSid": sid or "",
            "AccountSid": ACCOUNT_SID,
            "From": self.number,
            "To": GROUP_NUMBER,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": "1",
        }
        params["SmsSid"] = params["MessageSid"]
        params.update(extra)
        return params

    def post(self, params: dict[str, str], *, signature: str | None = "valid") -> Answer:
        headers = {}
        if signature == "valid":
            headers["X-Twilio-Signature"] = RequestValidator(AUTH_TOKEN).compute_signature(
                self.url, params
            )
        elif signature is not None:
            headers["X-Twilio-Signature"] = signature
        response = self.client.post("/twilio/sms", data=params, headers=headers)
        return Answer(response.status_code, response.text, params["MessageSid"])

    def text(self, body: str, **extra: str) -> str | None:
        """Send a text; return Muster's reply (None when it answered nothing)."""
        answer = self.post(self.params(body, **extra))
        assert answer.status == 200, answer.body
        assert answer.body.startswith("<?xml"), answer.body
        return answer.reply
