"""Logging: one JSON object per line when not on a terminal, and no full phone number ever.

Every record passes through `mask_phones`, so a phone number that slips into a message or an
argument is shown as its last four digits (`***-***-1234`).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime

# E.164 and common US spellings: +16175551234, 617-555-1234, (617) 555-1234, 6175551234.
_PHONE = re.compile(r"(?<![\w])(\+?\d[\d\-\s().]{7,16}\d)(?![\w])")
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


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


class MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = mask_phones(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_phones(logging.Formatter().formatException(record.exc_info))
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
