"""The desk: the threads of a web process that answer inbound texts, in batches.

The webhook's coroutine hands each signed text to the desk and awaits its outcome; the event loop
meanwhile reads the next requests. A desk thread takes the text at the head of the queue and every
text queued behind it (up to `batch`) and answers them together, through `answer_all`, so that a
busy moment costs one transaction for many texts (a group commit) rather than one each; a quiet
moment still answers a lone text at once. Outcomes go back to the event loop in one call per batch.

A web process's desk has one thread (`bot.twilio_inbound.DESK_THREADS`). SQLite has one writer,
so texts wait here, in arrival order, instead of in SQLite's busy handler (which sleeps and
retries). On PostgreSQL a second thread made the batches smaller and the web process slower (each
batch pays a check-out, a ping and a commit), since the event loop has the interpreter whenever
the one thread waits for the server. The class takes any number of threads.

`muster serve` runs the same batches in a child process instead (`bot.desk_process.ProcessDesk`,
the same `answer` and `close`), so that answering texts does not take the web process's
interpreter from reading webhooks; this thread desk is what an app built in-process runs (the
tests, with their clock and in-memory database).

The desk only queues and hands out. What a batch is, what it promises (exactly the answers and
the database state of its texts answered one at a time) and the tests that pin that promise are
in `handlers.volunteer.receive` (`receive_texts`), the one home of the inbound path's speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

J = TypeVar("J")  # what is handed in (a text)
R = TypeVar("R")  # what comes back (its outcome)


class _Ticket(Generic[J, R]):
    __slots__ = ("future", "job", "loop")

    def __init__(self, job: J, loop: asyncio.AbstractEventLoop) -> None:
        self.job = job
        self.loop = loop
        self.future: asyncio.Future[R] = loop.create_future()


class Desk(Generic[J, R]):
    """`await desk.answer(job)`: the outcome `answer_all` gave for it.

    `answer_all(jobs)` returns one outcome per job, in order; an outcome that is an exception is
    raised to that job's caller alone. Threads start with the first job and stop with `close()`.
    """

    def __init__(
        self,
        answer_all: Callable[[Sequence[J]], Sequence[R | BaseException]],
        *,
        threads: int,
        batch: int,
        name: str = "desk",
    ) -> None:
        self._answer_all = answer_all
        self._threads = threads
        self._batch = max(batch, 1)
        self._name = name
        self._queue: queue.SimpleQueue[_Ticket[J, R] | None] = queue.SimpleQueue()
        self._started: list[threading.Thread] = []
        self._lock = threading.Lock()

    async def answer(self, job: J) -> R:
        ticket: _Ticket[J, R] = _Ticket(job, asyncio.get_running_loop())
        if not self._started:
            self._start()
        self._queue.put(ticket)
        return await ticket.future

    def close(self) -> None:
        """Let the threads finish what is queued, then stop them."""
        with self._lock:
            threads, self._started = self._started, []
        for _ in threads:
            self._queue.put(None)
        for thread in threads:
            thread.join(timeout=30)

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            for n in range(self._threads):
                thread = threading.Thread(target=self._work, name=f"{self._name}_{n}", daemon=True)
                thread.start()
                self._started.append(thread)

    def _take(self) -> list[_Ticket[J, R]] | None:
        """The next batch: the ticket at the head of the queue and those behind it."""
        first = self._queue.get()
        if first is None:
            return None
        tickets = [first]
        while len(tickets) < self._batch:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                break
            if more is None:
                self._queue.put(None)  # this thread's stop comes after the batch it is in
                break
            tickets.append(more)
        return tickets

    def _work(self) -> None:
        while (tickets := self._take()) is not None:
            try:
                outcomes = list(self._answer_all([t.job for t in tickets]))
                if len(outcomes) != len(tickets):
                    raise RuntimeError(f"{len(outcomes)} outcomes for {len(tickets)} jobs")
            except Exception as exc:  # a bug in answer_all: every caller hears of it
                log.exception("%s: a batch of %d failed", self._name, len(tickets))
                outcomes = [exc] * len(tickets)
            by_loop: dict[asyncio.AbstractEventLoop, list[int]] = {}
            for i, ticket in enumerate(tickets):
                by_loop.setdefault(ticket.loop, []).append(i)
            for loop, indexes in by_loop.items():  # (one loop, but for tests that start several)
                # (A RuntimeError: that event loop is closed, and nobody is waiting any more.)
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(
                        _settle, [tickets[i] for i in indexes], [outcomes[i] for i in indexes]
                    )


def _settle(tickets: list[_Ticket[J, R]], outcomes: list[R | BaseException]) -> None:
    for ticket, outcome in zip(tickets, outcomes, strict=True):
        if ticket.future.done():  # the request was cancelled (the client went away)
            continue
        if isinstance(outcome, BaseException):
            ticket.future.set_exception(outcome)
        else:
            ticket.future.set_result(outcome)
