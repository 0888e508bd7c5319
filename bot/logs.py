"""Logging: one JSON object per line when not on a terminal, and no full phone number ever.

Every record passes through `mask_phones`, so a phone number that slips into a message or an
argument is shown as its last four digits (`***-***-1234`), and through `redact_secrets`, so a
configured secret (auth tokens, signing secrets, the metrics token) or anything shaped like a Slack
token or a bearer credential is shown as `[redacted]`. Each web request carries a request id
(`X-Request-Id`, taken from the caller when it is sane, otherwise made here) that every line logged
while handling it repeats, and that the response returns.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

# E.164 and common US spellings: +16175551234, 617-555-1234, (617) 555-1234, 6175551234.
_PHONE = re.compile(r"(?<![\w])(\+?\d[\d\-\s().]{7,16}\d)(?![\w])")
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
# Slack tokens (xoxb-, xoxp-, xapp- ...) and "Bearer <credential>" wherever they appear.
_TOKEN_SHAPES = re.compile(r"\b(?:xox[abposre]|xapp)-[A-Za-z0-9-]{6,}|(?i:bearer)\s+[^\s\"',]+")
REDACTED = "[redacted]"
_secrets: set[str] = set()


def mask_phone(phone: str | None) -> str:
    if not phone:
        return "-"
    digits = re.sub(r"\D", "", phone)
    return f"***-***-{digits[-4:]}" if len(digits) >= 4 else "***"


def mask_phones(text: str) -> str:
    def _sub(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(1))
        return mask_phone(digits) if 10 <= len(digits) <= 15 else match.group(1)

    return _PHONE.sub(_sub, text)


def register_secrets(values: Iterable[str | None]) -> None:
    """Secrets this process knows (from its settings): never printed, wherever they turn up."""
    _secrets.update(v for v in values if v and len(v) >= 8)


def register_settings_secrets(settings: Any) -> None:
    """Every `SecretStr` setting (pydantic-settings) of this process."""
    from pydantic import SecretStr

    values = (getattr(settings, name) for name in type(settings).model_fields)
    register_secrets(v.get_secret_value() for v in values if isinstance(v, SecretStr))


def redact_secrets(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _TOKEN_SHAPES.sub(REDACTED, text)


def scrub(text: str) -> str:
    return mask_phones(redact_secrets(text))


class MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = scrub(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if getattr(record, "request_id", None):
            entry["request_id"] = record.request_id
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO", *, json_lines: bool | None = None) -> None:
    json_lines = (not sys.stderr.isatty()) if json_lines is None else json_lines
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(MaskingFilter())
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("apscheduler", "httpx", "twilio.http_client", "uvicorn.access", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


class RequestIdMiddleware:
    """ASGI middleware: the request id of every HTTP request, in the log context and the response.

    A caller's `X-Request-Id` (a load balancer's, a test's) is kept when it is a plain token;
    otherwise a fresh one is made, so a request can be followed through every line it logged.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope.get("headers") or () if k == b"x-request-id"), b"")
        given_id = given.decode("latin-1")
        rid = given_id if _SANE_REQUEST_ID.match(given_id) else secrets.token_hex(16)
        token = request_id.set(rid)

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"x-request-id"]
                headers.append((b"x-request-id", rid.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)
