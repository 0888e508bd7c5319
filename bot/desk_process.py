"""The SMS desk in a process of its own beside the web process (what `muster serve` runs).

A web process's interpreter has two jobs on the inbound path: reading and checking webhooks
(HTTP, the signature, the form) on its event loop, and answering the texts (the handlers, the
database). Python runs one of them at a time, so the web process was the bottleneck while the
machine's second core idled (issue 19, bench/README.md). `ProcessDesk` answers texts in a child
process instead, with the same `await desk.answer(job)` / `desk.close()` as the thread desk
(`bot.inbound_desk.Desk`), and the same batches: the child takes the text at the head of its pipe
and every text queued behind it (up to `batch`) and answers them together through
`bot.twilio_inbound.answer_texts` (one transaction, or the spool), so the texts that arrive while
it answers one batch make up the next. One child per web process: still one writer of inbound
texts, which SQLite needs.

In the web process, the event loop only queues a text; a sender thread writes what is queued to
the pipe (one message for all of it) and a receiver thread hands the outcomes back to the event
loop. The child owns what belongs to answering: its own engine, the spool's lock, the consent
view and the spool's replayer (the web process then runs none).

Lifetimes. The child is spawned (not forked: the parent has threads) when the app is built and
stops when the web process says so, after what it was given; when the web process dies, the pipe
closes and the child exits. It ignores SIGINT (a terminal's Ctrl-C reaches the whole process
group, and the web process then stops it in order); a SIGTERM (a platform stopping every process)
ends it between batches, never inside one. When the child dies, a new one is started and given
every text that has no outcome yet: the handler is idempotent on MessageSid, so a text that was
already stored gets its stored reply and is not acted on twice.

Tests build the app with the thread desk (their clock, an in-memory database); `muster serve`
runs this one, and tests/adapters/test_desk_process.py starts it for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import multiprocessing
import pickle
import queue
import signal
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any, Generic, TypeVar

from bot.settings import Settings

log = logging.getLogger(__name__)

# `container.extras[SMS_DESK] = IN_A_PROCESS` (what `muster serve` sets, bot/process.py): the
# webhook's texts are answered by a `ProcessDesk`, not on the thread desk.
SMS_DESK = "sms_desk"
IN_A_PROCESS = "process"

J = TypeVar("J")  # what is handed in (a text)
R = TypeVar("R")  # what comes back (its outcome)

# What runs in the child: given the settings, its `answer_all(jobs)` and what stops it.
Target = Callable[[Settings], tuple[Callable[[Sequence[Any]], Sequence[Any]], Callable[[], None]]]

_RESTART_PAUSE_S = 1.0  # a child that died this soon after it started is not restarted at once
_STOP_WAIT_S = 30.0
_TRIES = 2  # restarts a text is given to a new child after the one answering it died


class DeskDied(RuntimeError):
    """No desk process will answer this text: the desk is stopping, or a child died on it again
    and again."""


class ProcessDesk(Generic[J, R]):
    """`await desk.answer(job)`: the outcome the child gave for it (an exception is raised).

    `target(settings)` runs in the child and returns its `answer_all(jobs)` (one outcome per job,
    in order) and a function to call when it stops; both must be importable by name (spawn).
    """

    def __init__(
        self,
        settings: Settings,
        target: Target,
        *,
        batch: int,
        name: str = "desk",
    ) -> None:
        self._settings, self._target, self._batch, self._name = settings, target, batch, name
        self._context = multiprocessing.get_context("spawn")
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[J, asyncio.AbstractEventLoop, asyncio.Future[R]]] = {}
        self._outbox: queue.SimpleQueue[tuple[int, J] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()  # the pipe's ends and the child, swapped on a restart
        self._process: Any = None
        self._to_child: Connection | None = None
        self._from_child: Connection | None = None
        self._started_at = 0.0
        self._closing = False
        self._threads: list[threading.Thread] = []
        self._tries: dict[int, int] = {}

    def start(self) -> None:
        with self._lock:
            if self._threads:
                return
            self._spawn()
            for role in (self._send, self._receive):
                name = f"{self._name}_{role.__name__.strip('_')}"
                thread = threading.Thread(target=role, name=name, daemon=True)
                thread.start()
                self._threads.append(thread)

    async def answer(self, job: J) -> R:
        if self._closing:
            raise DeskDied(f"{self._name} is closed")
        if not self._threads:
            self.start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        n = next(self._ids)
        self._pending[n] = (job, loop, future)
        self._outbox.put((n, job))
        try:
            return await future
        finally:
            self._pending.pop(n, None)
            self._tries.pop(n, None)

    def close(self) -> None:
        """Let the child answer what it was given, then stop it and the threads."""
        self._closing = True
        self._outbox.put(None)  # the sender's last: it then tells the child to stop
        for thread in self._threads:
            thread.join(_STOP_WAIT_S + 5)
        self._threads = []
        with self._lock:
            self._reap(wait=_STOP_WAIT_S)
        for n, (_job, loop, future) in list(self._pending.items()):
            with contextlib.suppress(RuntimeError):  # (that event loop is closed)
                loop.call_soon_threadsafe(_settle, future, DeskDied(f"{self._name} stopped"))
            self._pending.pop(n, None)

    # --- the web process's two threads ---------------------------------------------------------

    def _send(self) -> None:
        """What the event loop queued, to the child: one message for all that is waiting."""
        while True:
            first = self._outbox.get()
            jobs = [first] if first is not None else []
            while first is not None:
                try:
                    more = self._outbox.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    first = None
                    break
                jobs.append(more)
            if jobs:
                self._write(jobs)
            if first is None:
                self._write(None)
                return

    def _write(self, message: list[tuple[int, J]] | None) -> None:
        with self._lock:
            conn = self._to_child
            if conn is None:
                return
            # (OSError: the child is gone; the receiver starts another and sends it all again)
            with contextlib.suppress(OSError):
                conn.send(message)

    def _receive(self) -> None:
        while True:
            with self._lock:
                conn = self._from_child
            if conn is None:
                return
            try:
                outcomes: list[tuple[int, Any]] = conn.recv()
            except (EOFError, OSError):
                if self._closing:
                    return
                self._restart()
                continue
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[R], Any]]] = {}
            for n, outcome in outcomes:
                entry = self._pending.get(n)
                if entry is not None:
                    by_loop.setdefault(entry[1], []).append((entry[2], outcome))
            for loop, settled in by_loop.items():
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_settle_all, settled)

    def _restart(self) -> None:
        with self._lock:
            process = self._process
            self._reap(wait=1)
            if process is not None and process.exitcode == 0:
                # A SIGTERM of its own (a platform stopping every process of the web's): texts
                # may still come while the web process drains, so another answers them.
                log.info(
                    "%s: the desk process stopped with %d texts unanswered; starting another",
                    self._name,
                    len(self._pending),
                )
            else:
                log.error(
                    "%s: the desk process died (exit status %s) with %d texts unanswered; "
                    "starting another",
                    self._name,
                    None if process is None else process.exitcode,
                    len(self._pending),
                )
            pause = self._started_at + _RESTART_PAUSE_S - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            self._spawn()
            again = []
            for n, (job, loop, future) in sorted(self._pending.items(), key=lambda kv: kv[0]):
                self._tries[n] = tries = self._tries.get(n, 0) + 1
                if tries <= _TRIES:
                    again.append((n, job))
                else:  # (a text the child dies of is not given to every new child for ever)
                    with contextlib.suppress(RuntimeError):
                        loop.call_soon_threadsafe(
                            _settle, future, DeskDied(f"{self._name} died {tries} times on it")
                        )
            if again:
                with contextlib.suppress(OSError):
                    assert self._to_child is not None
                    self._to_child.send(again)

    # --- the child -------------------------------------------------------------------------------

    def _spawn(self) -> None:
        child_reads, to_child = self._context.Pipe(duplex=False)
        from_child, child_writes = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=_child_main,
            args=(self._target, self._settings, child_reads, child_writes, self._batch),
            name=self._name,
            daemon=True,
        )
        process.start()
        child_reads.close()  # (the child's ends: when it dies, our recv sees EOF)
        child_writes.close()
        self._process, self._to_child, self._from_child = process, to_child, from_child
        self._started_at = time.monotonic()
        log.info("%s: desk process %s started", self._name, process.pid)

    def _reap(self, *, wait: float) -> None:
        process = self._process
        if process is not None:
            process.join(wait)
            if process.is_alive():
                log.warning("%s: the desk process did not stop; killing it", self._name)
                process.kill()
                process.join(5)
        for conn in (self._to_child, self._from_child):
            if conn is not None:
                conn.close()
        self._process = self._to_child = self._from_child = None


def _settle(future: asyncio.Future[Any], outcome: Any) -> None:
    if future.done():  # the request was cancelled (the client went away)
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _settle_all(settled: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, outcome in settled:
        _settle(future, outcome)


def _child_main(
    target: Target,
    settings: Settings,
    reads: Connection,
    writes: Connection,
    batch: int,
) -> None:
    """The desk process: answer what comes down the pipe until told to stop or it closes."""
    busy, stopping = [False], [False]

    def _on_term(_signum: int, _frame: object) -> None:
        if not busy[0]:
            raise SystemExit(0)
        stopping[0] = True  # after this batch

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_term)
    answer_all, stop = target(settings)
    waiting: list[tuple[int, Any]] = []
    told_to_stop = False
    try:
        while not stopping[0] and not (told_to_stop and not waiting):
            try:
                if not waiting:
                    message = reads.recv()
                    told_to_stop = message is None
                    waiting += message or []
                while len(waiting) < batch and not told_to_stop and reads.poll():
                    message = reads.recv()
                    told_to_stop = message is None
                    waiting += message or []
            except (EOFError, OSError):  # the web process is gone
                break
            taken, waiting = waiting[:batch], waiting[batch:]
            if not taken:
                continue
            busy[0] = True
            try:
                outcomes = list(answer_all([job for _, job in taken]))
                if len(outcomes) != len(taken):
                    raise RuntimeError(f"{len(outcomes)} outcomes for {len(taken)} jobs")
            except Exception as exc:  # a bug in answer_all: every caller hears of it
                log.exception("desk process: a batch of %d failed", len(taken))
                outcomes = [exc] * len(taken)
            writes.send([(n, _carried(o)) for (n, _), o in zip(taken, outcomes, strict=True)])
            busy[0] = False
    finally:
        stop()


def _carried(outcome: Any) -> Any:
    """An outcome as the pipe can carry it (a database error holds a driver's connection)."""
    if not isinstance(outcome, BaseException):
        return outcome
    try:
        pickle.dumps(outcome)
    except Exception:
        return RuntimeError(f"{type(outcome).__name__}: {outcome}")
    return outcome
