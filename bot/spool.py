"""The inbound spool: a volunteer's text is not lost while the database is away.

Twilio does not retry an inbound text by default. So when a signed text arrives and the database
cannot be reached (the connection is refused, drops, or times out), the webhook keeps the signed
request in a local directory (`SPOOL_DIR`) and answers HELP, and acknowledges any other text but
a STOP from a number `bot.consent_view` knows to be subscribed (nothing to any other). A background
replayer, in every web process, replays the kept requests in the order they came, through the same
handler, once the database answers again; what the handler would have replied goes out as a text
through the outbox. The handler is idempotent on MessageSid, so a request replayed twice (a crash
between the replay and the file's removal) is answered but not acted on twice.

While a number's earlier text waits in the spool, its new ones join the queue behind it instead
of overtaking it (a volunteer's conversation keeps its order); other numbers' texts are answered
at once when the database is back, so a long spool drains under load. How a request is kept, one
durable and private file each, is `bot/spool_files.py`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from twilio.request_validator import RequestValidator

from bot.bootstrap import Container
from bot.consent_view import ConsentView
from bot.spool_files import SUFFIX, Spool, SpooledRequest, sender_key
from bot.twilio_form import inbound_text
from handlers.config import OrgConfig
from handlers.keywords import Intent, parse
from handlers.messages import InboundText
from handlers.phones import masked
from handlers.results import OutboundSms, Result
from handlers.sending import COMPLIANCE, enqueue_sms
from handlers.sms_text import help_reply
from handlers.volunteer.receive import receive_text
from storage.db import is_database_away

log = logging.getLogger(__name__)


def generic_reply(
    org: OrgConfig, text: str, opt_out_type: str | None, *, subscribed: bool = True
) -> str | None:
    """The short answer while the database is away. HELP gets its real answer, which needs no
    database. None for an opt-out: nothing but the one confirmation may follow a STOP, and that
    comes when the text is replayed (or from Twilio). None too for a number not known to be
    subscribed (`subscribed`, from `bot.consent_view`): one that opted out (or was erased) gets
    nothing, and a new one its real answer when the text is replayed."""
    if opt_out_type:  # Twilio's Advanced Opt-Out has answered already
        return None
    parsed = parse(text)
    if parsed.intent == Intent.OPT_OUT:
        return None
    if parsed.intent == Intent.HELP:
        return help_reply(parsed.language, org=org.org_name, contact=org.org_contact)
    if not subscribed:
        return None
    contact = f" Questions: {org.org_contact}." if org.org_contact else ""
    return f"{org.org_name}: thanks, we got your message and will answer it shortly.{contact}"


def answer_or_keep_all(
    container: Container,
    requests: Sequence[SpooledRequest],
    answer_all: Callable[[list[int]], Sequence[Result | Exception]],
) -> list[Result | Exception | None]:
    """The webhook's side, for the texts a web process answers together: answer them now
    (`answer_all(indexes)`, one outcome per index), or keep a text when the database is away,
    and while older texts from the same number wait in the spool, so that none is overtaken;
    other numbers' texts go straight through once the database is back.

    An outcome is the text's `Result` (the generic reply when it was kept), an exception the
    handler raised for it, or None: "the database is away and spooling is off (`SPOOL_DIR=off`)",
    for which the webhook answers 503 so that Twilio's retry (connection overrides,
    docs/deploy.md) delivers it again.
    """
    spool = spool_for(container)
    waiting = spool.waiting_senders() if spool is not None else frozenset()
    view = consent_view_for(container)
    now = [
        i
        for i, r in enumerate(requests)
        if not waiting or sender_key(r.params.get("From")) not in waiting
    ]
    outcomes: list[Result | Exception | None] = [None] * len(requests)
    answered = set()
    for i, outcome in zip(now, answer_all(now) if now else [], strict=True):
        outcomes[i] = outcome
        if not (isinstance(outcome, Exception) and is_database_away(outcome)):
            answered.add(i)
        if isinstance(outcome, Result):
            view.answered(requests[i].params.get("From"), outcome.intent)
    for i, request in enumerate(requests):
        if i in answered:
            continue
        if spool is None:
            log.warning(
                "database away and SPOOL_DIR=off: inbound %s refused with 503", request.message_sid
            )
            outcomes[i] = None
            continue
        phone, body = request.params.get("From"), request.params.get("Body", "")
        kind = request.params.get("OptOutType")
        # A number whose earlier text waiting here is a STOP is opted out, as far as anyone
        # here can tell (its ledger row is written when the STOP is replayed).
        stopping = sender_key(phone) in waiting and _stop_waiting(spool, phone)
        spool.put(request)
        if (kind or "").strip().upper() == "STOP" or parse(body).intent == Intent.OPT_OUT:
            view.answered(phone, "opt_out")
        subscribed = not stopping and view.subscribed(phone)
        reply = generic_reply(container.org, body, kind, subscribed=subscribed)
        outcomes[i] = Result(reply=reply, intent="spooled")
    return outcomes


def _stop_waiting(spool: Spool, phone: str | None) -> bool:
    """Whether a text from `phone` waiting in the spool is a STOP (read from its files, which
    are few: only while the database is away)."""
    key = sender_key(phone)
    for file in spool.pending():
        if not file.name.endswith(key + SUFFIX):
            continue
        try:
            params = spool.load(file).params
        except (OSError, ValueError, KeyError):
            continue
        kind = (params.get("OptOutType") or "").strip().upper()
        if kind == "STOP" or parse(params.get("Body", "")).intent == Intent.OPT_OUT:
            return True
    return False


def consent_view_for(container: Container) -> ConsentView:
    """The process's view of who is subscribed (one per container), for the spool's replies."""
    view = container.extras.get("consent_view")
    if view is None:
        view = container.extras.setdefault("consent_view", ConsentView(sender_key))
    return view


def replay_through(
    container: Container,
    request: SpooledRequest,
    *,
    to_message: Callable[[dict[str, str], datetime], InboundText | None],
) -> Result | None:
    """The replayer's side: check the signature again, run the same handler with the time the
    text arrived, and send what it would have replied as a text (once, by MessageSid)."""
    settings = container.settings
    token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else ""
    url = settings.public_url.rstrip("/") + request.path
    if not token or not RequestValidator(token).validate(url, request.params, request.signature):
        raise ValueError("the spooled request's Twilio signature does not match")
    msg = to_message(request.params, request.received_at)
    if msg is None:
        return None
    result = receive_text(msg, uow=container.uow(), org=container.org, clock=container.clock)
    if result.reply:
        # An opt-out's one confirmation and the answer to HELP go even to a number that has
        # opted out (the volunteer has, by now), and at any hour; any other reply is a text like
        # the others.
        required = result.intent in ("opt_out", "help")
        reply = OutboundSms(
            phone=msg.phone,
            body=result.reply,
            kind=COMPLIANCE if required else "reply",
            idempotency_key=f"spooled-reply:{msg.message_id}",
        )
        uow = container.uow()
        with uow:
            enqueue_sms(uow.session, [reply])
            uow.commit()
    log.info(
        "spool: replayed inbound %s from %s: %s", msg.message_id, masked(msg.phone), result.intent
    )
    return result


def spool_for(container: Container) -> Spool | None:
    """The container's spool (one per process, so its lock is shared by web and replayer), or
    None when `SPOOL_DIR` is `off` (or empty)."""
    directory = container.settings.spool_dir.strip()
    if directory.lower() in ("", "off"):
        return None
    spool = container.extras.get("spool")
    if spool is None:
        spool = container.extras["spool"] = Spool(directory)
    return spool


def run_spool_replayer(
    container: Container,
    stop: threading.Event,
    *,
    handle: Callable[[SpooledRequest], Any] | None = None,
    interval: float = 1.0,
) -> None:
    """The background part: while anything waits in the spool and the database answers, replay.

    Backs off (up to 5 s: new texts queue behind the spool meanwhile) while the database stays
    away, and never stops for it.
    """
    spool = spool_for(container)
    if spool is None:
        return
    if handle is None:

        def handle(request: SpooledRequest) -> Any:
            return replay_through(container, request, to_message=inbound_text)

    view = consent_view_for(container)
    wait = interval
    while not stop.wait(wait):
        try:
            view.refresh(container.engine)
        except Exception as exc:  # the database away: the view stays as it was
            log.debug("spool: consent view not refreshed (%s)", type(exc).__name__)
        if not spool.has_pending():
            wait = interval
            continue
        ok, _detail = container.database_ok()
        progressed = ok and spool.replay(handle) > 0
        wait = interval if progressed or not spool.has_pending() else min(wait * 2, 5.0)
