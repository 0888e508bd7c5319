"""The inbound spool: a volunteer's text is not lost while the database is away.

Twilio does not retry an inbound text by default. So when a signed text arrives and the database
cannot be reached (the connection is refused, drops, or times out), the webhook keeps the signed
request in a local directory (`SPOOL_DIR`) and answers HELP, and acknowledges any other text but
a STOP from a number `bot.consent_view` knows to be subscribed (nothing to any other). A background
replayer, in every web process, replays the kept requests in the order they came, through the same
handler, once the database answers again; what the handler would have replied goes out as a text
through the outbox. The handler is idempotent on MessageSid, so a request replayed twice (a crash
between the replay and the file's removal) is answered but not acted on twice.

Each request is one file, written to a temporary name, fsync'd, renamed into place and the
directory fsync'd, so a crash leaves either the whole request or nothing. File names sort in
arrival order. While a number's earlier text waits in the spool, its new ones join the queue
behind it instead of overtaking it (a volunteer's conversation keeps its order); other numbers'
texts are answered at once when the database is back, so a long spool drains under load. Files
hold phone numbers and message bodies: the directory is private (0700) and a file is deleted once
its request is replayed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from twilio.request_validator import RequestValidator

from bot.bootstrap import Container
from bot.consent_view import ConsentView
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

SUFFIX = ".json"
_KEY_LENGTH = 12  # hex digits of the sender's key at the end of a file's name
FAILED = "failed"  # requests the handler refused for a reason other than the database
_sequence = itertools.count()
_STILL_NS = 2_000_000_000  # a directory unchanged this long has a listing worth remembering


@dataclass(frozen=True, slots=True)
class SpooledRequest:
    """A webhook request as Twilio signed it, and when it arrived."""

    path: str  # the request's path and query, as signed (`/twilio/sms`)
    params: dict[str, str]
    signature: str
    received_at: datetime
    file: Path | None = None

    @property
    def message_sid(self) -> str:
        return self.params.get("MessageSid") or self.params.get("SmsSid") or "?"


class Spool:
    """One directory of spooled requests, oldest first."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._listed: tuple[int, list[Path]] | None = None  # (directory mtime, its listing)

    def _ensure(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def put(self, request: SpooledRequest) -> Path:
        """Keep the request durably; returns its file."""
        self._ensure()
        stamp = f"{time.time_ns():020d}-{os.getpid():07d}-{next(_sequence):06d}"
        final = self.directory / f"{stamp}-{sender_key(request.params.get('From'))}{SUFFIX}"
        temp = self.directory / f".{stamp}.tmp"
        data = json.dumps(
            {
                "path": request.path,
                "params": request.params,
                "signature": request.signature,
                "received_at": request.received_at.astimezone(UTC).isoformat(),
            },
            ensure_ascii=False,
        ).encode()
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, final)
        self._fsync_directory()
        log.warning(
            "database away: kept inbound %s from %s in the spool",
            request.message_sid,
            masked(request.params.get("From")),
        )
        return final

    def _fsync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def pending(self) -> list[Path]:
        """Spooled requests in arrival order."""
        try:
            # Every text asks whether its sender has texts waiting; the directory is read again
            # only when it changed (a file put, renamed or removed changes its mtime), so the
            # usual answer, "nothing waits", costs one stat rather than a listing. A listing is
            # remembered only once the directory has been still for a while: mtimes tick
            # coarsely, and a change in the same tick as the listing would otherwise go unseen.
            stamp = os.stat(self.directory).st_mtime_ns
        except FileNotFoundError:
            return []
        listed = self._listed
        if listed is not None and listed[0] == stamp:
            return listed[1]
        files = sorted(p for p in self.directory.iterdir() if p.name.endswith(SUFFIX))
        still = time.time_ns() - stamp > _STILL_NS
        self._listed = (stamp, files) if still else None
        return files

    def waiting_senders(self) -> frozenset[str]:
        """The `sender_key` of every number with a text waiting here."""
        return frozenset(p.name[-len(SUFFIX) - _KEY_LENGTH : -len(SUFFIX)] for p in self.pending())

    def has_pending(self, phone: str | None = None) -> bool:
        """Anything waiting (from this sender's number, when one is given)."""
        if phone is None:
            return bool(self.pending())
        return sender_key(phone) in self.waiting_senders()

    def load(self, file: Path) -> SpooledRequest:
        data = json.loads(file.read_text(encoding="utf-8"))
        return SpooledRequest(
            path=data["path"],
            params={str(k): str(v) for k, v in data["params"].items()},
            signature=data["signature"],
            received_at=datetime.fromisoformat(data["received_at"]),
            file=file,
        )

    @contextlib.contextmanager
    def _directory_lock(self) -> Iterator[None]:
        """Another process sharing this directory (two web processes on one host) waits."""
        self._ensure()
        fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def remove(self, file: Path) -> None:
        file.unlink(missing_ok=True)
        self._fsync_directory()

    def set_aside(self, file: Path) -> Path:
        """A request the handler refused for good: kept for a person to look at, out of the way."""
        failed = self.directory / FAILED
        failed.mkdir(mode=0o700, exist_ok=True)
        target = failed / file.name
        os.replace(file, target)
        self._fsync_directory()
        return target

    def replay(self, handle: Callable[[SpooledRequest], Any]) -> int:
        """Replay every spooled request in order through `handle`; stop at the first one that
        finds the database away (it stays first in line). Returns how many were replayed.

        One replay at a time per spool (a lock), so two threads never replay the same file.
        """
        replayed = 0
        with self._lock, self._directory_lock():
            for file in self.pending():
                try:
                    request = self.load(file)
                except (OSError, ValueError, KeyError) as exc:
                    log.error("spool: unreadable file %s set aside (%s)", file.name, exc)
                    self.set_aside(file)
                    continue
                try:
                    handle(request)
                except Exception as exc:
                    if is_database_away(exc):
                        log.info("spool: database still away; %d waiting", len(self.pending()))
                        break
                    log.exception("spool: inbound %s refused; set aside", request.message_sid)
                    self.set_aside(file)
                    continue
                self.remove(file)
                replayed += 1
        if replayed:
            log.info("spool: replayed %d inbound texts", replayed)
        return replayed


def sender_key(phone: str | None) -> str:
    """A short, stable key of the sender's number for spool file names (not the number itself)."""
    return hashlib.sha256((phone or "").encode()).hexdigest()[:_KEY_LENGTH]


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
