"""`TwilioSmsSender`: one text through the twilio library's async client, many in flight.

The client is twilio's own (`Client(...).messages.create_async` over `AsyncTwilioHttpClient`);
`TWILIO_API_URL` replaces the API's base URL (staging, the tests' fake server). Each message asks
for a status callback at `PUBLIC_URL/twilio/status` and, when it has a deadline, a
`ValidityPeriod` so that Twilio's own queue does not deliver it late either.

Errors come back as a `SendResult`, never as an exception: transient ones (429, 5xx, 21611,
network trouble, a bad credential that an operator can fix) with `transient=True` and the
`Retry-After` the API gave; the rest are permanent for that message. What each code does to the
volunteer (21610 opt-out, 21211/21614 unreachable) is decided by the sender, not here.
"""

from __future__ import annotations

import contextvars
import logging
from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from bot.settings import Settings
from handlers.phones import masked
from handlers.ports import SendResult

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 30.0
# Error codes worth sending again later (the request was not acted on, or the fault may pass).
TRANSIENT_CODES = frozenset({20003, 20429, 20500, 20503, 21611, 30001, 30003, 30008})
_retry_after: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar(
    "twilio_retry_after", default=None
)


class _HttpClient(AsyncTwilioHttpClient):
    """twilio's async HTTP client with a connection pool as large as the concurrency wanted
    (aiohttp's default is 100), that notes `Retry-After` for the caller's task."""

    def __init__(self, *, connections: int, timeout: float):
        # twilio logs eleven INFO lines per request (URL, headers); we log errors ourselves.
        quiet = logging.getLogger("bot.twilio_sender.http")
        quiet.setLevel(logging.WARNING)
        super().__init__(pool_connections=False, timeout=timeout, logger=quiet)
        connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections)
        self.session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=timeout)
        )

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        kwargs["timeout"] = None  # the session's ClientTimeout applies
        response = await super().request(method, url, *args, **kwargs)
        holder = _retry_after.get()
        if holder is not None and response.headers is not None:
            value = response.headers.get("Retry-After")
            if value:
                holder["seconds"] = _seconds(value)
        return response


def _seconds(value: str) -> float:
    try:
        return max(float(value), 0.0)
    except ValueError:
        return 1.0  # an HTTP date: Twilio sends seconds; be safe rather than precise


class TwilioSmsSender:
    """The production `SmsSender`. Build it inside the event loop that will use it."""

    def __init__(self, settings: Settings, *, concurrency: int | None = None):
        if not settings.twilio_enabled:
            raise ValueError("TwilioSmsSender needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
        self._settings = settings
        self._concurrency = concurrency or settings.send_concurrency
        self._client: Client | None = None
        self._http: _HttpClient | None = None

    def _ensure_client(self) -> Client:
        if self._client is None:
            settings = self._settings
            assert settings.twilio_auth_token is not None
            self._http = _HttpClient(connections=self._concurrency, timeout=REQUEST_TIMEOUT_S)
            client = Client(
                settings.twilio_account_sid,
                settings.twilio_auth_token.get_secret_value(),
                http_client=self._http,
            )
            client.api.base_url = settings.twilio_api_url
            self._client = client
        return self._client

    async def send(
        self,
        *,
        to: str,
        body: str,
        status_callback: str | None = None,
        validity_period: int | None = None,
    ) -> SendResult:
        client = self._ensure_client()
        settings = self._settings
        options: dict[str, Any] = {"to": to, "body": body}
        if settings.twilio_messaging_service_sid:
            options["messaging_service_sid"] = settings.twilio_messaging_service_sid
        if settings.twilio_from_number:
            options["from_"] = settings.twilio_from_number
        if status_callback:
            options["status_callback"] = status_callback
        if validity_period is not None:
            options["validity_period"] = max(1, min(int(validity_period), 36000))
        holder: dict[str, float] = {}
        token = _retry_after.set(holder)
        try:
            message = await client.messages.create_async(**options)
        except TwilioRestException as exc:
            return _from_exception(exc, holder.get("seconds"), to)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.warning("Twilio unreachable sending to %s: %s", masked(to), type(exc).__name__)
            return SendResult(ok=False, error_code="network", error_message=type(exc).__name__,
                              transient=True)  # fmt: skip
        finally:
            _retry_after.reset(token)
        return SendResult(ok=True, provider_sid=message.sid, status=str(message.status or "queued"))

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http, self._client = None, None


def _from_exception(exc: TwilioRestException, retry_after: float | None, to: str) -> SendResult:
    status = int(exc.status or 0)
    code = exc.code
    transient = status == 429 or status >= 500 or (code in TRANSIENT_CODES)
    if status in (401, 403) or code == 20003:
        log.error("Twilio refused our credentials (HTTP %s); check TWILIO_AUTH_TOKEN", status)
    else:
        log.info("Twilio error %s (HTTP %s) sending to %s", code, status, masked(to))
    return SendResult(
        ok=False,
        error_code=str(code) if code else f"http{status}",
        error_message=(exc.msg or "")[:500],
        retry_after=retry_after,
        transient=transient,
    )
