"""What the web process knows of consent when the database is away: which numbers are subscribed.

While the database cannot be reached, the spool (bot/spool.py) keeps a volunteer's text for later
and may answer it at once with a short acknowledgement. It must not answer a number that has
opted out (its latest consent ledger entry is an opt-out, with or without a volunteer on file), and
it cannot ask the database. So each web process keeps this view of the ledger: the numbers whose
latest entry is an opt-in, as the key `bot.spool_files.sender_key` makes of them (never the numbers
themselves). It is read from `consent_events` once the database answers (the ledger is
append-only, so after the first read only the rows with a higher id are read: one indexed query a
second, by the spool's replayer thread), and this process's own answers (a STOP, a JOIN) count at
once, before the ledger row comes back round.

A number the view does not know to be subscribed (a new number, one that opted out or was erased,
or any number before the view was first read) gets no acknowledgement: its real answer, through
the same rules as ever, is texted when its text is replayed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import Engine, select

from storage.models import ConsentAction, ConsentEvent

CHUNK = 10_000  # ledger rows read per query


class ConsentView:
    """The subscribed numbers' keys: the ledger rows read so far, and this process's answers."""

    def __init__(self, key: Callable[[str | None], str]):
        self._key = key
        self._lock = threading.Lock()
        self._subscribed: set[str] | None = None  # None: the ledger was never read
        self._last_id = 0
        # This process's own answers since the ledger was last read (key -> subscribed); a ledger
        # row for the key, read later, is newer news and replaces it.
        self._answered: dict[str, bool] = {}

    @property
    def loaded(self) -> bool:
        return self._subscribed is not None

    def subscribed(self, phone: str | None) -> bool:
        """Known to be subscribed; False for any number the view cannot vouch for."""
        key = self._key(phone)
        with self._lock:
            if key in self._answered:
                return self._answered[key]
            return self._subscribed is not None and key in self._subscribed

    def answered(self, phone: str | None, intent: str | None) -> None:
        """This process answered a text of `phone` with `intent` (opt_out / opt_in count)."""
        if intent not in ("opt_out", "opt_in"):
            return
        with self._lock:
            self._answered[self._key(phone)] = intent == "opt_in"

    def refresh(self, engine: Engine) -> int:
        """Read the ledger rows written since the last read (all of it the first time); returns
        how many. Raises what the database raises when it is away (the view stays as it was)."""
        read = 0
        first = self._subscribed is None
        building: set[str] = set()  # the first read is published whole, at its end
        last_id = self._last_id
        while True:
            with engine.connect() as conn:
                rows = conn.execute(
                    select(ConsentEvent.id, ConsentEvent.phone, ConsentEvent.action)
                    .where(ConsentEvent.id > last_id)
                    .order_by(ConsentEvent.id)
                    .limit(CHUNK)
                ).all()
            with self._lock:
                subscribed = building if first else self._subscribed
                assert subscribed is not None
                for row in rows:
                    key = self._key(row.phone)
                    self._answered.pop(key, None)
                    if row.action == ConsentAction.OPT_IN:
                        subscribed.add(key)
                    else:
                        subscribed.discard(key)
                    last_id = row.id
                done = len(rows) < CHUNK
                if first and done:
                    self._subscribed = building
                if not first or done:
                    self._last_id = last_id
            read += len(rows)
            if done:
                return read
