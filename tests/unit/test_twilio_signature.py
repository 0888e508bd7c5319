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


# A whole inbound form as Twilio posts it (empty values and a non-ASCII body included).
FORM = {
    "ToCountry": "US", "ToState": "MA", "SmsMessageSid": "SM" + "a" * 32, "NumMedia": "0",
    "ToCity": "", "FromZip": "02139", "SmsSid": "SM" + "a" * 32, "FromState": "MA",
    "SmsStatus": "received", "FromCity": "CAMBRIDGE", "Body": "YES 12 \u00e9\U0001f44d",
    "FromCountry": "US", "To": "+16175550100", "ToZip": "", "NumSegments": "1",
    "MessageSid": "SM" + "a" * 32, "AccountSid": "AC" + "b" * 32, "From": "+16175550123",
    "ApiVersion": "2010-04-01",
}  # fmt: skip


def _signed_request(signature: str) -> Request:
    headers = [(b"host", b"h"), (b"x-twilio-signature", signature.encode())]
    return Request({"type": "http", "path": "/twilio/sms", "query_string": b"", "headers": headers})


@pytest.mark.parametrize("public_base", ["https://muster.example.org", "http://127.0.0.1:8000"])
def test_a_form_twilio_signed_is_accepted_and_any_change_to_it_refused(public_base: str) -> None:
    from twilio.request_validator import RequestValidator

    from bot.twilio_signature import is_from_twilio

    token = "auth-token"
    # the signature as Twilio makes it: the SDK's own, over a plain dict
    signature = RequestValidator(token).compute_signature(public_base + "/twilio/sms", FORM)
    request = _signed_request(signature)

    def accepted(params: dict[str, str], auth_token: str = token) -> bool:
        return is_from_twilio(request, params, auth_token=auth_token, public_base=public_base)

    assert accepted(dict(FORM))
    assert not accepted({**FORM, "Body": "YES 13 \u00e9\U0001f44d"})
    assert not accepted({**FORM, "Extra": ""})
    assert not accepted({k: v for k, v in FORM.items() if k != "ToZip"})
    assert not accepted(dict(FORM), auth_token="another-token")
