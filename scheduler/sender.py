"""The sender: drains the outbox to Twilio (or the console) at carrier speed, within the law,
with nothing lost or doubled. It runs as `muster worker`, or as a thread of `muster serve`.

The loop, per worker:
  1. claim a batch of due rows (handlers.sending.claim_due: priority order, SKIP LOCKED on
     PostgreSQL, the write lock on SQLite), settling on the way the rows that must not go now
     (opted out, unreachable, cancelled, expired, loop guard, quiet hours: held, not dropped);
     the claim also reserves their start times in the shared `rate_buckets` row, so all workers
     together start at most SEND_RATE_MPS segments per second;
  2. start each text at its time, up to SEND_CONCURRENCY requests in flight;
  3. write every answer back (sid, status, error, or a retry time honouring Retry-After), a
     batch at a time. A row holds its slot until its answer is written, so a worker never owns
     more than SEND_CONCURRENCY rows that Twilio may have accepted without our knowing.

Stopping: on SIGTERM (the stop event) no new claim is made; texts not yet started go back to the
outbox untouched, texts already started finish (a request lasts at most 30 s) and are written,
then the loop returns: nothing lost, nothing sent twice. After kill -9, the dead worker's claimed
rows are released (at once by a worker on the same machine, which sees the process is gone; by
any worker after CLAIM_TIMEOUT otherwise) and sent again; only those that were in flight can
have reached Twilio already: at most SEND_CONCURRENCY duplicates per killed worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import threading
import time
from collections import Counter
from datetime import timedelta

from sqlalchemy.exc import DBAPIError

from handlers.phones import masked
from handlers.ports import Clock, SendResult, SmsSender
from handlers.sending import Claim, ClaimedDelivery, SendPolicy, claim_due
from scheduler.outcomes import AUTH_REFUSED, Outcome, record_outcomes
from scheduler.ports import Metrics, NoMetrics, UowFactory
from storage.outbox import (
    claim_holders,
    ensure_rate_bucket,
    finish_broadcasts,
    release_claims,
    release_stale_claims,
    sending_broadcasts,
)

log = logging.getLogger(__name__)

CLAIM_TIMEOUT = timedelta(minutes=2)  # > the longest request (30 s) plus a slow write
STALE_CHECK_S = 30.0
IDLE_POLL_S = 0.25
FLUSH_EVERY_S = 0.02
# While a quarter of the slots are free, answers gather up to this long before they are
# written: at 50 texts a second, one write for several texts rather than one a text (each write
# is a transaction, on SQLite the one writer's lock the inbound texts also wait for). A crash
# between a send and its write can send that text twice (its claim is released when stale), so
# the wait stays short.
FLUSH_MAX_S = 0.1
MAX_BATCH = 250
DB_RETRY_S = 2.0


def worker_name() -> str:
    """host:pid:nonce. The host and pid let a restarted worker on the same machine see that the
    owner of old claims is gone; the nonce tells incarnations with a reused pid apart."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


_LIVE_HERE: set[str] = set()  # the senders running in this process


