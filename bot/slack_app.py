"""The Slack surface: a Bolt `AsyncApp` whose listeners only translate.

Each listener acknowledges at once (Slack allows 3 seconds), then in a lazy listener builds an
`OrganizerCommand` / `OrganizerAction`, runs the handler in a worker thread (the database never
blocks the event loop), and renders the typed view (`bot/slack_render.py`). Everything an organizer
sees about volunteers goes back ephemerally through the command's `response_url`, or in a direct
message to that organizer (exports); nothing with a phone number is posted to a channel.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import slack_render as render
from bot.bootstrap import Container
from bot.slack_modals import BROADCAST_MODAL, SHIFT_MODAL, broadcast_modal, form_values, shift_modal
from bot.slack_render_reports import home_view
from handlers import views
from handlers.errors import InvalidInput, MusterError
from handlers.messages import Channel, OrganizerAction, OrganizerCommand
from handlers.organizer import commands
from handlers.organizer.stats import dashboard
from handlers.organizer.votes import open_ballots
from handlers.results import Result

log = logging.getLogger(__name__)

# Commands whose answer may take a while: they get a "working on it" acknowledgement.
SLOW = {"roster", "export", "broadcast", "find", "stats"}
QUEUED_REACTION = "outbox_tray"
REFUSED_REACTION = "no_entry_sign"
FAILED = "Something went wrong and nothing was changed. Please try again in a minute."


def build_slack_app(container: Container) -> AsyncApp:
    settings = container.settings
    assert settings.slack_bot_token and settings.slack_signing_secret
    client = AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url
    )
    app = AsyncApp(
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        client=client,
        name="muster",
    )
    SlackListeners(container).register(app)
    return app


def slack_to_plain(text: str) -> str:
    """Slack's message markup as plain text for an SMS: links, mentions, escapes."""

    def link(match: re.Match[str]) -> str:
        target, _, label = match.group(1).partition("|")
        if target.startswith(("@", "#", "!")):
            return label or ""
        if target.startswith("mailto:"):
            return label or target[7:]
        bare = re.sub(r"^https?://", "", target).rstrip("/")
        return target if not label or label.rstrip("/") in (bare, target) else f"{label} ({target})"

    text = re.sub(r"<([^<>]+)>", link, text or "")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()


