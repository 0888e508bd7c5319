"""`TwilioVoiceCaller`: one outbound call through the twilio library's Calls API (the
`handlers.ports.VoiceCaller` of patch-through calls, TWILIO_VOICE=on).

The call rings the volunteer for `timeout` seconds from TWILIO_FROM_NUMBER with answering-machine
detection on (a voicemail greeting is hung up on, not read a script and connected to an office);
when they pick up Twilio fetches what to do from `url` and posts the final status to
`status_callback`, both `POST /twilio/voice` (bot/twilio_voice.py). `TWILIO_API_URL` replaces the
API's base URL, as for texts. Errors come back as a `CallResult`: transient (429, 5xx, the network)
or not, never as an exception.
"""

from __future__ import annotations

import logging

from requests.exceptions import RequestException
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from bot.settings import Settings
from handlers.phones import masked
from handlers.ports import CallResult

log = logging.getLogger(__name__)

TRANSIENT_CODES = frozenset({20429, 20500, 20503})


class TwilioVoiceCaller:
    def __init__(self, settings: Settings):
        if not settings.twilio_enabled:
            raise ValueError("TwilioVoiceCaller needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
        assert settings.twilio_auth_token is not None
        self._client = Client(
            settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value()
        )
        self._client.api.base_url = settings.twilio_api_url

    def place(
        self, *, to: str, from_: str, url: str, status_callback: str, timeout: int
    ) -> CallResult:
        try:
            call = self._client.calls.create(
                to=to,
                from_=from_,
                url=url,
                method="POST",
                status_callback=status_callback,
                status_callback_method="POST",
                status_callback_event=["completed"],
                timeout=timeout,
                machine_detection="Enable",
            )
        except TwilioRestException as exc:
            status = int(exc.status or 0)
            transient = status == 429 or status >= 500 or exc.code in TRANSIENT_CODES
            log.info("Twilio error %s (HTTP %s) calling %s", exc.code, status, masked(to))
            return CallResult(
                ok=False,
                error_code=str(exc.code) if exc.code else f"http{status}",
                error_message=(exc.msg or "")[:500],
                transient=transient,
            )
        except (RequestException, OSError) as exc:
            log.warning("Twilio unreachable calling %s: %s", masked(to), type(exc).__name__)
            return CallResult(ok=False, error_code="network", transient=True)
        return CallResult(ok=True, call_sid=call.sid)
