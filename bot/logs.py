"""Logging: one JSON object per line when not on a terminal, a short human line on one
(`LOG_FORMAT=json|text|auto`), and no full phone number ever.

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


# A street address in a URL's query (the geocoder's request line, as httpx logs it).
_ADDRESS_PARAM = re.compile(r"(?i)\b((?:one)?(?:line)?address|street)=[^&\s\"']+")
MASKED_ADDRESS = "[address]"


def mask_addresses(text: str) -> str:
    return _ADDRESS_PARAM.sub(lambda m: f"{m.group(1)}={MASKED_ADDRESS}", text)


def scrub(text: str) -> str:
    return mask_addresses(mask_phones(redact_secrets(text)))


# What every LogRecord has; anything else on a record came from `extra=` (or a library's own).
_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "color_message",  # uvicorn's copy of the message with terminal colours
    "taskName",
}
# Muster's own loggers may log at DEBUG; a library's DEBUG lines (Slack's SDK prints whole request
# bodies there, SQLAlchemy every statement with its parameters) never reach the log.
OWN_LOGGERS = ("bot", "handlers", "scheduler", "storage", "muster", "bench", "__main__")
# Libraries whose INFO lines are noise for an operator: WARNING and above only.
QUIET_LIBRARIES = ("apscheduler", "httpx", "twilio.http_client", "uvicorn.access", "alembic")


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}


class MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = scrub(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
        for key, value in extra_fields(record).items():
            if not isinstance(value, bool | int | float | type(None)):
                setattr(record, key, scrub(str(value)))
        record.request_id = request_id.get()
        return True


class LibraryDebugFilter(logging.Filter):
    """Drops a library's DEBUG lines (see OWN_LOGGERS); SQLAlchemy's when LOG_SQL asks for them
    are let through."""

    def __init__(self, *, log_sql: bool = False) -> None:
        super().__init__()
        self._allowed = OWN_LOGGERS + (("sqlalchemy",) if log_sql else ())

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.INFO:
            return True
        return record.name.split(".", 1)[0] in self._allowed


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if getattr(record, "request_id", None):
            entry["request_id"] = record.request_id
        for key, value in extra_fields(record).items():
            entry.setdefault(key, value)
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """One short line a person reads in a terminal: local time, level, logger, message, then the
    extra fields as key=value (the request id first); a traceback follows on its own lines."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        fields = {"request_id": getattr(record, "request_id", None), **extra_fields(record)}
        tail = "".join(f" {k}={v}" for k, v in fields.items() if v is not None)
        line = f"{when} {record.levelname:<7} {record.name}: {record.getMessage()}{tail}"
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


def use_json(log_format: str = "auto", stream: Any = None) -> bool:
    """LOG_FORMAT: `json`, `text`, or `auto` (JSON unless standard error is a terminal)."""
    if log_format == "auto":
        stream = stream or sys.stderr
        return not (hasattr(stream, "isatty") and stream.isatty())
    return log_format == "json"


def configure_logging(
    level: str = "INFO",
    *,
    log_format: str = "auto",
    log_sql: bool = False,
    json_lines: bool | None = None,
) -> None:
    """Standard error, masked and redacted, as JSON lines or text lines (`json_lines` overrides
    `log_format`). SQLAlchemy is held at WARNING, so even at DEBUG no statement and none of its
    parameters (message bodies, numbers) is logged, unless `log_sql` asks for them."""
    json_lines = use_json(log_format) if json_lines is None else json_lines
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(LibraryDebugFilter(log_sql=log_sql))
    handler.addFilter(MaskingFilter())
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in QUIET_LIBRARIES:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
    # INFO: each statement with its parameters (DEBUG would add every row fetched).
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO if log_sql else logging.NOTSET)


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
