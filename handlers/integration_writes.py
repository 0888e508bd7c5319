"""The drain of the integration outbox, for any peer: claim a due row, send it within the peer's
rate limit, settle it. Used by Action Network's writes (`handlers.action_network_writes`) and
Mobilize's (`handlers.mobilize_writes`, whose rows wait for an email rather than cancel).

Each row is claimed in one short transaction (its attempts counted, its `next_attempt_at` moved
a lease ahead, so a second drain that races this one skips it), sent with no transaction open,
and settled in another: `done` with what the peer answered, or back to `pending` later
(`storage.integrations.backoff`, never sooner than a Retry-After) with the error in words, or
`failed` for good when the peer refused it (a 4xx other than 429). A drain that dies between the
send and the settle leaves the row to come due again after the lease: a write is retried, never
lost; a row sent and settled `done` is never sent again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from handlers.peers import WriteOutcome
from handlers.ports import Clock
from storage.integrations import Integration, IntegrationWrite, WriteStatus, backoff
from storage.uow import UnitOfWork

CLAIM_LEASE_SECONDS = 120
R = TypeVar("R")


@dataclass
class DrainReport:
    done: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0  # nothing left to send (the volunteer was forgotten)


@dataclass(frozen=True)
class Peer(Generic[R]):
    """How one peer's rows become requests and go out."""

    integration: Integration
    per_second: float
    # The request for a claimed row, built from the database as it is now; None: nothing to send.
    prepare: Callable[[Session, IntegrationWrite], R | None]
    send: Callable[[R], WriteOutcome]
    # What a row with nothing to send becomes: cancelled, or (Mobilize: no email yet) waiting.
    when_nothing: WriteStatus = WriteStatus.CANCELLED


def drain(
    peer: Peer[R],
    *,
    uow: UnitOfWork,
    clock: Clock,
    limit: int = 50,
    pace: Callable[[float], None] | None = None,
) -> DrainReport:
    """Send up to `limit` due rows of this peer, oldest first. Run from one place (the clock's
    leader); `pace` (time.sleep there) keeps the requests under `peer.per_second`."""
    report = DrainReport()
    last_sent = float("-inf")
    now = clock.now()
    with uow:
        ids = list(
            uow.session.scalars(
                select(IntegrationWrite.id)
                .where(
                    IntegrationWrite.integration == peer.integration,
                    IntegrationWrite.status == WriteStatus.PENDING,
                    IntegrationWrite.next_attempt_at <= now,
                )
                .order_by(IntegrationWrite.next_attempt_at, IntegrationWrite.id)
                .limit(limit)
            )
        )
    for write_id in ids:
        with uow:
            s = uow.session
            claimed = s.execute(
                update(IntegrationWrite)
                .where(
                    IntegrationWrite.id == write_id,
                    IntegrationWrite.status == WriteStatus.PENDING,
                    IntegrationWrite.next_attempt_at <= now,
                )
                .values(
                    attempts=IntegrationWrite.attempts + 1,
                    next_attempt_at=now + backoff(1, CLAIM_LEASE_SECONDS),
                )
                .execution_options(synchronize_session=False)
            ).rowcount
            if claimed != 1:
                continue
            request = peer.prepare(s, s.get_one(IntegrationWrite, write_id))
            uow.commit()
        outcome = None
        if request is not None:
            if pace is not None:
                wait = last_sent + 1 / peer.per_second - time.monotonic()
                if wait > 0:
                    pace(wait)
                last_sent = time.monotonic()
            outcome = peer.send(request)
        with uow:
            row = uow.session.get_one(IntegrationWrite, write_id)
            settle(row, outcome, now=clock.now(), report=report, when_nothing=peer.when_nothing)
            uow.commit()
    return report


def settle(
    row: IntegrationWrite,
    outcome: WriteOutcome | None,
    *,
    now: datetime,
    report: DrainReport,
    when_nothing: WriteStatus = WriteStatus.CANCELLED,
) -> None:
    if outcome is None and when_nothing == WriteStatus.WAITING:
        row.status = WriteStatus.WAITING  # until what it needs comes (and it is enqueued again)
        return
    if outcome is None:
        row.status, row.done_at, row.last_error = WriteStatus.CANCELLED, now, "nothing to send"
        report.dropped += 1
        return
    if outcome.ok:
        row.status, row.result, row.done_at, row.last_error = (
            WriteStatus.DONE, outcome.result, now, None
        )  # fmt: skip
        report.done += 1
        return
    row.last_error = outcome.error
    if outcome.transient:
        row.next_attempt_at = now + backoff(row.attempts, outcome.retry_after)
        report.retried += 1
    else:
        row.status = WriteStatus.FAILED
        report.failed += 1
