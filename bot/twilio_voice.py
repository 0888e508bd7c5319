"""`POST /twilio/voice`: Twilio Voice's webhooks for patch-through calls (TWILIO_VOICE=on), as a
thin adapter over `handlers.patch_calls`.

Each call's URLs carry its row id and the step: `?call=ID&step=answer` (the volunteer picked up:
answered with TwiML, a `<Say>` script and a `<Dial>` to the office), `step=dial` (the office leg
ended: `DialCallStatus`, `DialCallDuration`), `step=status` (the final status callback:
`CallStatus`, `CallDuration`). Signatures are checked as for /twilio/sms (403, nothing changed);
a signed request for a call we do not know is hung up on.
"""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from twilio.twiml.voice_response import VoiceResponse

from bot.bootstrap import Container
from bot.twilio_signature import TwilioWebhook
from handlers import patch_calls
from handlers.patch_calls import VoicePlan

log = logging.getLogger(__name__)
TWIML = "application/xml"
OFFICE_RING_SECONDS = 30
TALK_LIMIT_SECONDS = 30 * 60


def call_urls(public_url: str, call_id: int) -> tuple[str, str]:
    """(where Twilio asks what to do when the volunteer answers, where its final status goes)"""
    base = f"{public_url.rstrip('/')}/twilio/voice?call={call_id}"
    return f"{base}&step=answer", f"{base}&step=status"


def twiml(plan: VoicePlan, *, dial_action: str) -> str:
    response = VoiceResponse()
    for text in plan.say:
        response.say(text, language=plan.language)
    if plan.dial:
        dial = response.dial(
            action=dial_action,
            method="POST",
            caller_id=plan.caller_id,
            timeout=OFFICE_RING_SECONDS,
            time_limit=TALK_LIMIT_SECONDS,
        )
        dial.number(plan.dial)
    elif plan.hang_up:
        response.hangup()
    return str(response)


def _seconds(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def routes(container: Container) -> list[BaseRoute]:
    settings = container.settings
    if not settings.twilio_voice:
        return []
    webhook = TwilioWebhook(settings)
    uow, org = container.uow, container.org

    async def voice(request: Request) -> Response:
        params = await webhook.signed_params(request)
        if params is None:
            return webhook.forbidden()
        step = request.query_params.get("step", "")
        try:
            call_id = int(request.query_params.get("call", ""))
        except ValueError:
            call_id = 0
        sid = params.get("CallSid", "")
        now = container.clock.now()
        if step == "status":
            outcome = await run_in_threadpool(
                patch_calls.ended, uow, call_id=call_id, call_sid=sid,
                call_status=params.get("CallStatus", ""),
                call_seconds=_seconds(params.get("CallDuration")), now=now,
            )  # fmt: skip
            log.info("patch call %s ended: %s", call_id, outcome)
            return Response(status_code=204)
        if step == "answer" and call_id:
            plan = await run_in_threadpool(
                patch_calls.answered, uow, call_id=call_id, call_sid=sid,
                answered_by=params.get("AnsweredBy"), org=org, now=now,
            )  # fmt: skip
        elif step == "dial" and call_id:
            plan = await run_in_threadpool(
                patch_calls.dialed, uow, call_id=call_id, call_sid=sid,
                dial_status=params.get("DialCallStatus", ""),
                dial_seconds=_seconds(params.get("DialCallDuration")), now=now,
            )  # fmt: skip
            log.info("patch call %s: office %s", call_id, params.get("DialCallStatus", "?"))
        else:
            plan = patch_calls.HANG_UP
        action = f"{settings.public_url.rstrip('/')}/twilio/voice?call={call_id}&step=dial"
        return Response(twiml(plan, dial_action=action), media_type=TWIML)

    return [Route("/twilio/voice", voice, methods=["POST"])]
