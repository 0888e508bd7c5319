"""Wiring of the peer services (Mobilize, Action Network) and the `muster sync` command.

Each integration is off unless its settings are given: `build_mobilize` / `build_action_network`
answer None then, and nothing reaches out.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from bot.settings import Settings

if TYPE_CHECKING:
    from bot.action_network_api import ActionNetworkHttpApi
    from bot.bootstrap import Container
    from bot.mobilize_api import MobilizeHttpApi


def build_mobilize(settings: Settings) -> MobilizeHttpApi | None:
    if not settings.mobilize_enabled:
        return None
    from bot.mobilize_api import MobilizeHttpApi

    key = settings.mobilize_api_key
    return MobilizeHttpApi(
        base_url=settings.mobilize_api_url,
        organization_id=str(settings.mobilize_organization_id),
        api_key=key.get_secret_value() if key is not None else None,
    )


def build_action_network(settings: Settings) -> ActionNetworkHttpApi | None:
    if not settings.action_network_enabled or settings.action_network_api_key is None:
        return None
    from bot.action_network_api import ActionNetworkHttpApi

    return ActionNetworkHttpApi(
        base_url=settings.action_network_api_url,
        api_key=settings.action_network_api_key.get_secret_value().strip(),
    )


def sync_command(container: Container, what: str) -> int:
    """`muster sync mobilize|action_network`: one sync now; prints what changed (or why not)."""
    if what == "action_network":
        return _sync_action_network(container)
    from handlers.mobilize import sync_mobilize

    if what != "mobilize":
        print(f"muster: nothing to sync called {what}", file=sys.stderr)
        return 2
    mobilize = build_mobilize(container.settings)
    if mobilize is None:
        print("muster: Mobilize is off (set MOBILIZE_ORGANIZATION_ID)", file=sys.stderr)
        return 2
    try:
        report = sync_mobilize(
            uow=container.uow(), org=container.org, clock=container.clock, mobilize=mobilize
        )
    finally:
        mobilize.close()
    print(f"Mobilize: {report.summary}")
    return 0 if report.error is None else 1


def _sync_action_network(container: Container) -> int:
    from handlers.action_network_sync import sync_action_network

    api = build_action_network(container.settings)
    if api is None:
        print("muster: Action Network is off (set ACTION_NETWORK_API_KEY)", file=sys.stderr)
        return 2
    try:
        report = sync_action_network(
            uow=container.uow(), org=container.org, clock=container.clock, api=api
        )
    finally:
        api.close()
    print(f"Action Network: {report.summary}")
    return 0 if report.error is None else 1
