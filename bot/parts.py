"""Wiring the scheduler's parts from a Container: the sender, the clock and the Slack poster.

`scheduler/` imports nothing of `bot/`; its classes and `run_*` functions take a unit-of-work
factory, the ports, the org config and settings values as arguments. This module reads them
from the Container and the settings and hands them over, with Prometheus (bot/metrics.py) as the
metrics port and bot/slack_render.py (with bot/slack_render_volunteers.py) as the poster's
rendering. The `run_*` functions here have the shape `bot/process.py` runs a part in:
`(container, stop)`, each on a `PartThread` (here, so that `bot/process.py` and
`bot/parts_process.py` share it without importing each other).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bot import metrics, slack_render, slack_render_volunteers
from bot.bootstrap import Container
from bot.integrations import build_action_network, build_mobilize
from bot.settings import Settings

log = logging.getLogger(__name__)

# A long-running part: `run(container, stop)`, returning once `stop` is set (bot/process.py).
Part = Callable[[Container, threading.Event], None]
# `container.extras[METRICS_PORT]`: the parts' metrics port where it is not this process's
# Prometheus (`muster serve`'s parts process forwards it: bot/parts_process.py).
METRICS_PORT = "metrics_port"

if TYPE_CHECKING:
    from handlers.ports import SmsSender
    from handlers.views import InboxHeaderView
    from scheduler.clock import Timetable
    from scheduler.sender import Sender


def sender_wiring(
    container: Container,
    *,
    sms_sender: SmsSender | None = None,
    concurrency: int | None = None,
    rate_mps: float | None = None,
) -> dict[str, Any]:
    """What a Sender takes, from the settings (SEND_CONCURRENCY, SEND_RATE_MPS, quiet hours,
    PUBLIC_URL); the keywords override them (tests, benches)."""
    from handlers.sending import SendPolicy

    settings = container.settings
    return {
        "uow": container.uow,
        "clock": container.clock,
        "sms_sender": sms_sender or container.sms_sender,
        "policy": SendPolicy(
            quiet_hours=container.org.quiet_hours,
            default_timezone=container.org.default_timezone,
            rate_mps=rate_mps or settings.send_rate_mps,
        ),
        "concurrency": concurrency or settings.send_concurrency,
        "status_callback": (
            f"{settings.public_url.rstrip('/')}/twilio/status" if settings.twilio_enabled else None
        ),
        "metrics": metrics_port(container),
    }


def metrics_port(container: Container) -> Any:
    """Where the parts report what they measure: Prometheus in this process, or, in `muster
    serve`'s parts process, the web process's (bot/parts_process.py forwards it)."""
    return container.extras.get(METRICS_PORT) or metrics.RECORDER


def sender_for(container: Container, *, worker: str | None = None,
               claim_timeout: timedelta | None = None, **overrides: Any) -> Sender:  # fmt: skip
    """A Sender wired from the container (`overrides`: see sender_wiring)."""
    from scheduler.sender import CLAIM_TIMEOUT, Sender

    return Sender(
        **sender_wiring(container, **overrides),
        worker=worker,
        claim_timeout=claim_timeout or CLAIM_TIMEOUT,
    )


def timetable_wiring(container: Container) -> dict[str, Any]:
    """What the clock's Timetable takes, from the settings (CLOCK_LEASE_SECONDS, DATABASE_URL)."""
    return {
        "engine": container.engine,
        "database_url": container.settings.database_url,
        "uow": container.uow,
        "read_uow": container.read_uow,
        "clock": container.clock,
        "org": container.org,
        "lease_ttl": timedelta(seconds=container.settings.clock_lease_seconds),
        "metrics": metrics_port(container),
        "mobilize": build_mobilize(container.settings),  # None when Mobilize is off
        "action_network": build_action_network(container.settings),  # None without its key
    }


def timetable_for(container: Container, **options: Any) -> Timetable:
    """A Timetable wired from the container; `options` are its own (leadership, reminders)."""
    from scheduler.clock import Timetable

    return Timetable(**timetable_wiring(container), **options)


