"""The fake Twilio's Calls resource (tests.fakes.twilio_api mounts it): `POST .../Calls.json` as
Twilio Voice answers it, and the call itself played out against Muster's webhooks.

Creating a call checks what the real API checks first (auth, `To`, `From`, `Url`; the fake's
failure rules apply as to messages) and answers the Call resource's JSON with a `CA...` sid and
status `queued`. The call then happens when a test says so, the way Twilio would run it:

    transcript = fake.calls.run(sid, post, answered_by="human", office="completed", talk=95)

`post(url, params, signature)` delivers one signed webhook request to Muster (a TestClient
post, say) and returns (status, body). If the volunteer picks up, the call's `Url` is fetched
(`CallStatus=in-progress`, `AnsweredBy`), its TwiML is read: every `<Say>` is heard, a `<Dial>`
rings its `<Number>` with the `callerId` given and, when it ends, posts `DialCallStatus`,
`DialCallDuration` and `DialCallSid` to the Dial's `action`, whose TwiML is read in turn. Last,
the status callback gets the final `CallStatus` and `CallDuration`. The transcript says what was
heard, dialled and answered.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from xml.etree import ElementTree

from twilio.request_validator import RequestValidator

API_VERSION = "2010-04-01"
Post = Callable[[str, dict[str, str], str], tuple[int, str]]


@dataclass
class Transcript:
    """What happened on one call, as the volunteer and the office would tell it."""

    said: list[str] = field(default_factory=list)
    dialled: str | None = None
    caller_id: str | None = None
    hung_up: bool = False
    answers: list[int] = field(default_factory=list)  # HTTP statuses of the webhook requests


class FakeCalls:
    def __init__(self, *, account_sid: str, auth_token: str, lock: threading.Lock):
        self.account_sid, self.auth_token, self._lock = account_sid, auth_token, lock
        self.calls: list[dict[str, str]] = []  # accepted: the form plus "Sid"

    def created(self) -> list[dict[str, str]]:
        with self._lock:
            return list(self.calls)

    def check(self, form: dict[str, str]) -> tuple[int, int, str] | None:
        """The error the real API gives a create with this form, if any: (code, status, msg)."""
        if not form.get("To"):
            return 21201, 400, "No 'To' number is specified"
        if not form.get("From"):
            return 21213, 400, "No 'From' number is specified"
        if not (form.get("Url") or form.get("Twiml") or form.get("ApplicationSid")):
            return 21205, 400, "Url parameter is required."
        if not form["To"].startswith("+") or not form["To"][1:].isdigit():
            return 21211, 400, f"Invalid 'To' Phone Number: {form['To']}"
        return None

    def accept(self, form: dict[str, str]) -> dict[str, Any]:
        sid = "CA" + secrets.token_hex(16)
        with self._lock:
            self.calls.append({**form, "Sid": sid})
        now = formatdate(usegmt=True)
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{sid}.json"
        return {
            "account_sid": self.account_sid,
            "annotation": None,
            "answered_by": None,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": now,
            "date_updated": now,
            "direction": "outbound-api",
            "duration": None,
            "end_time": None,
            "forwarded_from": None,
            "from": form.get("From"),
            "from_formatted": form.get("From"),
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": "PN" + "0" * 32,
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "start_time": None,
            "status": "queued",
            "subresource_uris": {"recordings": uri.replace(".json", "/Recordings.json")},
            "to": form.get("To"),
            "to_formatted": form.get("To"),
            "trunk_sid": None,
            "uri": uri,
            "queue_time": "0",
        }

    # --- playing a call out -------------------------------------------------------------------

    def _signed(self, post: Post, url: str, params: dict[str, str], t: Transcript) -> str:
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        status, body = post(url, params, signature)
        t.answers.append(status)
        return body

    def run(
        self,
        sid: str,
        post: Post,
        *,
        answered_by: str | None = "human",
        office: str = "completed",
        talk: int = 95,
    ) -> Transcript:
        """Play call `sid` out. `answered_by` None: the volunteer never picks up (no-answer);
        `office`: the DialCallStatus of the office leg (completed, busy, no-answer, failed)."""
        call = next(c for c in self.created() if c["Sid"] == sid)
        base = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": sid,
            "Direction": "outbound-api",
            "From": call["From"],
            "To": call["To"],
            "Called": call["To"],
            "Caller": call["From"],
        }
        t = Transcript()
        if answered_by is None:
            final = {**base, "CallStatus": "no-answer", "CallDuration": "0"}
            self._signed(post, call["StatusCallback"], final, t)
            return t
        fetch = {**base, "CallStatus": "in-progress"}
        if call.get("MachineDetection"):
            fetch["AnsweredBy"] = answered_by
        duration = 8
        dial = self._read(self._signed(post, call["Url"], fetch, t), t)
        if dial is not None:
            t.dialled = (
                "".join(n.text or "" for n in dial.iter("Number")).strip()
                or (dial.text or "").strip()
            )
            t.caller_id = dial.get("callerId")
            connected = office in ("completed", "answered")
            seconds = talk if connected else 0
            duration += seconds + 10
            result = {
                **fetch,
                "DialCallStatus": office,
                "DialCallSid": "CA" + secrets.token_hex(16),
                "DialCallDuration": str(seconds),
                "DialBridged": "true" if connected else "false",
            }
            action = dial.get("action")
            if action:
                self._read(self._signed(post, action, result, t), t)
        final = {**base, "CallStatus": "completed", "CallDuration": str(duration)}
        if call.get("StatusCallback"):
            self._signed(post, call["StatusCallback"], final, t)
        return t

    @staticmethod
    def _read(body: str, t: Transcript) -> ElementTree.Element | None:
        """Hear a TwiML document up to its <Dial> (returned) or its end."""
        root = ElementTree.fromstring(body)  # noqa: S314 (our own server's answer, in a test)
        assert root.tag == "Response", body
        for verb in root:
            if verb.tag == "Say":
                t.said.append(verb.text or "")
            elif verb.tag == "Dial":
                return verb
            elif verb.tag == "Hangup":
                t.hung_up = True
                return None
        return None
