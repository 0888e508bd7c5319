"""`POST /slack/events`: Bolt's Starlette adapter in front of the AsyncApp (bot/slack_app.py).

Slash commands, buttons, modal submissions and the Events API all arrive here; Bolt checks the
signature and the 5-minute timestamp window. Without SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET the
route is not mounted, so the path answers 404.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.bootstrap import Container


def routes(container: Container) -> list[BaseRoute]:
    if not container.settings.slack_enabled:
        return []
    from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler

    from bot.slack_app import build_slack_app

    handler = AsyncSlackRequestHandler(build_slack_app(container))

    async def slack_events(request: Request) -> Response:
        return await handler.handle(request)

    return [Route("/slack/events", slack_events, methods=["POST"])]
