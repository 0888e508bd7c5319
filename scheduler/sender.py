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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.exc import DBAPIError

from handlers.delivery_status import CALLBACK_STATUS
from handlers.phones import masked
from handlers.ports import Clock, SendResult, SmsSender
from handlers.send_errors import MAX_ATTEMPTS, Effect, apply_volunteer_effect, backoff, effect_of
from handlers.sending import Claim, ClaimedDelivery, SendPolicy, claim_due
from scheduler.ports import Metrics, NoMetrics, UowFactory
from storage.models import Delivery, DeliveryStatus
from storage.outbox import (
    claim_holders,
    ensure_rate_bucket,
    finish_broadcasts,
    release_claims,
    release_stale_claims,
)

log = logging.getLogger(__name__)

CLAIM_TIMEOUT = timedelta(minutes=2)  # > the longest request (30 s) plus a slow write
STALE_CHECK_S = 30.0
IDLE_POLL_S = 0.25
FLUSH_EVERY_S = 0.02
MAX_BATCH = 250
DB_RETRY_S = 2.0
AUTH_REFUSED = "20003"
AUTH_RETRY = timedelta(minutes=1)


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


@dataclass(frozen=True, slots=True)
class Outcome:
    row: ClaimedDelivery
    result: SendResult


def record_outcomes(session: Any, outcomes: list[Outcome], *, worker: str, now: datetime) -> None:
    """Write a batch of answers back: one executemany, plus the volunteer effects of errors."""
    params: list[dict[str, Any]] = []
    for outcome in outcomes:
        row, result = outcome.row, outcome.result
        # Refused credentials are our fault, not the text's: kept, not counted, retried later.
        refused = result.error_code == AUTH_REFUSED
        attempts = row.attempts if refused else row.attempts + 1
        values: dict[str, Any] = {
            "b_id": row.id,
            "b_worker": worker,
            "attempts": attempts,
            "provider_sid": None,
            "error_code": result.error_code,
            "error_message": result.error_message,
            "sent_at": None,
            "send_after": now,
        }
        if result.ok:
            values.update(
                status=CALLBACK_STATUS.get(result.status or "queued", DeliveryStatus.QUEUED).value,
                provider_sid=result.provider_sid,
                sent_at=now,
            )
        else:
            effect = effect_of(result.error_code, transient=result.transient)
            if effect is Effect.RETRY and attempts < MAX_ATTEMPTS:
                wait = AUTH_RETRY if refused else backoff(attempts, result.retry_after)
                retry_at = now + wait
                late = row.deadline is not None and retry_at >= row.deadline
                status = DeliveryStatus.EXPIRED if late else DeliveryStatus.PENDING
                values.update(status=status.value, send_after=retry_at)
            else:
                values.update(status=DeliveryStatus.FAILED.value)
                apply_volunteer_effect(
                    session,
                    effect=effect,
                    phone=row.to_phone,
                    volunteer_id=row.volunteer_id,
                    code=result.error_code or "",
                    now=now,
                )
        params.append(values)
    table = Delivery.__table__
    stmt = (
        table.update()
        .where(
            table.c.id == bindparam("b_id"),
            table.c.status == DeliveryStatus.CLAIMED.value,
            table.c.claimed_by == bindparam("b_worker"),
        )
        .values(
            status=bindparam("status"),
            attempts=bindparam("attempts"),
            provider_sid=bindparam("provider_sid"),
            error_code=bindparam("error_code"),
            error_message=bindparam("error_message"),
            sent_at=bindparam("sent_at"),
            send_after=bindparam("send_after"),
            claimed_by=None,
            claimed_at=None,
            updated_at=now,
        )
    )
    if params:
        session.connection().execute(stmt, params)
    finish_broadcasts(session, {o.row.broadcast_id for o in outcomes if o.row.broadcast_id})


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

    def _write(self, outcomes: list[Outcome], release: list[ClaimedDelivery]) -> None:
        with self.uow() as uow:
            now = self.clock.now()
            if outcomes:
                record_outcomes(uow.session, outcomes, worker=self.worker, now=now)
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
        next_stale_check = time.monotonic() + STALE_CHECK_S
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
            done, self._done = self._done, []
            release, self._release = self._release, []
            if done or release:
                await self._write_with_retry(done, release)
                self._held -= len(done) + len(release)
                self._freed.set()
            finished = all(t.done() for t in self._tasks)
            if self._stopping.is_set() and finished and not self._done and not self._release:
                return

    async def _write_with_retry(self, done: list[Outcome], release: list[ClaimedDelivery]) -> None:
        """The database may be briefly away; the answers are kept and written when it is back
        (losing them would mean sending those texts twice)."""
        pause = 0.5
        while True:
            try:
                await asyncio.to_thread(self._write, done, release)
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