class SlackListeners:
    """Bolt listeners for one container. Bolt passes only the arguments a listener names."""

    def __init__(self, container: Container):
        self.container = container
        self.inbox_channel = container.settings.slack_inbox_channel
        self.command = container.settings.slack_command

    def _renamed(self, respond: Any) -> Callable[..., Awaitable[Any]]:
        """`respond`, saying the workspace's own command name."""

        async def renamed(**kwargs: Any) -> Any:
            return await respond(**render.as_workspace_command(kwargs, self.command))

        return renamed

    def register(self, app: AsyncApp) -> None:
        app.command(self.container.settings.slack_command)(
            ack=self.ack_command, lazy=[self.on_command]
        )
        app.action(re.compile(r"^muster\.(broadcast|roster)\."))(
            ack=self.ack_only, lazy=[self.on_button]
        )
        app.view(SHIFT_MODAL)(ack=self.ack_modal, lazy=[self.on_modal])
        app.view(BROADCAST_MODAL)(ack=self.ack_modal, lazy=[self.on_modal])
        app.event("app_home_opened")(self.on_app_home_opened)
        app.event("message")(self.on_message)

    # --- running handlers off the event loop ------------------------------------------------

    async def _run(
        self,
        call: Callable[..., Result],
        message: OrganizerCommand | OrganizerAction,
        answer: Callable[[str], Awaitable[Any]],
    ) -> Result | None:
        """Run a handler in a thread; a typed error becomes `answer(text)`, in one place."""
        c = self.container
        try:
            return await asyncio.to_thread(call, message, uow=c.uow(), org=c.org, clock=c.clock)
        except MusterError as exc:
            await answer(exc.message)
        except Exception:
            log.exception("%s %r failed", type(message).__name__, message.name)
            await answer(FAILED)
        return None

    # --- /muster ------------------------------------------------------------------------------

    async def ack_command(self, ack: Any, command: dict[str, Any]) -> None:
        name, _ = commands.split_command(command.get("text", ""))
        if (name in SLOW and name != "broadcast") or (name == "broadcast" and _has_args(command)):
            await ack(text="Working on it…")
        else:
            await ack()

    async def on_command(
        self, command: dict[str, Any], respond: Any, client: AsyncWebClient
    ) -> None:
        name, args = commands.split_command(command.get("text", ""))
        cmd = OrganizerCommand(
            channel=Channel.SLACK,
            user_id=command["user_id"],
            name=name,
            args=args,
            issued_at=self.container.clock.now(),
            channel_id=command.get("channel_id"),
        )

        respond = self._renamed(respond)

        async def answer(text: str) -> None:
            await respond(text=text, response_type="ephemeral")

        result = await self._run(commands.run_command, cmd, answer)
        if result is None:
            return
        view = result.view
        if isinstance(view, views.ShiftFormView):
            modal = render.as_workspace_command(shift_modal(view), self.command)
            await client.views_open(trigger_id=command["trigger_id"], view=modal)
        elif isinstance(view, views.BroadcastFormView):
            modal = render.as_workspace_command(broadcast_modal(view), self.command)
            await client.views_open(trigger_id=command["trigger_id"], view=modal)
        elif isinstance(view, views.ExportView):
            await self._send_export(view, user_id=cmd.user_id, client=client)
            text, blocks = render.blocks(view)
            await respond(text=text, blocks=blocks, response_type="ephemeral")
        else:
            await _respond(respond, result)

    async def _send_export(
        self, view: views.ExportView, *, user_id: str, client: AsyncWebClient
    ) -> None:
        """The CSV goes to a direct message with the organizer who asked, and nowhere else."""
        dm = await client.conversations_open(users=user_id)
        await client.files_upload_v2(
            channel=dm["channel"]["id"],
            content=view.content,
            filename=view.filename,
            title=view.title,
            initial_comment=f"{view.title}: {view.rows:,} rows.",
        )

    # --- buttons --------------------------------------------------------------------------------

    async def ack_only(self, ack: Any) -> None:
        await ack()

    async def on_button(self, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        name = action["action_id"].removeprefix("muster.")
        key = "token" if name.startswith("broadcast.") else "commitment_id"
        message_ts = (body.get("container") or {}).get("message_ts", "")
        act = OrganizerAction(
            channel=Channel.SLACK,
            user_id=body["user"]["id"],
            name=name,
            values={key: action.get("value", "")},
            issued_at=self.container.clock.now(),
            action_id=f"{message_ts}:{action.get('action_ts', '')}",
        )
        # A broadcast's outcome replaces the message its button was on (the preview, the "on its
        # way" answer with Stop sending, the scheduled list), so the buttons go after one click.
        replace = name.startswith("broadcast.")
        respond = self._renamed(respond)

        async def answer(text: str) -> None:
            await respond(text=text, response_type="ephemeral", replace_original=False)

        result = await self._run(commands.run_action, act, answer)
        if result is not None:
            await _respond(respond, result, replace_original=replace)

    # --- modals ---------------------------------------------------------------------------------

    def _modal_action(self, body: dict[str, Any], view: dict[str, Any]) -> OrganizerAction:
        name = "shift.submit" if view["callback_id"] == SHIFT_MODAL else "broadcast.submit"
        return OrganizerAction(
            channel=Channel.SLACK,
            user_id=body["user"]["id"],
            name=name,
            values=form_values(view.get("state", {})),
            issued_at=self.container.clock.now(),
            action_id=view.get("id"),
        )

    async def ack_modal(self, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        """Field errors go back in the modal; a valid form closes it and the work follows."""
        act = self._modal_action(body, view)
        now = self.container.clock.now()
        try:
            await asyncio.to_thread(commands.validate_action, act, org=self.container.org, now=now)
        except InvalidInput as exc:
            await ack(response_action="errors", errors=exc.errors)
            return
        except MusterError as exc:
            first = next(iter(view.get("state", {}).get("values", {})), "title")
            await ack(response_action="errors", errors={first: exc.message})
            return
        await ack()

    async def on_modal(
        self, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        act = self._modal_action(body, view)
        channel = view.get("private_metadata") or None
        try:  # Bolt runs the lazy part even when the ack sent field errors back: nothing to do
            await asyncio.to_thread(
                commands.validate_action, act, org=self.container.org, now=act.issued_at
            )
        except MusterError:
            return

        async def answer(text: str) -> None:
            text = render.as_workspace_command(text, self.command)
            await _tell(client, user=act.user_id, channel=channel, text=text)

        result = await self._run(commands.run_action, act, answer)
        if result is not None:
            text, blocks = render.as_workspace_command(render.blocks(result.view), self.command)
            await _tell(client, user=act.user_id, channel=channel, text=text, blocks=blocks)

    # --- events -----------------------------------------------------------------------------------

    async def on_app_home_opened(self, event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        c = self.container
        stats = await asyncio.to_thread(
            dashboard, event["user"], uow=c.read_uow(), org=c.org, clock=c.clock
        )
        ballots = ()
        if stats is not None:
            ballots = await asyncio.to_thread(open_ballots, uow=c.read_uow(), org=c.org)
        await client.views_publish(user_id=event["user"], view=home_view(stats, ballots))

    async def on_message(
        self, body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient
    ) -> None:
        """A reply in a volunteer's inbox thread is texted to that volunteer (once per event)."""
        thread_ts = event.get("thread_ts")
        if (
            event.get("subtype")
            or event.get("bot_id")
            or not thread_ts
            or thread_ts == event.get("ts")
            or event.get("channel") != self.inbox_channel
        ):
            return
        act = OrganizerAction(
            channel=Channel.SLACK,
            user_id=event.get("user", ""),
            name="inbox.reply",
            values={
                "thread_ts": thread_ts,
                "text": slack_to_plain(event.get("text", "")),
                "channel": event["channel"],
                "ts": event["ts"],
            },
            issued_at=self.container.clock.now(),
            action_id=body.get("event_id") or f"{event['channel']}:{event['ts']}",
        )
        channel = event["channel"]

        async def answer(text: str) -> None:
            await _tell(client, user=act.user_id, channel=channel, text=text, thread_ts=thread_ts)
            await _react(client, channel, event["ts"], REFUSED_REACTION)

        result = await self._run(commands.run_action, act, answer)
        if result is None:
            return
        if result.intent == "reply.queued":
            await _react(client, channel, event["ts"], QUEUED_REACTION)
        elif result.reply:
            await answer(result.reply)


def _has_args(command: dict[str, Any]) -> bool:
    return bool(commands.split_command(command.get("text", ""))[1].strip())


async def _respond(respond: Any, result: Result, *, replace_original: bool = False) -> None:
    if result.view is not None:
        text, blocks = render.blocks(result.view)
    else:
        text, blocks = result.reply or "Done.", None
    await respond(
        text=text, blocks=blocks, response_type="ephemeral", replace_original=replace_original
    )


async def _tell(
    client: AsyncWebClient,
    *,
    user: str,
    channel: str | None,
    text: str,
    blocks: list[dict[str, Any]] | None = None,
    thread_ts: str | None = None,
) -> None:
    """Show one organizer something privately: ephemeral where they are, else a direct message."""
    if channel:
        try:
            await client.chat_postEphemeral(
                channel=channel, user=user, text=text, blocks=blocks, thread_ts=thread_ts
            )
            return
        except SlackApiError as exc:
            log.info(
                "ephemeral to %s failed (%s); sending a DM", channel, exc.response.get("error")
            )
    await client.chat_postMessage(channel=user, text=text, blocks=blocks)


async def _react(client: AsyncWebClient, channel: str, ts: str, name: str) -> None:
    try:
        await client.reactions_add(channel=channel, timestamp=ts, name=name)
    except SlackApiError as exc:
        if exc.response.get("error") != "already_reacted":
            log.warning("reaction %s failed: %s", name, exc.response.get("error"))