def dead_local_workers(holders: list[str], me: str) -> list[str]:
    host = me.split(":", 1)[0]
    dead = []
    for holder in holders:
        parts = holder.split(":")
        if len(parts) != 3 or parts[0] != host or holder == me:
            continue
        try:
            pid = int(parts[1])
        except ValueError:
            continue
        if holder in _LIVE_HERE:
            continue
        if pid == os.getpid() or not _alive(pid):  # same pid: a container restarted as pid 1
            dead.append(holder)
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Sender:
    """One worker's sending loop (an asyncio loop of its own; the database in worker threads)."""

    def __init__(
        self,
        *,
        uow: UowFactory,
        clock: Clock,
        sms_sender: SmsSender,
        policy: SendPolicy,
        concurrency: int,
        status_callback: str | None = None,
        metrics: Metrics | None = None,
        worker: str | None = None,
        claim_timeout: timedelta = CLAIM_TIMEOUT,
    ):
        self.uow = uow
        self.clock = clock
        self.worker = worker or worker_name()
        self.concurrency = concurrency
        self.policy = policy
        self.claim_timeout = claim_timeout
        self.status_callback = status_callback  # Twilio's status webhook, when Twilio is on
        self.metrics = metrics or NoMetrics()
        self._sms_sender = sms_sender
        self._held = 0  # rows claimed and not yet written back
        # ... of them, how many each broadcast has: while a broadcast has one here it is not
        # finished (that row is still claimed), so a write need not ask (`_finishable`).
        self._held_of: Counter[int] = Counter()
        self._done: list[Outcome] = []
        self._release: list[ClaimedDelivery] = []
        self._freed = asyncio.Event()
        self._outcome_ready = asyncio.Event()
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._paused_until = 0.0
        self.sent_count = 0

    # --- database steps (run in a worker thread) ----------------------------------------------

    def _claim(self, limit: int) -> Claim:
        with self.uow() as uow:
            claim = claim_due(
                uow.session,
                worker=self.worker,
                now=self.clock.now(),
                wall=time.time(),
                limit=limit,
                policy=self.policy,
            )
            uow.commit()
        return claim

    def _write(
        self,
        outcomes: list[Outcome],
        release: list[ClaimedDelivery],
        finish: set[int] | None = None,
    ) -> None:
        with self.uow() as uow:
            now = self.clock.now()
            if outcomes:
                record_outcomes(uow.session, outcomes, worker=self.worker, now=now, finish=finish)
            if release:
                release_claims(uow.session, [r.id for r in release], worker=self.worker, now=now)
            uow.commit()

    def _prepare(self) -> None:
        with self.uow() as uow:
            ensure_rate_bucket(uow.session)
            uow.commit()
        self._release_stale()

    def _release_stale(self) -> None:
        with self.uow() as uow:
            dead = dead_local_workers(claim_holders(uow.session), self.worker)
            count = release_stale_claims(
                uow.session, now=self.clock.now(), timeout=self.claim_timeout,
                dead_workers=dead,
            )  # fmt: skip
            # Two workers writing a broadcast's last rows at once each see the other's row
            # still claimed, and neither marks it sent: this check does, within STALE_CHECK_S.
            finish_broadcasts(uow.session, sending_broadcasts(uow.session))
            uow.commit()
        if count:
            log.warning("released %d texts claimed by a worker that stopped (%s)", count, dead)

    # --- the loop -----------------------------------------------------------------------------

    async def run(self, stop: threading.Event) -> None:
        sms = self._sms_sender
        _LIVE_HERE.add(self.worker)
        try:
            await self._run(sms, stop)
        finally:
            _LIVE_HERE.discard(self.worker)

    async def _run(self, sms: SmsSender, stop: threading.Event) -> None:
        while True:  # a worker (re)started while the database is away waits for it
            try:
                await asyncio.to_thread(self._prepare)
                break
            except DBAPIError as exc:
                log.warning("could not start sending (%s); retrying", type(exc.orig).__name__)
                if await asyncio.to_thread(stop.wait, DB_RETRY_S):
                    return
        watcher = asyncio.create_task(self._watch(stop))
        writer = asyncio.create_task(self._writer())
        log.info(
            "sender %s started: %d in flight, %.4g segments/s across workers",
            self.worker, self.concurrency, self.policy.rate_mps,
        )  # fmt: skip
        next_stale_check = time.monotonic()  # at once, then every STALE_CHECK_S
        try:
            while not self._stopping.is_set():
                if time.monotonic() >= next_stale_check:
                    next_stale_check = time.monotonic() + STALE_CHECK_S
                    with contextlib.suppress(DBAPIError):  # tried again at the next check
                        await asyncio.to_thread(self._release_stale)
                free = self.concurrency - self._held
                if free <= 0 or time.time() < self._paused_until:
                    self._freed.clear()
                    await self._sleep(IDLE_POLL_S, self._freed)
                    continue
                ahead = max(1, int(self.policy.rate_mps * self.policy.horizon_s))
                try:
                    claim = await asyncio.to_thread(self._claim, min(free, MAX_BATCH, ahead))
                except DBAPIError as exc:  # the database is away for a moment: wait, go on
                    log.warning("could not claim texts (%s); retrying", type(exc.orig).__name__)
                    await self._sleep(DB_RETRY_S)
                    continue
                for row in claim.rows:
                    self._held += 1
                    if row.broadcast_id:
                        self._held_of[row.broadcast_id] += 1
                    task = asyncio.create_task(self._send(sms, row))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                if claim.rows or claim.settled:
                    continue
                await self._sleep(min(claim.wait, IDLE_POLL_S) if claim.wait else IDLE_POLL_S)
        finally:
            self._stopping.set()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            self._outcome_ready.set()
            await writer
            watcher.cancel()
            if hasattr(sms, "aclose"):
                await sms.aclose()
            log.info("sender %s stopped after %d texts", self.worker, self.sent_count)

    async def _send(self, sms: SmsSender, row: ClaimedDelivery) -> None:
        delay = row.start_at - time.time()
        if delay > 0 and await self._sleep(delay):
            self._release.append(row)  # stopping before its turn: back to the outbox, unsent
            self._outcome_ready.set()
            return
        if self._stopping.is_set():
            self._release.append(row)
            self._outcome_ready.set()
            return
        validity = None
        if row.deadline is not None:
            validity = int((row.deadline - self.clock.now()).total_seconds())
        started = time.monotonic()
        try:
            result = await sms.send(
                to=row.to_phone,
                body=row.body,
                status_callback=self.status_callback,
                validity_period=max(validity, 1) if validity is not None else None,
            )
            self.metrics.observe_send_latency(time.monotonic() - started)
        except Exception as exc:  # an adapter bug must not lose the row: retry it later
            log.exception("sending to %s raised", masked(row.to_phone))
            result = SendResult(ok=False, error_code="exception",
                                error_message=type(exc).__name__, transient=True)  # fmt: skip
        if result.error_code == AUTH_REFUSED:
            self._paused_until = time.time() + 30  # bad credentials: stop hammering, keep rows
        if result.ok:
            self.sent_count += 1
        self.metrics.count_delivery(
            "sent" if result.ok else "retry" if result.transient else "failed"
        )
        self._done.append(Outcome(row, result))
        self._outcome_ready.set()

    async def _writer(self) -> None:
        """Write answers back in batches; a row's slot is freed only once its answer is stored."""
        while True:
            await self._outcome_ready.wait()
            self._outcome_ready.clear()
            await asyncio.sleep(FLUSH_EVERY_S)
            if self._held * 4 < self.concurrency * 3:  # a quarter of the slots free
                await self._sleep(FLUSH_MAX_S - FLUSH_EVERY_S)
            done, self._done = self._done, []
            release, self._release = self._release, []
            if done or release:
                await self._write_with_retry(done, release, self._finishable(done, release))
                self._held -= len(done) + len(release)
                self._freed.set()
            finished = all(t.done() for t in self._tasks)
            if self._stopping.is_set() and finished and not self._done and not self._release:
                return

    def _finishable(self, done: list[Outcome], release: list[ClaimedDelivery]) -> set[int]:
        """The broadcasts of the rows about to be written that may have nothing left to send:
        those of which this worker holds no other row. (Checking every write was a tenth of
        a sending process's time at 50 texts a second, one write a text; issue 19.)"""
        for row in [o.row for o in done] + release:
            if row.broadcast_id:
                self._held_of[row.broadcast_id] -= 1
                if not self._held_of[row.broadcast_id]:
                    del self._held_of[row.broadcast_id]
        ids = {o.row.broadcast_id for o in done if o.row.broadcast_id}
        return {b for b in ids if b not in self._held_of}

    async def _write_with_retry(
        self, done: list[Outcome], release: list[ClaimedDelivery], finish: set[int]
    ) -> None:
        """The database may be briefly away; the answers are kept and written when it is back
        (losing them would mean sending those texts twice)."""
        pause = 0.5
        while True:
            try:
                await asyncio.to_thread(self._write, done, release, finish)
                return
            except Exception:
                log.exception("could not record %d send results; retrying", len(done))
                await asyncio.sleep(pause)
                pause = min(pause * 2, 10)

    async def _watch(self, stop: threading.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(0.05)
        self._stopping.set()

    async def _sleep(self, seconds: float, also: asyncio.Event | None = None) -> bool:
        """Sleep, waking early on stop (returns True) or on `also`."""
        waits = [asyncio.ensure_future(self._stopping.wait())]
        if also is not None:
            waits.append(asyncio.ensure_future(also.wait()))
        try:
            await asyncio.wait(waits, timeout=max(seconds, 0), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        return self._stopping.is_set()


def run_sender(
    stop: threading.Event,
    *,
    uow: UowFactory,
    clock: Clock,
    sms_sender: SmsSender,
    policy: SendPolicy,
    concurrency: int,
    status_callback: str | None = None,
    metrics: Metrics | None = None,
) -> None:
    """A part of `muster worker` / `muster serve` (bot/parts.py passes what it takes from the
    settings): returns once in-flight work is settled."""
    sender = Sender(
        uow=uow, clock=clock, sms_sender=sms_sender, policy=policy, concurrency=concurrency,
        status_callback=status_callback, metrics=metrics,
    )  # fmt: skip
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(sender.run(stop))
