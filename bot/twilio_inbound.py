"""`POST /twilio/sms`: Twilio's inbound messaging webhook, as a thin adapter.

Check the signature (403 and nothing stored when it is missing or wrong), normalize the form into
an `InboundText`, call the handler, render its reply as TwiML.
"""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from twilio.twiml.messaging_response import MessagingResponse

from bot.bootstrap import Container
from bot.twilio_signature import form_params, is_from_twilio
from handlers import geo
from handlers.messages import Channel, InboundText
from handlers.phones import masked, to_e164
from handlers.volunteers import receive_text

log = logging.getLogger(__name__)
TWIML = "application/xml"


def twiml(reply: str | None) -> Response:
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return Response(str(response), media_type=TWIML)


def routes(container: Container) -> list[BaseRoute]:
    settings = container.settings
    geo.warm()  # the ZIP table, read once now rather than during a volunteer's first ZIP
    auth_token = (
        settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else None
    )

    async def inbound_sms(request: Request) -> Response:
        params = form_params(await request.form())
        if not is_from_twilio(
            request, params, auth_token=auth_token, public_base=settings.public_url
        ):
            log.warning("refused /twilio/sms: missing or wrong X-Twilio-Signature")
            return Response("forbidden", status_code=403, media_type="text/plain")
        phone = to_e164(params.get("From"))
        sid = params.get("MessageSid") or params.get("SmsSid")
        if phone is None or not sid:
            log.warning("inbound text without a usable From or MessageSid; ignored")
            return twiml(None)
        msg = InboundText(
            channel=Channel.SMS,
            phone=phone,
            text=params.get("Body", ""),
            received_at=container.clock.now(),
            message_id=sid,
            to=params.get("To"),
            opt_out_type=(params.get("OptOutType") or None),
            from_zip=params.get("FromZip") or None,
        )
        result = await run_in_threadpool(
            receive_text, msg, uow=container.uow(), org=container.org, clock=container.clock
        )
        log.info("inbound sms from %s: %s", masked(phone), result.intent)
        return twiml(result.reply)

    return [Route("/twilio/sms", inbound_sms, methods=["POST"])]
