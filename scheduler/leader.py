"""One clock leads: only the holder of the leadership runs the timetable.

PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) held on a dedicated connection
for as long as the clock leads. If the leader dies, its connection closes and the server releases
the lock at once; the standby, trying every second, takes over within about a second. The leader
checks its connection every tick: if the connection is gone, so is the lock, and it stops at once.

SQLite (one host): a row in `leases` with an expiry, renewed every tick. A standby takes it once
it has expired (`CLOCK_LEASE_SECONDS` after the leader's last renewal). A leader that finds the
row taken by someone else (it stalled past its expiry) stops at once. During such a hand-over two
clocks might both act for a moment; every job is idempotent in the database (unique keys on
broadcasts' (schedule, run time) and on deliveries), so nothing goes out twice.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import uuid
from datetime import timedelta
from typing import Protocol

from sqlalchemy import Connection, Engine, case, create_engine, delete, literal, or_, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from handlers.ports import Clock
from storage.models import Lease, UTCDateTime

log = logging.getLogger(__name__)

CLOCK_LOCK_KEY = 0x6D75737465720001  # "muster" + 1: the clock's advisory lock
LEASE_NAME = "clock"


class Leadership(Protocol):
    holder: str

    def acquire(self) -> bool:
        """Take the leadership, or keep it; True while this process holds it."""
        ...

    def release(self) -> None:
        """Give it up now (a clean shutdown), so a standby need not wait for an expiry."""
        ...


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class AdvisoryLock:
    """PostgreSQL: a session-level advisory lock on a connection of its own (not pooled)."""

    def __init__(self, engine: Engine, *, key: int = CLOCK_LOCK_KEY, holder: str | None = None):
        self._engine = create_engine(engine.url, poolclass=NullPool)
        self._key = key - (1 << 64) if key >= (1 << 63) else key  # as a signed bigint
        self._conn: Connection | None = None
        self.holder = holder or holder_name()

    @property
    def held(self) -> bool:
        return self._conn is not None

    def acquire(self) -> bool:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                return True
            except DBAPIError:
                log.warning("clock: lost the database connection that held the leadership")
                self._drop()
                return False
        try:
            conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except DBAPIError as exc:
            log.warning("clock: cannot reach the database to seek leadership: %s", exc)
            return False
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}).scalar()
        except DBAPIError:
            conn.close()
            return False
        if got:
            self._conn = conn
            return True
        conn.close()
        return False

    def release(self) -> None:
        if self._conn is None:
            return
        with contextlib.suppress(DBAPIError):  # closing the session releases it anyway
            self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
        self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except DBAPIError:
                conn.invalidate()

    def abandon(self) -> None:
        """Tests: act as if this process died (the server notices the closed session)."""
        if self._conn is not None:
            self._conn.invalidate()
            self._conn = None

    def close(self) -> None:
        self.release()
        self._engine.dispose()


class LeaseRow:
    """A `leases` row with an expiry, renewed by its holder (SQLite, or any database)."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        *,
        ttl: timedelta = timedelta(seconds=10),
        name: str = LEASE_NAME,
        holder: str | None = None,
    ):
        self._engine, self._clock, self._ttl, self._name = engine, clock, ttl, name
        self.holder = holder or holder_name()
        self.held = False

    def acquire(self) -> bool:
        now = self._clock.now()
        expires = now + self._ttl
        try:
            with self._engine.begin() as conn:
                renewed = conn.execute(
                    update(Lease)
                    .where(
                        Lease.name == self._name,
                        or_(Lease.holder == self.holder, Lease.expires_at <= now),
                    )
                    .values(
                        holder=self.holder,
                        expires_at=expires,
                        acquired_at=case(
                            (Lease.holder == self.holder, Lease.acquired_at),
                            else_=literal(now, UTCDateTime()),
                        ),
                    )
                ).rowcount
                if not renewed:
                    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
                    renewed = len(
                        conn.execute(
                            dialect.insert(Lease)
                            .values(
                                name=self._name,
                                holder=self.holder,
                                expires_at=expires,
                                acquired_at=now,
                            )
                            .on_conflict_do_nothing()
                            .returning(Lease.name)
                        ).all()
                    )
        except DBAPIError as exc:
            log.warning("clock: could not renew the leadership lease: %s", exc)
            renewed = 0
        self.held = bool(renewed)
        return self.held

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        with self._engine.begin() as conn:
            conn.execute(delete(Lease).where(Lease.name == self._name, Lease.holder == self.holder))

    def abandon(self) -> None:
        """Tests: act as if this process died (the row stays until it expires)."""
        self.held = False

    def close(self) -> None:
        self.release()


def leadership_for(
    engine: Engine, clock: Clock, *, lease_ttl: timedelta
) -> AdvisoryLock | LeaseRow:
    if engine.dialect.name == "postgresql":
        return AdvisoryLock(engine)
    return LeaseRow(engine, clock, ttl=lease_ttl)
