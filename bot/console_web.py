"""`GET /console`: try Muster on your own machine, with no Slack workspace and no Twilio account.

A page with two panes. On the right, a phone: pick or type a number and text the bot exactly as a
volunteer would; each text becomes an `InboundText` (channel `console`) and goes to
`handlers.volunteer.receive.receive_text`, the function behind `POST /twilio/sms`. On the left,
the organizer's Slack: `/muster ...` goes to `handlers.organizer.commands.run_command` (buttons
such as Confirm to `run_action`) and comes back through `bot.text_render.render_text`. What the
sender delivers through the console transport (broadcasts, reminders, waitlist promotions,
replies) shows up in the right phone as it is sent: the page polls small JSON endpoints once a
second, which read what they show through `bot/console_queries.py`.

Who may use it:
- only when no Twilio credentials are set (with Twilio configured these routes do not exist: 404);
- only from a loopback client address, as the server saw the connection (never a header): 403;
- the API also requires a loopback `Host` (against DNS rebinding) and JSON bodies (a cross-site
  form cannot post JSON without a CORS preflight, which is never granted), so a web page open in
  the same browser cannot drive the console.
The console's organizer is a dedicated identity, `console` (`CONSOLE_ORGANIZER`), an organizer
here whatever ORGANIZER_SLACK_IDS says: whoever sits at this machine already owns the database.
The audit log records its actions as `console`.
"""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.bootstrap import Container
from bot.console_queries import inbox, phones, thread_items
from bot.text_render import render_text
from handlers import views
from handlers.config import OrgConfig
from handlers.errors import MusterError
from handlers.messages import Channel, InboundText, OrganizerAction, OrganizerCommand
from handlers.organizer.commands import run_action, run_command, split_command
from handlers.phones import display, masked, to_e164
from handlers.results import Result
from handlers.volunteer.receive import receive_text

log = logging.getLogger(__name__)

CONSOLE_ORGANIZER = "console"
STATIC = Path(__file__).parent / "static"
ASSETS = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
}
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}
MAX_ROSTER_BUTTONS = 10
MAX_TEXT = 1600  # Twilio's own limit for one message body

Endpoint = Callable[[Request], Awaitable[Response]]


