"""`POST /twilio/sms`: Twilio's inbound messaging webhook, as a thin adapter.

Check the signature (403 and nothing stored when it is missing or wrong), normalize the form into
an `InboundText`, call the handler, render its reply as TwiML.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import lru_cache, partial

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from twilio.twiml.messaging_response import MessagingResponse

from bot import metrics
from bot.bootstrap import Container
from bot.desk_process import IN_A_PROCESS, SMS_DESK, ProcessDesk
from bot.inbound_desk import Desk
from bot.settings import Settings
from bot.spool import answer_or_keep_all
from bot.spool_files import SpooledRequest
from bot.twilio_form import inbound_text
from bot.twilio_signature import TwilioWebhook, signed_path
from handlers import geo
from handlers.messages import InboundText
from handlers.phones import masked
from handlers.results import Result
from handlers.volunteer.receive import receive_texts

log = logging.getLogger(__name__)
Job = tuple[SpooledRequest, InboundText]  # what the desk is handed: the request as signed, read
TWIML = "application/xml"
# One desk thread takes up to 32 texts a transaction, on SQLite and PostgreSQL alike: enough to
# ride out a burst, few enough that the first text in a batch is not kept waiting for the last.
# SQLite has one writer. On PostgreSQL a second thread was measured (issue 19, bench/README.md,
# 2026-12-06): it splits the queue into batches of about four (a quarter of them lone texts),
# each paying its own check-out, ping, senders' read and commit, while the event loop already
# has the interpreter whenever the one thread waits for the server: one thread 511 / 512 req/s
# with p99 47 ms, two of 16 476 / 488 req/s with p99 64-67 ms. Batches of other processes (a
# second web process, the worker) can still lock the same shifts in opposite orders; PostgreSQL
# ends one, and its texts are answered one at a time (receive_texts), with the same answers.
DESK_THREADS = 1
DESK_BATCH = 32
# Outcomes logged at INFO (the rest at DEBUG): consent changes and texts kept for later.
LOGGED_INTENTS = frozenset({"opt_out", "opt_in", "maybe_opt_out", "spooled"})


def twiml(reply: str | None) -> Response:
    return Response(_twiml_body(reply), media_type=TWIML)


@lru_cache(maxsize=2048)
def _twiml_body(reply: str | None) -> str:
    """(Remembered: many replies repeat word for word (HELP, acknowledgments, "already signed
    up"), and building the XML costs a fifth of the route's own time.)"""
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return str(response)


def routes(container: Container) -> list[BaseRoute]:
    settings = container.settings
    geo.warm()  # the ZIP table, read once now rather than during a volunteer's first ZIP
    desk: Desk[Job, Result | None] | ProcessDesk[Job, Result | None]
    if container.extras.get(SMS_DESK) == IN_A_PROCESS:
        desk = ProcessDesk(settings, desk_process_answers, batch=DESK_BATCH, name="sms")
        desk.start()  # (the child starts up while the web process does)
    else:
        desk = Desk(
            partial(answer_texts, container), threads=DESK_THREADS, batch=DESK_BATCH, name="sms"
        )
    container.extras.setdefault("closers", []).append(desk.close)
    webhook = TwilioWebhook(settings)
    if settings.twilio_enabled and not settings.org_contact:  # a real number, a real HELP
        log.warning(
            "ORG_CONTACT is not set: HELP answers name no way to reach a person (a phone number "
            "or an email), which the carriers' rules for 10DLC and toll-free numbers ask for"
        )

    async def inbound_sms(request: Request) -> Response:
        params = await webhook.signed_params(request)
        if params is None:
            return webhook.forbidden()
        msg = inbound_text(params, container.clock.now())
        if msg is None:
            log.warning("inbound text without a usable From or MessageSid; ignored")
            return twiml(None)
        kept = SpooledRequest(
            path=signed_path(request),
            params=params,
            signature=request.headers["X-Twilio-Signature"],
            received_at=msg.received_at,
        )
        result = await desk.answer((kept, msg))
        if result is None:  # the database is away and SPOOL_DIR=off: let Twilio retry
            return Response("try again", status_code=503, headers={"Retry-After": "5"})
        # Every text is in `inbound_messages` and counted in /metrics by intent; the log keeps the
        # ones an operator looks for (consent changes, texts kept in the spool) at INFO, and the
        # routine rest at DEBUG, as the access log is off: a line written for each of thousands
        # of texts a minute costs the web process a tenth of its time.
        log.log(
            logging.INFO if result.intent in LOGGED_INTENTS else logging.DEBUG,
            "inbound sms from %s: %s",
            masked(msg.phone),
            result.intent,
        )
        metrics.count_inbound("sms", result.intent)
        if result.reply:
            metrics.count_reply("sms")
        return twiml(result.reply)

    return [Route("/twilio/sms", inbound_sms, methods=["POST"])]


def answer_texts(container: Container, texts: Sequence[Job]) -> list[Result | Exception | None]:
    """The desk's work: the texts it took, answered in one transaction (or kept in the spool)."""
    return answer_or_keep_all(
        container,
        [kept for kept, _ in texts],
        lambda indexes: receive_texts(
            [texts[i][1] for i in indexes],
            uow=container.uow(),
            org=container.org,
            clock=container.clock,
        ),
    )


def desk_process_answers(
    settings: Settings,
) -> tuple[Callable[[Sequence[Job]], list[Result | Exception | None]], Callable[[], None]]:
    """In the desk process (bot/desk_process.py): its own container, the spool's replayer, and
    `answer_texts` on them; and what stops them."""
    import gc
    import threading

    from bot.bootstrap import bootstrap
    from bot.logs import configure_logging
    from bot.parts import PartThread
    from bot.spool import run_spool_replayer

    configure_logging(settings.log_level, log_format=settings.log_format, log_sql=settings.log_sql)
    container = bootstrap(settings)
    geo.warm()
    gc.collect()
    gc.freeze()  # (as the web process does: what start-up built is not walked again)
    stop = threading.Event()
    replayer = PartThread("spool", run_spool_replayer, container, stop)
    replayer.start()

    def stopped() -> None:
        stop.set()
        replayer.join(60)
        container.close()

    return partial(answer_texts, container), stopped
