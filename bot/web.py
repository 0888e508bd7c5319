"""The one ASGI app: Twilio's webhooks, Slack's events, the health check, the local console."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from bot import schema_check
from bot.bootstrap import Container
from bot.logs import RequestIdMiddleware

log = logging.getLogger(__name__)


def create_app(
    container: Container,
    *,
    on_startup: Callable[[], None] | None = None,
    on_shutdown: Callable[[], None] | None = None,
) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if on_startup:
            await run_in_threadpool(on_startup)
        try:
            yield
        finally:
            for close in container.extras.get("closers", []):  # (the SMS desk's threads)
                await run_in_threadpool(close)
            if on_shutdown:
                await run_in_threadpool(on_shutdown)

    async def healthz(_request: Request) -> JSONResponse:
        status, body = await run_in_threadpool(schema_check.health, container)
        return JSONResponse(body, status_code=status)

    routes: list[BaseRoute] = [Route("/healthz", healthz, methods=["GET"])]
    routes += _optional_routes(container)
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(RequestIdMiddleware)])
    app.state.container = container
    return app


def _optional_routes(container: Container) -> list[BaseRoute]:
    """Each surface lives in its own module and decides for itself whether it is on."""
    from bot import (
        action_network_web,
        console_web,
        metrics,
        slack_web,
        twilio_inbound,
        twilio_status,
        twilio_voice,
    )

    routes: list[BaseRoute] = []
    for module in (twilio_inbound, twilio_status, twilio_voice, slack_web, console_web,
                   metrics, action_network_web):  # fmt: skip
        routes += module.routes(container)
    return routes
