"""The schema check every process makes at start, and the schema state `/healthz` reports.

A process started against a database that was never migrated, or one a release behind, would
answer every text with a 500 and log a traceback every few seconds; one migrated by a newer Muster
may hold data this code would misread. Either way the process stops at start with one line naming
the fix, before it serves or sends anything (SQLite's embedded `muster serve` migrates itself
first, so it never meets this).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TYPE_CHECKING, Any

from storage.db import is_database_away
from storage.migrate import SchemaState, schema_state

if TYPE_CHECKING:
    from bot.bootstrap import Container

log = logging.getLogger(__name__)

EXIT_SCHEMA = 2  # the same status as a bad setting: the operator must act before a restart helps
WAIT_MAX_SECONDS = 10.0


def check_at_start(container: Container, *, wait_for_database: bool) -> int | None:
    """None when this process may start; otherwise the exit status (after one line on stderr).

    A database that cannot be reached is not a schema problem: a worker or clock waits for it
    (as it would at any other time) and checks once it answers, or stops cleanly (0) on SIGTERM;
    the web app starts anyway (it spools texts while the database is away) and `/healthz` says
    what it finds once the database is back."""
    from bot.process import stop_requested

    delay, warned = 0.5, False
    while True:
        try:
            state = schema_state(container.engine)
            break
        except Exception as exc:
            if not is_database_away(exc):
                raise
            if not wait_for_database:
                log.warning("database unreachable at start (%s); schema not checked yet",
                            type(exc).__name__)  # fmt: skip
                return None
            if not warned:
                log.warning("database unreachable (%s): waiting for it", type(exc).__name__)
                warned = True
        end = time.monotonic() + delay
        while time.monotonic() < end:
            if stop_requested():
                return 0
            time.sleep(0.1)
        delay = min(delay * 2, WAIT_MAX_SECONDS)
    if state.ok:
        return None
    print(f"muster: {state.problem()}", file=sys.stderr)
    return EXIT_SCHEMA


def health(container: Container) -> tuple[int, dict[str, Any]]:
    """`/healthz`: the status code and body. 503 when the database cannot be reached or its
    schema is behind this code (`muster db upgrade` has not run); a schema ahead of it (a newer
    Muster is being rolled out) is reported but still 200, so old web processes keep serving
    until the new ones take over."""
    try:
        state = schema_state(container.engine)
    except Exception as exc:
        expected = SchemaState(None, None, "unknown")
        return 503, _body("unavailable", type(exc).__name__, expected)
    healthy = state.state in {"ok", "ahead"}
    return (200 if healthy else 503), _body("ok" if healthy else "unavailable", "ok", state)


def _body(status: str, database: str, state: SchemaState) -> dict[str, Any]:
    from storage.migrate import head_revision

    return {
        "status": status,
        "database": database,
        "schema": {
            "state": state.state,
            "current": state.current,
            "expected": state.expected or head_revision(),
        },
    }
