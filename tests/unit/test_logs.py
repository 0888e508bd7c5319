"""Logs: phones masked, secrets redacted, one request id per web request."""

from __future__ import annotations

import io
import json
import logging

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.testclient import TestClient

from bot.logs import (
    JsonFormatter,
    MaskingFilter,
    RequestIdMiddleware,
    register_secrets,
    request_id,
    scrub,
)


@pytest.fixture
def captured() -> io.StringIO:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(MaskingFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)


def test_secrets_and_token_shapes_are_redacted() -> None:
    register_secrets(["0123456789abcdef0123456789abcdef"])
    line = scrub(
        "auth 0123456789abcdef0123456789abcdef with xoxb-1234-5678-abcdefgh and "
        "Authorization: Bearer s3cr3t-t0ken, from +16175550123"
    )
    assert "0123456789abcdef0123456789abcdef" not in line
    assert "xoxb-1234" not in line and "s3cr3t" not in line
    assert "+16175550123" not in line and "***-***-0123" in line


def test_each_request_has_an_id_that_every_log_line_repeats(captured: io.StringIO) -> None:
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.middleware import Middleware
    from starlette.routing import Route

    def work() -> str | None:
        logging.getLogger("test.logs").info("working for +16175550199")
        return request_id.get()

    async def endpoint(_request: Request) -> JSONResponse:
        return JSONResponse({"seen": await run_in_threadpool(work)})

    app = Starlette(routes=[Route("/", endpoint)], middleware=[Middleware(RequestIdMiddleware)])
    client = TestClient(app)

    given = client.get("/", headers={"X-Request-Id": "lb-abc.123"})
    assert given.headers["x-request-id"] == "lb-abc.123" and given.json()["seen"] == "lb-abc.123"
    made = client.get("/", headers={"X-Request-Id": "not ok\nnewline injected"})
    assert made.headers["x-request-id"] != "lb-abc.123" and len(made.headers["x-request-id"]) == 32
    other = client.get("/")
    assert other.headers["x-request-id"] != made.headers["x-request-id"]

    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert [entry["request_id"] for entry in lines] == [
        "lb-abc.123",
        made.headers["x-request-id"],
        other.headers["x-request-id"],
    ]
    assert all("+16175550199" not in entry["msg"] for entry in lines)
    assert request_id.get() is None  # nothing leaks out of a request


def test_a_text_line_is_time_level_logger_message_and_the_extra_fields() -> None:
    from bot.logs import TextFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(MaskingFilter())
    handler.setFormatter(TextFormatter())
    logger = logging.getLogger("test.logs.text")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("sent to %s", "+16175550142", extra={"segments": 2, "to": "+16175550142"})
    finally:
        logger.removeHandler(handler)
    line = stream.getvalue().rstrip("\n")
    assert "\n" not in line and not line.startswith("{")
    clock, level, name, rest = line.split(None, 3)
    assert len(clock) == len("11:52:03.123") and clock[2] == ":" and level == "INFO"
    assert name == "test.logs.text:"
    assert rest.strip() == "sent to ***-***-0142 segments=2 to=***-***-0142"  # extras masked too


@pytest.mark.parametrize("log_sql", [False, True])
def test_sqlalchemy_is_silent_even_at_debug_unless_log_sql(
    log_sql: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.logs import configure_logging

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    monkeypatch.setattr("sys.stderr", io.StringIO())
    try:
        configure_logging("DEBUG", log_format="text", log_sql=log_sql)
        engine_logger = logging.getLogger("sqlalchemy.engine.Engine")
        assert engine_logger.isEnabledFor(logging.INFO) is log_sql  # SQLAlchemy's own test
        assert not logging.getLogger("sqlalchemy.pool").isEnabledFor(logging.INFO)
        assert logging.getLogger("bot.anything").isEnabledFor(logging.DEBUG)
    finally:
        configure_logging("INFO", json_lines=True)
        root.handlers[:], root.level = saved[0], saved[1]


def test_auto_is_json_off_a_terminal_and_text_on_one() -> None:
    from bot.logs import use_json

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert use_json("auto", io.StringIO()) is True
    assert use_json("auto", Terminal()) is False
    assert use_json("json", Terminal()) is True and use_json("text", io.StringIO()) is False
