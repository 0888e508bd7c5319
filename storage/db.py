"""Engines and sessions for SQLite (the embedded default) and PostgreSQL.

SQLite runs in WAL mode with a busy timeout. pysqlite's legacy transaction handling is switched off
so that every write transaction starts with `BEGIN IMMEDIATE`: it takes the write lock up front,
which is what makes read-then-write transactions (the capacity check, claiming outbox rows) safe
on SQLite, where `FOR UPDATE` is silently ignored. Read-only units of work begin DEFERRED.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000
READ_ONLY = "muster_read_only"


def make_engine(
    url: str, *, pool_size: int = 10, echo: bool = False, hide_parameters: bool = True
) -> Engine:
    """`hide_parameters`: SQLAlchemy leaves a statement's parameters (message bodies, phone
    numbers) out of its error messages and its logging; only LOG_SQL turns it off."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, echo=echo, hide_parameters=hide_parameters)
    return create_engine(
        url,
        echo=echo,
        hide_parameters=hide_parameters,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=pool_size * 2,
        pool_recycle=1800,
        connect_args={"connect_timeout": 5, "application_name": "muster"},
    )


def _sqlite_engine(url: str, *, echo: bool, hide_parameters: bool) -> Engine:
    in_memory = is_in_memory(url)
    kwargs: dict[str, Any] = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
    if in_memory:
        from sqlalchemy.pool import StaticPool

        kwargs["poolclass"] = StaticPool
        kwargs["connect_args"]["check_same_thread"] = False
    engine = create_engine(url, echo=echo, hide_parameters=hide_parameters, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN DEFERRED")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_session_factory(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    bind = engine.execution_options(**{READ_ONLY: True}) if read_only else engine
    return sessionmaker(bind=bind, expire_on_commit=False, autoflush=True)


def is_database_away(exc: BaseException) -> bool:
    """True for the errors that mean "the database cannot be reached right now" (refused,
    dropped, timed out: worth waiting and trying again), as opposed to a bug or a bad row.
    A transaction the server rolled back because of other transactions (a deadlock, a
    serialization failure: SQLSTATE class 40) is not: the database is there, try again now."""
    if is_transaction_conflict(exc):
        return False
    if isinstance(exc, OperationalError | InterfaceError | DisconnectionError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def is_transaction_conflict(exc: BaseException) -> bool:
    """PostgreSQL ended the transaction for a conflict with another one (deadlock detected,
    could not serialize): SQLSTATE 40xxx, which psycopg raises as an OperationalError."""
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return isinstance(exc, DBAPIError) and isinstance(sqlstate, str) and sqlstate.startswith("40")


def is_in_memory(url: str) -> bool:
    """A SQLite database in this process's memory (nothing another process could open)."""
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
