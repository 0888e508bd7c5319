"""The Slack poster: delivers `slack_posts` rows (the Slack outbox) to the organizers' Slack.

Posts are written by handlers in the same transaction as what caused them; this loop sends them:
- at most one post per second per channel (Slack's chat.postMessage limit), in row order;
- a `ratelimited` answer (HTTP 429) holds that channel for its `Retry-After` seconds;
- any other failure is retried with exponential backoff (up to 15 minutes apart), never dropped;
- a volunteer's free text goes in that volunteer's inbox thread: the first one opens the thread
  with a parent message (name, masked number, ZIP, commitments), whose ts is kept on the
  volunteer (`volunteers.inbox_thread_ts`).
Rows are claimed with a conditional UPDATE, so a second poster (`muster worker` beside
`muster serve`) never posts the same row twice.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import select, update

from handlers.config import OrgConfig
from handlers.ports import Clock
from scheduler.ports import SlackRender, UowFactory
from storage.models import (
    Delivery,
    DeliveryStatus,
    SlackPost,
    SlackPostStatus,
    SlackReplyMark,
    Volunteer,
)
from storage.uow import UnitOfWork

if TYPE_CHECKING:  # the Slack client and the handlers load only when Slack is configured
    from slack_sdk import WebClient

    from handlers.views import InboxHeaderView

log = logging.getLogger(__name__)

PER_CHANNEL = timedelta(seconds=1)
CLAIM_FOR = timedelta(seconds=60)  # a crashed poster's claim lapses after this
MAX_BACKOFF = 900.0
BATCH = 50
THREAD_GONE = {"thread_not_found", "message_not_found"}
REACTIONS = {"sent": "white_check_mark", "failed": "x"}
REPLY_OUTCOMES = (
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.FAILED,
    DeliveryStatus.UNDELIVERED,
    DeliveryStatus.SKIPPED,
    DeliveryStatus.EXPIRED,
    DeliveryStatus.CANCELLED,
)


def run_slack_poster(
    stop: threading.Event,
    *,
    client: WebClient | None,
    uow: UowFactory,
    read_uow: UowFactory,
    clock: Clock,
    org: OrgConfig,
    render: SlackRender,
    inbox_channel: str | None,
) -> None:
    """A part of `muster worker` / `muster serve`; `client` is None when Slack is not configured
    (the part then has nothing to do). bot/parts.py passes the rest from the settings."""
    if client is None:
        return
    poster = SlackPoster(
        client=client,
        uow=uow(),
        read_uow=read_uow(),
        clock=clock,
        org=org,
        render=render,
        inbox_channel=inbox_channel,
    )
    log.info("slack poster started")
    while not stop.is_set():
        try:
            wait = poster.post_due()
        except Exception:
            log.exception("slack poster pass failed; trying again shortly")
            wait = 5.0
        stop.wait(min(max(wait, 0.05), 1.0))
    log.info("slack poster stopped")


@dataclass
class SlackPoster:
    client: WebClient
    uow: UnitOfWork
    read_uow: UnitOfWork
    clock: Clock
    org: OrgConfig
    render: SlackRender  # alerts name this workspace's slash command; inbox thread headers
    inbox_channel: str | None
    _next_free: dict[str, datetime] = field(default_factory=dict)

    def post_due(self) -> float:
        """Post what is due and allowed now; returns seconds until something may be due."""
        now = self.clock.now()
        with self.read_uow as uow:
            due = list(
                uow.session.execute(
                    select(SlackPost.id, SlackPost.channel, SlackPost.next_attempt_at)
                    .where(
                        SlackPost.status == SlackPostStatus.PENDING,
                        SlackPost.next_attempt_at <= now,
                    )
                    .order_by(SlackPost.id)
                    .limit(BATCH)
                )
            )
        self.mark_replies()
        held: set[str] = set()  # channels whose earlier post is waiting: keep the order
        for post_id, channel, due_at in due:
            channel = channel or self.inbox_channel
            if channel is None:
                self._retry_later(post_id, "no channel: set SLACK_INBOX_CHANNEL", 300.0)
                continue
            if channel in held or self._next_free.get(channel, now) > self.clock.now():
                held.add(channel)
                continue
            if not self._claim(post_id, due_at):
                continue
            if not self._deliver(post_id, channel):
                held.add(channel)
        return self._until_next()

    # --- organizers' inbox replies: marked once their text went or failed --------------------

    def mark_replies(self) -> int:
        """React on each organizer reply whose text has now been sent (✅) or could not be (❌)."""
        with self.read_uow as uow:
            done = list(
                uow.session.execute(
                    select(
                        SlackReplyMark.delivery_key,
                        SlackReplyMark.channel,
                        SlackReplyMark.message_ts,
                        Delivery.status,
                    )
                    .join(Delivery, Delivery.idempotency_key == SlackReplyMark.delivery_key)
                    .where(SlackReplyMark.outcome.is_(None), Delivery.status.in_(REPLY_OUTCOMES))
                    .order_by(SlackReplyMark.created_at)
                    .limit(BATCH)
                )
            )
        marked = 0
        for key, channel, ts, status in done:
            outcome = (
                "sent" if status in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED) else "failed"
            )
            try:
                self.client.reactions_add(channel=channel, timestamp=ts, name=REACTIONS[outcome])
            except SlackApiError as exc:
                error = exc.response.get("error")
                if exc.response.status_code == 429 or error == "ratelimited":
                    return marked  # the next pass tries again
                if error not in ("already_reacted", "message_not_found", "channel_not_found"):
                    log.warning("marking reply %s failed: %s", key, error)
                    continue
            except (SlackClientError, OSError) as exc:
                log.warning("marking reply %s failed: %s", key, exc)
                return marked
            with self.uow as uow:
                uow.session.execute(
                    update(SlackReplyMark)
                    .where(SlackReplyMark.delivery_key == key)
                    .values(outcome=outcome)
                    .execution_options(synchronize_session=False)
                )
                uow.commit()
            marked += 1
        return marked

    # --- one post --------------------------------------------------------------------------------

    def _claim(self, post_id: int, due_at: datetime) -> bool:
        with self.uow as uow:
            claimed = uow.session.execute(
                update(SlackPost)
                .where(
                    SlackPost.id == post_id,
                    SlackPost.status == SlackPostStatus.PENDING,
                    SlackPost.next_attempt_at == due_at,
                )
                .values(next_attempt_at=self.clock.now() + CLAIM_FOR)
                .execution_options(synchronize_session=False)
            ).rowcount
            uow.commit()
        return claimed == 1

    def _deliver(self, post_id: int, channel: str) -> bool:
        """Try the post once; True when it went (or was safely rescheduled without a call)."""
        with self.read_uow as uow:
            post = uow.session.get(SlackPost, post_id)
            assert post is not None
            kind, text, blocks = post.kind, post.text, post.blocks
            if kind == "alert":  # the clock's alerts name the slash command
                text, blocks = self.render.alert(text, blocks)
            thread_ts, volunteer_id = post.thread_ts, post.volunteer_id
            parent = None
            if kind == "inbox" and volunteer_id is not None and thread_ts is None:
                thread_ts = uow.session.scalar(
                    select(Volunteer.inbox_thread_ts).where(Volunteer.id == volunteer_id)
                )
                if thread_ts is None:
                    from handlers.organizer.inbox import inbox_header

                    parent = inbox_header(
                        uow.session, volunteer_id=volunteer_id, now=self.clock.now(), org=self.org
                    )
        try:
            if parent is not None:
                self._open_thread(parent, channel)
                # The parent used this second of the channel; the post itself goes next.
                self._release(post_id, self.clock.now() + PER_CHANNEL)
                return False
            response = self.client.chat_postMessage(
                channel=channel,
                text=_escape(text),
                blocks=blocks,
                thread_ts=thread_ts,
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as exc:
            self._failed(post_id, channel, exc, volunteer_id=volunteer_id)
            return False
        except (SlackClientError, OSError) as exc:
            self._retry_later(post_id, f"{type(exc).__name__}: {exc}", self._backoff(post_id))
            return False
        finally:
            self._next_free[channel] = self.clock.now() + PER_CHANNEL
        with self.uow as uow:
            uow.session.execute(
                update(SlackPost)
                .where(SlackPost.id == post_id)
                .values(status=SlackPostStatus.POSTED, posted_ts=response.get("ts"), error=None)
                .execution_options(synchronize_session=False)
            )
            uow.commit()
        return True

    def _open_thread(self, header: InboxHeaderView, channel: str) -> None:
        text, blocks = self.render.inbox_header(header)
        response = self.client.chat_postMessage(channel=channel, text=text, blocks=blocks)
        with self.uow as uow:
            uow.session.execute(
                update(Volunteer)
                .where(Volunteer.id == header.volunteer_id, Volunteer.inbox_thread_ts.is_(None))
                .values(inbox_thread_ts=response["ts"])
                .execution_options(synchronize_session=False)
            )
            uow.commit()

    # --- failures ---------------------------------------------------------------------------

    def _failed(
        self, post_id: int, channel: str, exc: SlackApiError, *, volunteer_id: int | None
    ) -> None:
        response = exc.response
        error = str(response.get("error") or exc)
        if response.status_code == 429 or error == "ratelimited":
            retry_after = _retry_after(response.headers)
            log.info("slack ratelimited on %s; waiting %.0f s", channel, retry_after)
            hold_until = self.clock.now() + timedelta(seconds=retry_after)
            self._next_free[channel] = hold_until
            self._release(post_id, hold_until, error="ratelimited", count_attempt=False)
            return
        if error in THREAD_GONE and volunteer_id is not None:
            with self.uow as uow:  # the thread's parent was deleted: open a new thread
                uow.session.execute(
                    update(Volunteer)
                    .where(Volunteer.id == volunteer_id)
                    .values(inbox_thread_ts=None)
                    .execution_options(synchronize_session=False)
                )
                uow.commit()
        log.warning("slack post %s failed: %s", post_id, error)
        self._retry_later(post_id, error, self._backoff(post_id))

    def _backoff(self, post_id: int) -> float:
        with self.read_uow as uow:
            attempts = uow.session.scalar(select(SlackPost.attempts).where(SlackPost.id == post_id))
        return min(2.0 ** (attempts or 0), MAX_BACKOFF)

    def _retry_later(self, post_id: int, error: str, seconds: float) -> None:
        self._release(post_id, self.clock.now() + timedelta(seconds=seconds), error=error)

    def _release(
        self, post_id: int, at: datetime, *, error: str | None = None, count_attempt: bool = True
    ) -> None:
        values: dict[str, object] = {"next_attempt_at": at}
        if error is not None:
            values["error"] = error[:500]
            if count_attempt:
                values["attempts"] = SlackPost.attempts + 1
        with self.uow as uow:
            uow.session.execute(
                update(SlackPost)
                .where(SlackPost.id == post_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            uow.commit()

    def _until_next(self) -> float:
        with self.read_uow as uow:
            next_at = uow.session.scalar(
                select(SlackPost.next_attempt_at)
                .where(SlackPost.status == SlackPostStatus.PENDING)
                .order_by(SlackPost.next_attempt_at)
                .limit(1)
            )
        if next_at is None:
            return 1.0
        return max((next_at - self.clock.now()).total_seconds(), 0.0)


def _retry_after(headers: dict[str, object]) -> float:
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            try:
                return max(float(str(value)), 1.0)
            except ValueError:
                break
    return 30.0


def _escape(text: str) -> str:
    """Text from volunteers must not ping a channel (<!channel>) or fake a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
