"""Checking that a webhook really comes from Twilio, with the twilio library's own validator.

The signature covers the exact public URL Twilio called (`PUBLIC_URL` + path + query) and every
posted parameter, so the check uses the configured public base, not the URL this process sees
behind a TLS-terminating proxy.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from twilio.request_validator import RequestValidator

from bot.settings import Settings

log = logging.getLogger(__name__)


def signed_path(request: Request) -> str:
    """The path and query Twilio signed (with the public base in front). (Read from the ASGI
    scope as `request.url` would give them, without building a URL object for every text.)"""
    scope = request.scope
    path = scope["path"].replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
    query = scope.get("query_string", b"").decode()
    return path + ("?" + query if query else "")


def public_url_for(request: Request, public_base: str) -> str:
    return public_base.rstrip("/") + signed_path(request)


def form_params(form: FormData) -> dict[str, str]:
    """Twilio never repeats a parameter name in SMS webhooks; keep the last of each."""
    return {key: str(value) for key, value in form.multi_items()}


async def posted_params(request: Request) -> dict[str, str]:
    """The posted parameters. Twilio posts `application/x-www-form-urlencoded`, which is read
    here with the standard library's parser (a few microseconds; Starlette's general form parser
    takes ten times that, on every text and every status callback); anything else goes through
    Starlette's parser."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return form_params(await request.form())
    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True))


class _OneValueEach(dict[str, str]):
    """The posted parameters as the validator reads a multi-dict (`getall`): handed a plain dict
    it looks for `getall`, then `getlist`, and only then takes the value, two exceptions raised
    and caught for every parameter of every webhook (a fifth of the signature check)."""

    def getall(self, name: str) -> list[str]:
        return [self[name]]


def is_from_twilio(
    request: Request, params: dict[str, str], *, auth_token: str | None, public_base: str
) -> bool:
    signature = request.headers.get("X-Twilio-Signature")
    if not signature or not auth_token:
        return False
    validator = RequestValidator(auth_token)
    url = public_url_for(request, public_base)
    return validator.validate(url, _OneValueEach(params), signature)


class TwilioWebhook:
    """What every Twilio route does first: read the form, and refuse it (403) unless Twilio
    signed it for `PUBLIC_URL` + this path with the account's auth token."""

    def __init__(self, settings: Settings):
        token = settings.twilio_auth_token
        self._auth_token = token.get_secret_value() if token else None
        self._public_base = settings.public_url

    async def signed_params(self, request: Request) -> dict[str, str] | None:
        """The posted parameters, or None when the signature is missing or wrong."""
        params = await posted_params(request)
        if is_from_twilio(
            request, params, auth_token=self._auth_token, public_base=self._public_base
        ):
            return params
        log.warning("refused %s: missing or wrong X-Twilio-Signature", request.url.path)
        return None

    @staticmethod
    def forbidden() -> Response:
        return Response("forbidden", status_code=403, media_type="text/plain")
