"""The path and query Twilio signed, read from the ASGI scope: exactly what Starlette's
`request.url` gives, which `signed_path` no longer builds for every text."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from bot.twilio_signature import signed_path


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/twilio/sms", b""),
        ("/twilio/sms", b"org=north&x=%20y"),
        ("/twilio/sms/", b"a=1&a=2"),
        ("/a b/\u00fc?#\\", "x=\u00fc".encode()),  # characters Starlette escapes in a path
    ],
)
def test_signed_path_is_the_path_and_query_request_url_gives(path: str, query: bytes) -> None:
    request = Request(
        {"type": "http", "path": path, "query_string": query, "headers": [(b"host", b"h")]}
    )
    url = request.url
    assert signed_path(request) == url.path + ("?" + url.query if url.query else "")