@dataclass(frozen=True)
class SlackPostRender:
    """The poster's rendering port (`scheduler.ports.SlackRender`) in Slack's Block Kit."""

    command: str = "/muster"  # SLACK_COMMAND: the name alerts tell organizers to type

    def alert(self, text: str, blocks: Any) -> tuple[str, Any]:
        return slack_render.as_workspace_command((text, blocks), self.command)

    def inbox_header(self, view: InboxHeaderView) -> tuple[str, list[Any]]:
        return slack_render_volunteers.inbox_header(view)


def run_sender(container: Container, stop: threading.Event) -> None:
    """`muster worker`'s sender (and `muster serve`'s, unless --web-only)."""
    from scheduler.sender import run_sender as run

    run(stop, **sender_wiring(container))


def run_clock(container: Container, stop: threading.Event) -> None:
    """`muster clock` (and `muster serve`'s, unless --web-only)."""
    from scheduler.clock import run_clock as run

    run(stop, **timetable_wiring(container))


def run_address_lookups(container: Container, stop: threading.Event) -> None:
    """The geocoder's drain (GEOCODER=census): districts of street addresses, after the reply."""
    from scheduler.geocoding import run_geocoder

    if container.geocoder is None:
        return
    run_geocoder(stop, uow=container.uow, clock=container.clock, geocoder=container.geocoder)


def caller_wiring(container: Container, caller: Any = None) -> dict[str, Any]:
    """What the patch-through caller takes: Twilio's Calls API (or `caller`, in tests) and the
    webhook URLs under PUBLIC_URL."""
    from functools import partial

    from bot.twilio_caller import TwilioVoiceCaller
    from bot.twilio_voice import call_urls
    from scheduler.sender import worker_name

    return {
        "uow": container.uow,
        "clock": container.clock,
        "org": container.org,
        "caller": caller or TwilioVoiceCaller(container.settings),
        "urls": partial(call_urls, container.settings.public_url),
        "worker": worker_name(),
    }


def run_patch_calls(container: Container, stop: threading.Event) -> None:
    """The patch-through caller (TWILIO_VOICE=on): places the calls volunteers asked for."""
    from scheduler.patch_calls import run_caller

    if not container.settings.twilio_voice:
        return
    run_caller(stop, **caller_wiring(container))


def run_slack_poster(container: Container, stop: threading.Event) -> None:
    """The Slack poster, when Slack is configured (SLACK_BOT_TOKEN)."""
    from scheduler.slack_poster import run_slack_poster as run

    settings = container.settings
    client = None
    if settings.slack_enabled:
        assert settings.slack_bot_token is not None
        from slack_sdk import WebClient

        client = WebClient(
            token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url
        )
    run(
        stop, client=client, uow=container.uow, read_uow=container.read_uow,
        clock=container.clock, org=container.org, render=SlackPostRender(settings.slack_command),
        inbox_channel=settings.slack_inbox_channel,
    )  # fmt: skip


def worker_parts(settings: Settings) -> list[str]:
    """What `muster worker` runs (and `muster serve`'s parts process, with the clock): the sender
    and the Slack poster, and the geocoder's and the caller's drains when they are on."""
    names = ["sender", "slack"]
    if settings.geocoder != "off":
        names.append("geocoder")
    if settings.twilio_voice:
        names.append("calls")
    return names


# The parts by their names (bot/cli.py, bot/process.py, bot/parts_process.py).
RUNNERS = {
    "clock": run_clock,
    "sender": run_sender,
    "slack": run_slack_poster,
    "geocoder": run_address_lookups,
    "calls": run_patch_calls,
}


class PartThread(threading.Thread):
    """A part running in a thread; an unexpected crash is logged and stops the whole process."""

    def __init__(self, name: str, part: Part, container: Container, stop: threading.Event):
        super().__init__(name=name, daemon=True)
        self._part, self._container, self._stop_event = part, container, stop
        self.failed = False

    def run(self) -> None:
        try:
            self._part(self._container, self._stop_event)
        except Exception:
            self.failed = True
            log.exception("%s crashed; stopping", self.name)
            self._stop_event.set()
