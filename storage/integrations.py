"""The integrations' own tables: the outbox of writes to peer services, and the record of syncs.

`integration_outbox` holds one row per write Muster owes a peer (a Mobilize attendance, its
cancellation, an Action Network person). A row is written in the same transaction as the change
that caused it, with a `dedupe_key` the database keeps UNIQUE, so a producer that runs twice (a
retried text, two clocks) leaves one row: nothing is doubled. The drain
(`handlers.integration_writes`) claims due rows, sends them within the peer's rate limit, and marks
them `done`, or puts them back with a later `next_attempt_at` and the error in words: nothing is
lost.

`sync_runs` is one row per run of a sync (`muster sync mobilize`, the clock): when, what changed,
and the last error in words, for `/muster sync`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage.models import Base, StrEnum, enum_column, utcnow


class Integration(StrEnum):
    MOBILIZE = "mobilize"
    ACTION_NETWORK = "action_network"


class WriteStatus(StrEnum):
    PENDING = "pending"  # due at next_attempt_at
    WAITING = "waiting"  # needs something first (a volunteer's email); not drained yet
    DONE = "done"
    FAILED = "failed"  # the peer refused it for good (a 4xx other than 429); kept, with why
    CANCELLED = "cancelled"  # no longer wanted (a DROP before the attendance went)


class IntegrationWrite(Base):
    __tablename__ = "integration_outbox"
    __table_args__ = (Index("ix_integration_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    integration: Mapped[Integration] = mapped_column(enum_column(Integration))
    # mobilize.attendance, mobilize.cancel, action_network.person, action_network.attendance
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    dedupe_key: Mapped[str] = mapped_column(String(160), unique=True)
    volunteer_id: Mapped[int | None] = mapped_column(
        ForeignKey("volunteers.id", ondelete="SET NULL"), index=True
    )
    commitment_id: Mapped[int | None] = mapped_column(
        ForeignKey("commitments.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[WriteStatus] = mapped_column(
        enum_column(WriteStatus), default=WriteStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    # What the peer answered that a later write needs (a Mobilize attendance's id).
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]


class SyncRun(Base):
    __tablename__ = "sync_runs"
    __table_args__ = (Index("ix_sync_runs_integration_started", "integration", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    integration: Mapped[Integration] = mapped_column(enum_column(Integration))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    ok: Mapped[bool] = mapped_column(Boolean, default=False)
    # The peer's clock position this run read up to (Mobilize `updated_since` for the next run).
    cursor: Mapped[int | None] = mapped_column(BigInteger)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # created, updated, ...
    summary: Mapped[str | None] = mapped_column(Text)  # what changed, in words
    error: Mapped[str | None] = mapped_column(Text)  # the error in words, if it failed


# --- queries -------------------------------------------------------------------------------------


def enqueue_write(
    session: Session,
    *,
    integration: Integration,
    kind: str,
    payload: dict[str, Any],
    dedupe_key: str,
    now: datetime,
    volunteer_id: int | None = None,
    commitment_id: int | None = None,
    status: WriteStatus = WriteStatus.PENDING,
) -> bool:
    """One row for this write, unless its dedupe key is already there; True if it was added."""
    row = {
        "integration": integration.value,
        "kind": kind,
        "payload": payload,
        "dedupe_key": dedupe_key,
        "volunteer_id": volunteer_id,
        "commitment_id": commitment_id,
        "status": status.value,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    table = IntegrationWrite.__table__
    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = module.insert(table).on_conflict_do_nothing().returning(table.c.id)
    return len(session.execute(stmt, [row]).all()) == 1


def write_by_key(session: Session, dedupe_key: str) -> IntegrationWrite | None:
    return session.scalars(
        select(IntegrationWrite).where(IntegrationWrite.dedupe_key == dedupe_key)
    ).one_or_none()


def claim_due_writes(session: Session, *, now: datetime, limit: int) -> list[IntegrationWrite]:
    """Due rows, oldest first, locked (SKIP LOCKED on PostgreSQL) until the caller commits."""
    stmt = (
        select(IntegrationWrite)
        .where(
            IntegrationWrite.status == WriteStatus.PENDING,
            IntegrationWrite.next_attempt_at <= now,
        )
        .order_by(IntegrationWrite.next_attempt_at, IntegrationWrite.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(stmt))


def release_waiting(session: Session, *, volunteer_id: int, now: datetime) -> int:
    """Rows that waited for this volunteer (their email) become due now."""
    result = session.execute(
        update(IntegrationWrite)
        .where(
            IntegrationWrite.volunteer_id == volunteer_id,
            IntegrationWrite.status == WriteStatus.WAITING,
        )
        .values(status=WriteStatus.PENDING, next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def backoff(attempts: int, retry_after: float | None = None) -> timedelta:
    """30 s, 1, 2, 4 ... minutes, at most an hour; never sooner than the peer's Retry-After."""
    seconds = min(30 * 2 ** max(attempts - 1, 0), 3600)
    return timedelta(seconds=max(seconds, retry_after or 0))


def start_run(session: Session, *, integration: Integration, now: datetime) -> SyncRun:
    run = SyncRun(integration=integration, started_at=now, changes={})
    session.add(run)
    session.flush()
    return run


def last_good_run(session: Session, integration: Integration) -> SyncRun | None:
    return session.scalars(
        select(SyncRun)
        .where(SyncRun.integration == integration, SyncRun.ok.is_(True))
        .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
        .limit(1)
    ).first()


def latest_runs(session: Session) -> dict[Integration, SyncRun]:
    """Each integration's most recent run (good or not)."""
    runs: dict[Integration, SyncRun] = {}
    for integration in Integration:
        run = session.scalars(
            select(SyncRun)
            .where(SyncRun.integration == integration)
            .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
            .limit(1)
        ).first()
        if run is not None:
            runs[integration] = run
    return runs


def outbox_counts(session: Session) -> dict[tuple[str, str], int]:
    """(integration, status) -> rows, for `/muster sync`."""
    rows = session.execute(
        select(IntegrationWrite.integration, IntegrationWrite.status, func.count()).group_by(
            IntegrationWrite.integration, IntegrationWrite.status
        )
    )
    return {(str(i), str(s)): int(n) for i, s, n in rows}


def failed_writes(session: Session, *, limit: int = 5) -> Sequence[IntegrationWrite]:
    return session.scalars(
        select(IntegrationWrite)
        .where(IntegrationWrite.status == WriteStatus.FAILED)
        .order_by(IntegrationWrite.id.desc())
        .limit(limit)
    ).all()
