"""A fake Twilio REST API: a real HTTP server on 127.0.0.1 speaking the Messages resource (and
the Calls resource of Twilio Voice: tests.fakes.twilio_calls, `fake.calls`).

Point Muster at it with `TWILIO_API_URL=fake.url` (plus `TWILIO_ACCOUNT_SID=fake.account_sid`,
`TWILIO_AUTH_TOKEN=fake.auth_token`) and the real twilio client code runs against it: form fields
in, Twilio's JSON out, Twilio's error bodies (`code`, `message`, `more_info`, `status`) with the
HTTP status Twilio uses, `Retry-After` on 429, HTTP basic auth checked.

In a test (the server runs on its own thread and event loop):

    with FakeTwilio(latency=0.05) as fake:
        fake.fail(code=21610, to="+16175550123")          # that number always answers 21610
        fake.fail(code=20429, times=2, retry_after=1)      # the next two requests get 429
        ...                                                # run the sender against fake.url
        fake.sent()                                        # accepted: [{"To", "Body", ...}]
        fake.requests                                      # every request, accepted or not
        fake.status_callback(sid, "delivered")             # (url, params, X-Twilio-Signature)

As its own process (benchmarks, subprocess tests; then the fake is never the bottleneck):

    python -m tests.fakes.twilio_api --latency 0.15   # prints one line: the base URL
    GET  {url}/_fake/sent       accepted messages as JSON ([{"sid", "to", "at"}], at: epoch s)
    POST {url}/_fake/fail       a JSON failure rule, the keyword arguments of `fail`
    POST {url}/_fake/reset      forget messages, requests and rules

Failure codes known by their Twilio HTTP status and message: see `ERRORS`. Any other code can be
given with `status=`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

from aiohttp import web

from tests.fakes.threaded_server import ThreadedServer, free_port
from tests.fakes.twilio_calls import FakeCalls

API_VERSION = "2010-04-01"
DEFAULT_ACCOUNT_SID = "AC" + "f" * 32
DEFAULT_AUTH_TOKEN = "fake-twilio-auth-token"

# code: (HTTP status, message) as the real API answers them.
ERRORS: dict[int, tuple[int, str]] = {
    20003: (401, "Authenticate"),
    20429: (429, "Too Many Requests"),
    20500: (500, "An internal server error has occurred"),
    20503: (503, "Service unavailable"),
    21210: (400, "The source phone number provided is not yet verified for your account"),
    21211: (400, "Invalid 'To' Phone Number"),
    21408: (400, "Permission to send an SMS has not been enabled for the region"),
    21602: (400, "Message body is required."),
    21603: (400, "The 'From' phone number is required."),
    21604: (400, "A 'To' phone number is required."),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21611: (400, "This 'From' number has exceeded the maximum number of queued messages"),
    21614: (400, "'To' number is not a valid mobile number"),
    21215: (400, "Account not authorized to call this number (geographic permissions)"),
    21617: (400, "The concatenated message body exceeds the 1600 character limit."),
    30007: (400, "Message filtered"),
}


@dataclass
class Rule:
    """A failure the fake answers with: for one number or any, `times` times or forever."""

    code: int
    status: int
    message: str
    to: str | None = None
    times: int | None = None  # None: forever
    retry_after: float | None = None

    def matches(self, to: str) -> bool:
        return (self.to is None or self.to == to) and (self.times is None or self.times > 0)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    form: dict[str, str]
    authorized: bool
    answered: int  # HTTP status sent back
    at: float = field(default_factory=time.monotonic)


class FakeTwilio(ThreadedServer):
    """The fake API. Use as a context manager (own thread) or `python -m` (own process)."""

    name = "fake Twilio"
    backlog = 2048  # the send benches open hundreds of connections at once

    def __init__(
        self,
        *,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        latency: float = 0.0,
        port: int = 0,
        record_requests: bool = True,
    ):
        self.account_sid, self.auth_token, self.latency = account_sid, auth_token, latency
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.record_requests = record_requests
        self.requests: list[RecordedRequest] = []
        self.messages: list[dict[str, str]] = []  # accepted: the form plus "Sid"
        self.accepted_at: list[float] = []  # time.time() of each accepted message
        self._rules: list[Rule] = []
        self._lock = threading.Lock()
        self._expected_auth = "Basic " + base64.b64encode(
            f"{account_sid}:{auth_token}".encode()
        ).decode("ascii")
        self.calls = FakeCalls(account_sid=account_sid, auth_token=auth_token, lock=self._lock)

    # --- configuring --------------------------------------------------------------------------

    def fail(
        self,
        *,
        code: int,
        to: str | None = None,
        times: int | None = None,
        status: int | None = None,
        message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Answer requests (to `to`, or any) with Twilio error `code`, `times` times or always."""
        known_status, known_message = ERRORS.get(code, (400, "Error"))
        rule = Rule(code, status or known_status, message or known_message, to, times, retry_after)
        with self._lock:
            self._rules.append(rule)

    def reset(self) -> None:
        with self._lock:
            self.calls.calls.clear()
            self._rules.clear()
            self.requests.clear()
            self.messages.clear()
            self.accepted_at.clear()

    # --- reading ------------------------------------------------------------------------------

    def sent(self) -> list[dict[str, str]]:
        """Every accepted message's form fields (To, Body, From, StatusCallback, ...) and Sid."""
        with self._lock:
            return list(self.messages)

    def sent_to(self, phone: str) -> list[dict[str, str]]:
        return [m for m in self.sent() if m.get("To") == phone]

    def wait_for(self, count: int, timeout: float = 20.0) -> list[dict[str, str]]:
        """Block until at least `count` messages were accepted (raises TimeoutError)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if len(self.messages) >= count:
                return self.sent()
            time.sleep(0.02)
        raise TimeoutError(f"fake Twilio accepted {len(self.messages)} of {count} messages")

    def status_callback(
        self, sid: str, status: str, *, error_code: int | None = None
    ) -> tuple[str, dict[str, str], str]:
        """The signed status callback Twilio would POST for `sid`: (url, form, signature)."""
        from twilio.request_validator import RequestValidator

        message = next(m for m in self.sent() if m["Sid"] == sid)
        url = message["StatusCallback"]
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "From": message.get("From", ""),
            "MessageSid": sid,
            "MessageStatus": status,
            "SmsSid": sid,
            "SmsStatus": status,
            "To": message["To"],
        }
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        return url, params, signature

    # --- the HTTP side ------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", self._create_message)
        app.router.add_post("/2010-04-01/Accounts/{account}/Calls.json", self._create_call)
        app.router.add_get("/_fake/sent", self._list_sent)
        app.router.add_post("/_fake/fail", self._add_rule)
        app.router.add_post("/_fake/reset", self._reset)
        return app

    async def _create_message(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        authorized = (
            request.headers.get("Authorization") == self._expected_auth
            and request.match_info["account"] == self.account_sid
        )
        if self.latency:
            await asyncio.sleep(self.latency)
        response = self._answer(form, authorized)
        if self.record_requests:
            record = RecordedRequest(
                request.method, request.path, form, authorized, response.status
            )
            with self._lock:
                self.requests.append(record)
        return response

    async def _create_call(self, request: web.Request) -> web.Response:
        """The Calls resource (tests.fakes.twilio_calls): the same auth and failure rules."""
        form = {k: str(v) for k, v in (await request.post()).items()}
        authorized = (
            request.headers.get("Authorization") == self._expected_auth
            and request.match_info["account"] == self.account_sid
        )
        response = self._answer_call(form, authorized)
        if self.record_requests:
            record = RecordedRequest(
                request.method, request.path, form, authorized, response.status
            )
            with self._lock:
                self.requests.append(record)
        return response

    def _answer_call(self, form: dict[str, str], authorized: bool) -> web.Response:
        if not authorized:
            return _error(20003)
        rule = self._rule_for(form.get("To", ""))
        if rule is not None:
            return _error(rule.code, rule.status, rule.message, rule.retry_after)
        refused = self.calls.check(form)
        if refused is not None:
            return _error(*refused)
        return web.json_response(self.calls.accept(form), status=201)

    def _rule_for(self, to: str) -> Rule | None:
        with self._lock:
            rule = next((r for r in self._rules if r.to is not None and r.matches(to)), None)
            rule = rule or next((r for r in self._rules if r.to is None and r.matches(to)), None)
            if rule is not None and rule.times is not None:
                rule.times -= 1
        return rule

    def _answer(self, form: dict[str, str], authorized: bool) -> web.Response:
        if not authorized:
            return _error(20003)
        to = form.get("To", "")
        rule = self._rule_for(to)
        if rule is not None:
            return _error(rule.code, rule.status, rule.message, rule.retry_after)
        if not to:
            return _error(21604)
        if not form.get("Body"):
            return _error(21602)
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return _error(21603)
        if len(form["Body"]) > 1600:
            return _error(21617)
        sid = "SM" + secrets.token_hex(16)
        with self._lock:
            self.messages.append({**form, "Sid": sid})
            self.accepted_at.append(time.time())
        return web.json_response(self._resource(sid, form), status=201)

    def _resource(self, sid: str, form: dict[str, str]) -> dict[str, Any]:
        now = formatdate(usegmt=True)
        service = form.get("MessagingServiceSid")
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": form.get("Body"),
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": service,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if service else "queued",
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": form.get("To"),
            "uri": uri,
        }

    async def _list_sent(self, _request: web.Request) -> web.Response:
        with self._lock:
            pairs = list(zip(self.messages, self.accepted_at, strict=True))
        rows = [{"sid": m["Sid"], "to": m.get("To"), "at": at} for m, at in pairs]
        return web.json_response(rows)

    async def _add_rule(self, request: web.Request) -> web.Response:
        self.fail(**(await request.json()))
        return web.json_response({"ok": True})

    async def _reset(self, _request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

    # --- running ------------------------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        """The settings that point a Muster process at this fake."""
        return {
            "TWILIO_API_URL": self.url,
            "TWILIO_ACCOUNT_SID": self.account_sid,
            "TWILIO_AUTH_TOKEN": self.auth_token,
            "TWILIO_FROM_NUMBER": "+16175550100",
        }


def _error(
    code: int,
    status: int | None = None,
    message: str | None = None,
    retry_after: float | None = None,
) -> web.Response:
    known_status, known_message = ERRORS.get(code, (400, "Error"))
    status = status or known_status
    body = {
        "code": code,
        "message": message or known_message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
    return web.json_response(body, status=status, headers=headers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A fake Twilio Messages API on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    args = parser.parse_args(argv)
    fake = FakeTwilio(
        account_sid=args.account_sid,
        auth_token=args.auth_token,
        latency=args.latency,
        port=args.port,
        record_requests=False,
    )

    async def run() -> None:
        await fake.serve()
        print(fake.url, flush=True)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
