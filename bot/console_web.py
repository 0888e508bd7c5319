"""Routes of this surface (filled in by its issue)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from bot.bootstrap import Container


def routes(container: Container) -> list[BaseRoute]:
    return []