def is_loopback_client(request: Request) -> bool:
    """The peer address of the TCP connection (the ASGI scope's client), never a header."""
    client = request.client
    if client is None or not client.host:
        return False
    try:
        address = ipaddress.ip_address(client.host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback


def _host_is_loopback(request: Request) -> bool:
    host = request.headers.get("host", "")
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name.lower() in LOOPBACK_HOSTS


def _forbidden(why: str) -> Response:
    return Response(f"forbidden: {why}\n", status_code=403, media_type="text/plain")


def guarded(endpoint: Endpoint, *, api: bool) -> Endpoint:
    async def wrapper(request: Request) -> Response:
        if not is_loopback_client(request):
            log.warning("refused /console to a non-loopback client")
            return _forbidden("the console answers only on this machine (loopback)")
        if api and not _host_is_loopback(request):
            return _forbidden("the console API answers only to a localhost Host")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if api and request.method == "POST" and content_type != "application/json":
            return _forbidden("the console API takes JSON")
        return await endpoint(request)

    return wrapper


def console_org(org: OrgConfig) -> OrgConfig:
    """The organization as the console sees it: the console's organizer is an organizer."""
    return dataclasses.replace(org, organizer_ids=org.organizer_ids | {CONSOLE_ORGANIZER})


def console_url(host: str, port: int) -> str | None:
    """The console's address on this machine for a server listening on host:port (None when
    that host is not reachable from loopback, where the console answers)."""
    if host.lower() == "localhost":
        return f"http://localhost:{port}/console"
    try:
        address = ipaddress.ip_address(host.strip("[]") or "0.0.0.0")  # noqa: S104 (a name)
    except ValueError:
        return None  # a host name: the console answers only when it is loopback
    if address.is_unspecified:  # every interface, loopback among them
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    if not address.is_loopback:
        return None
    name = f"[{address}]" if address.version == 6 else str(address)
    return f"http://{name}:{port}/console"


def routes(container: Container) -> list[BaseRoute]:
    if container.settings.twilio_enabled:
        return []  # a real number is configured: there is no console (404)
    api = ConsoleApi(container)
    listen = container.extras.get("listen")  # (host, port) given to `muster serve`
    if listen is None:
        log.info("the local console is on: open %s/console", container.settings.public_url)
    elif (url := console_url(*listen)) is None:
        log.info("the local console is on, but it answers only to this machine's loopback and "
                 "the server listens on %s only: serve on --host 127.0.0.1", listen[0])  # fmt: skip
    else:
        log.info("the local console is on: open %s", url)
    pages: list[tuple[str, Endpoint, list[str], bool]] = [
        ("/console", api.page, ["GET"], False),
        ("/console/static/{name}", api.asset, ["GET"], False),
        ("/console/api/state", api.state, ["GET"], True),
        ("/console/api/thread", api.thread, ["GET"], True),
        ("/console/api/text", api.text, ["POST"], True),
        ("/console/api/command", api.command, ["POST"], True),
        ("/console/api/action", api.action, ["POST"], True),
    ]
    return [
        Route(path, guarded(endpoint, api=is_api), methods=methods)
        for path, endpoint, methods, is_api in pages
    ]


class ConsoleApi:
    def __init__(self, container: Container):
        self.container = container
        self.org = console_org(container.org)

    # --- the page ------------------------------------------------------------------------

    async def page(self, _request: Request) -> Response:
        return FileResponse(
            STATIC / "console.html",
            media_type="text/html; charset=utf-8",
            headers=_NO_STORE | _CSP,
        )

    async def asset(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ASSETS:
            return Response("not found\n", status_code=404, media_type="text/plain")
        return FileResponse(STATIC / name, media_type=ASSETS[name], headers=_NO_STORE)

    # --- reading ---------------------------------------------------------------------------

    async def state(self, _request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(self._state), headers=_NO_STORE)

    def _state(self) -> dict[str, Any]:
        with self.container.read_uow() as uow:
            return {
                "org": self.org.org_name,
                "organizer": CONSOLE_ORGANIZER,
                "command": self.container.settings.slack_command,
                "phones": phones(uow.session),
                "inbox": inbox(uow.session),
            }

    async def thread(self, request: Request) -> Response:
        phone = to_e164(request.query_params.get("phone"))
        if phone is None:
            return JSONResponse({"error": "not a valid phone number"}, status_code=400)
        now = self.container.clock.now()
        items = await run_in_threadpool(self._thread, phone, now)
        return JSONResponse(
            {"phone": phone, "display": display(phone), "items": items}, headers=_NO_STORE
        )

    def _thread(self, phone: str, now: datetime) -> list[dict[str, Any]]:
        with self.container.read_uow() as uow:
            return thread_items(uow.session, phone, now=now)

    # --- acting ------------------------------------------------------------------------------

    async def text(self, request: Request) -> Response:
        body = await _json(request)
        if body is None:
            return JSONResponse({"error": "send JSON: {phone, text}"}, status_code=400)
        phone = to_e164(str(body.get("phone", "")))
        text = str(body.get("text", ""))
        if phone is None:
            return JSONResponse({"error": "That is not a valid phone number."}, status_code=400)
        if not text.strip() or len(text) > MAX_TEXT:
            return JSONResponse({"error": f"Type 1 to {MAX_TEXT} characters."}, status_code=400)
        msg = InboundText(
            channel=Channel.CONSOLE,
            phone=phone,
            text=text,
            received_at=self.container.clock.now(),
            message_id=f"console-{uuid.uuid4().hex}",
        )
        result = await run_in_threadpool(
            receive_text,
            msg,
            uow=self.container.uow(),
            org=self.org,
            clock=self.container.clock,
        )
        log.info("console text from %s: %s", masked(phone), result.intent)
        return JSONResponse({"phone": phone, "reply": result.reply, "intent": result.intent})

    async def command(self, request: Request) -> Response:
        body = await _json(request)
        if body is None:
            return JSONResponse({"error": "send JSON: {text}"}, status_code=400)
        answer = await run_in_threadpool(
            run_console_command, self.container, self.org, str(body.get("text", ""))
        )
        return JSONResponse(answer)

    async def action(self, request: Request) -> Response:
        body = await _json(request)
        if body is None or not isinstance(body.get("values", {}), dict):
            return JSONResponse({"error": "send JSON: {name, values}"}, status_code=400)
        values = {str(k): str(v) for k, v in body.get("values", {}).items()}
        answer = await run_in_threadpool(
            run_console_action, self.container, self.org, str(body.get("name", "")), values
        )
        return JSONResponse(answer)


# --- the organizer's pane ------------------------------------------------------------------------


def run_console_command(container: Container, org: OrgConfig, line: str) -> dict[str, Any]:
    """`/muster ...` typed in the organizer's pane, as Slack would hand it to the handler."""
    prefix = container.settings.slack_command
    text = line.strip()
    if text.lower().startswith(prefix.lower()):
        text = text[len(prefix) :]
    elif text.startswith("/"):
        return {"ok": False, "text": f"The console runs {prefix} commands, e.g. {prefix} help."}
    name, args = split_command(text)
    cmd = OrganizerCommand(
        channel=Channel.CONSOLE,
        user_id=CONSOLE_ORGANIZER,
        name=name,
        args=args,
        issued_at=container.clock.now(),
        channel_id="console",
    )
    return _answer(lambda: run_command(cmd, uow=container.uow(), org=org, clock=container.clock))


def run_console_action(
    container: Container, org: OrgConfig, name: str, values: dict[str, str]
) -> dict[str, Any]:
    """A button of an earlier answer (Confirm, Cancel, Stop sending, Attended, No-show)."""
    action = OrganizerAction(
        channel=Channel.CONSOLE,
        user_id=CONSOLE_ORGANIZER,
        name=name,
        values=values,
        issued_at=container.clock.now(),
        action_id=f"console-{uuid.uuid4().hex}",
    )
    return _answer(lambda: run_action(action, uow=container.uow(), org=org, clock=container.clock))


def _answer(call: Callable[[], Result]) -> dict[str, Any]:
    try:
        result = call()
    except MusterError as exc:  # the handler's own words: a usage line, an unknown shift ...
        return {"ok": False, "text": exc.message, "actions": []}
    answer: dict[str, Any] = {"ok": True, "text": render_text(result), "actions": []}
    view = result.view
    if isinstance(view, views.BroadcastPreviewView):
        token = {"token": view.token}
        answer["actions"] = [
            {"label": "Confirm", "name": "broadcast.confirm", "values": token, "style": "primary"},
            {"label": "Cancel", "name": "broadcast.cancel", "values": token},
        ]
    elif isinstance(view, views.BroadcastDoneView) and view.stoppable and view.broadcast_id:
        token = {"token": f"b:{view.broadcast_id}"}
        answer["actions"] = [{"label": "Stop sending", "name": "broadcast.stop", "values": token}]
    elif isinstance(view, views.ScheduleListView):
        answer["actions"] = [
            {"label": f"Stop #{g.id}", "name": "broadcast.stop", "values": {"token": f"b:{g.id}"}}
            for g in view.going_out
        ]
    elif isinstance(view, views.RosterView) and view.attendance_open:
        for entry in view.entries[:MAX_ROSTER_BUTTONS]:
            if entry.status in ("committed", "confirmed"):
                ids = {"commitment_id": str(entry.commitment_id)}
                answer["actions"] += [
                    {"label": f"{entry.name} attended", "name": "roster.attended", "values": ids},
                    {"label": f"{entry.name} no-show", "name": "roster.no_show", "values": ids},
                ]
    elif isinstance(view, views.ExportView):
        answer["download"] = {
            "filename": view.filename,
            "content_b64": base64.b64encode(view.content).decode("ascii"),
            "rows": view.rows,
        }
    return answer


_NO_STORE = {"Cache-Control": "no-store"}
_CSP = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


async def _json(request: Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.body())
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
