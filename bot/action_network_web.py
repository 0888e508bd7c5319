"""`POST /actionnetwork/webhook/{ACTION_NETWORK_WEBHOOK_SECRET}`: Action Network's webhooks.

Action Network signs nothing: the secret in the path is the proof, compared in constant time.
A wrong secret (or none set: the route is then absent) is a 404 and nothing is stored. The body
is a JSON array of webhook items (`handlers.action_network_people.receive_webhook`); 200 with
what came of them. A failure while storing is a 500, so Action Network delivers the batch again,
and the batch's remembered keys make that redelivery change nothing twice.
"""

from __future__ import annotations

import hmac
import json
import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.bootstrap import Container
from handlers.action_network_people import receive_webhook

log = logging.getLogger(__name__)

MAX_BODY = 5 * 1024 * 1024  # bytes: Action Network batches are far smaller


def routes(container: Container) -> list[BaseRoute]:
    setting = container.settings.action_network_webhook_secret
    secret = setting.get_secret_value().strip() if setting is not None else ""
    if not secret:
        return []
    expected = secret.encode()

    async def webhook(request: Request) -> Response:
        given = str(request.path_params.get("secret", "")).encode()
        if not hmac.compare_digest(given, expected):
            return PlainTextResponse("Not Found", status_code=404)
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "too large"}, status_code=413)
        try:
            items = json.loads(body)
        except ValueError:
            return JSONResponse({"error": "not JSON"}, status_code=400)
        if isinstance(items, dict):
            items = [items]
        if not isinstance(items, list):
            return JSONResponse({"error": "expected an array of webhook items"}, status_code=400)
        report = await run_in_threadpool(
            receive_webhook, items, uow=container.uow(), org=container.org, clock=container.clock
        )
        log.info(
            "Action Network webhook: %s",
            ", ".join(f"{k} {n}" for k, n in report.as_dict().items() if n) or "empty",
        )
        return JSONResponse(report.as_dict())

    return [Route("/actionnetwork/webhook/{secret}", webhook, methods=["POST"])]
