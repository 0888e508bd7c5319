"""`POST /twilio/status`: Twilio's status callbacks, as a thin adapter.

Signature checked exactly like /twilio/sms (403 and nothing changed when missing or wrong); the
delivery with that MessageSid moves forward (handlers/delivery_status.py); 204 either way, so
Twilio does not retry a callback we chose to ignore.
"""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.bootstrap import Container
from bot.twilio_signature import TwilioWebhook
from handlers.delivery_status import record_status_callback

log = logging.getLogger(__name__)


def routes(container: Container) -> list[BaseRoute]:
    webhook = TwilioWebhook(container.settings)

    async def status_callback(request: Request) -> Response:
        params = await webhook.signed_params(request)
        if params is None:
            return webhook.forbidden()
        sid = params.get("MessageSid") or params.get("SmsSid")
        status = params.get("MessageStatus") or params.get("SmsStatus") or ""
        if not sid:
            return Response(status_code=204)
        outcome = await run_in_threadpool(
            record_status_callback,
            container.uow(),
            sid=sid,
            status=status,
            error_code=params.get("ErrorCode") or None,
            now=container.clock.now(),
        )
        log.info("status callback %s: %s (%s)", status, outcome, params.get("ErrorCode") or "-")
        return Response(status_code=204)

    return [Route("/twilio/status", status_callback, methods=["POST"])]
