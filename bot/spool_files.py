"""The spool's files: where a webhook request waits, durably, while the database is away.

Each request is one file, written to a temporary name, fsync'd, renamed into place and the
directory fsync'd, so a crash leaves either the whole request or nothing. File names sort in
arrival order and end with a key of the sender's number (`sender_key`, not the number itself), so
the texts waiting from one number are found without reading them. Files hold phone numbers and
message bodies: the directory is private (0700) and a file is deleted once its request is
replayed; one the handler refuses for good is set aside in `failed/` for a person to look at.

What the webhook keeps here and how the replayer drains it is `bot/spool.py`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from handlers.phones import masked
from storage.db import is_database_away

log = logging.getLogger("bot.spool")  # the spool's log lines, under the spool's name

SUFFIX = ".json"
_KEY_LENGTH = 12  # hex digits of the sender's key at the end of a file's name
FAILED = "failed"  # requests the handler refused for a reason other than the database
_sequence = itertools.count()
_STILL_NS = 2_000_000_000  # a directory unchanged this long has a listing worth remembering


@dataclass(frozen=True, slots=True)
class SpooledRequest:
    """A webhook request as Twilio signed it, and when it arrived."""

    path: str  # the request's path and query, as signed (`/twilio/sms`)
    params: dict[str, str]
    signature: str
    received_at: datetime
    file: Path | None = None

    @property
    def message_sid(self) -> str:
        return self.params.get("MessageSid") or self.params.get("SmsSid") or "?"


class Spool:
    """One directory of spooled requests, oldest first."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._listed: tuple[int, list[Path]] | None = None  # (directory mtime, its listing)

    def _ensure(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def put(self, request: SpooledRequest) -> Path:
        """Keep the request durably; returns its file."""
        self._ensure()
        stamp = f"{time.time_ns():020d}-{os.getpid():07d}-{next(_sequence):06d}"
        final = self.directory / f"{stamp}-{sender_key(request.params.get('From'))}{SUFFIX}"
        temp = self.directory / f".{stamp}.tmp"
        data = json.dumps(
            {
                "path": request.path,
                "params": request.params,
                "signature": request.signature,
                "received_at": request.received_at.astimezone(UTC).isoformat(),
            },
            ensure_ascii=False,
        ).encode()
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, final)
        self._fsync_directory()
        log.warning(
            "database away: kept inbound %s from %s in the spool",
            request.message_sid,
            masked(request.params.get("From")),
        )
        return final

    def _fsync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def pending(self) -> list[Path]:
        """Spooled requests in arrival order."""
        try:
            # Every text asks whether its sender has texts waiting; the directory is read again
            # only when it changed (a file put, renamed or removed changes its mtime), so the
            # usual answer, "nothing waits", costs one stat rather than a listing. A listing is
            # remembered only once the directory has been still for a while: mtimes tick
            # coarsely, and a change in the same tick as the listing would otherwise go unseen.
            stamp = os.stat(self.directory).st_mtime_ns
        except FileNotFoundError:
            return []
        listed = self._listed
        if listed is not None and listed[0] == stamp:
            return listed[1]
        files = sorted(p for p in self.directory.iterdir() if p.name.endswith(SUFFIX))
        still = time.time_ns() - stamp > _STILL_NS
        self._listed = (stamp, files) if still else None
        return files

    def waiting_senders(self) -> frozenset[str]:
        """The `sender_key` of every number with a text waiting here."""
        return frozenset(p.name[-len(SUFFIX) - _KEY_LENGTH : -len(SUFFIX)] for p in self.pending())

    def has_pending(self, phone: str | None = None) -> bool:
        """Anything waiting (from this sender's number, when one is given)."""
        if phone is None:
            return bool(self.pending())
        return sender_key(phone) in self.waiting_senders()

    def load(self, file: Path) -> SpooledRequest:
        data = json.loads(file.read_text(encoding="utf-8"))
        return SpooledRequest(
            path=data["path"],
            params={str(k): str(v) for k, v in data["params"].items()},
            signature=data["signature"],
            received_at=datetime.fromisoformat(data["received_at"]),
            file=file,
        )

    @contextlib.contextmanager
    def _directory_lock(self) -> Iterator[None]:
        """Another process sharing this directory (two web processes on one host) waits."""
        self._ensure()
        fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def remove(self, file: Path) -> None:
        file.unlink(missing_ok=True)
        self._fsync_directory()

    def set_aside(self, file: Path) -> Path:
        """A request the handler refused for good: kept for a person to look at, out of the way."""
        failed = self.directory / FAILED
        failed.mkdir(mode=0o700, exist_ok=True)
        target = failed / file.name
        os.replace(file, target)
        self._fsync_directory()
        return target

    def replay(self, handle: Callable[[SpooledRequest], Any]) -> int:
        """Replay every spooled request in order through `handle`; stop at the first one that
        finds the database away (it stays first in line). Returns how many were replayed.

        One replay at a time per spool (a lock), so two threads never replay the same file.
        """
        replayed = 0
        with self._lock, self._directory_lock():
            for file in self.pending():
                try:
                    request = self.load(file)
                except (OSError, ValueError, KeyError) as exc:
                    log.error("spool: unreadable file %s set aside (%s)", file.name, exc)
                    self.set_aside(file)
                    continue
                try:
                    handle(request)
                except Exception as exc:
                    if is_database_away(exc):
                        log.info("spool: database still away; %d waiting", len(self.pending()))
                        break
                    log.exception("spool: inbound %s refused; set aside", request.message_sid)
                    self.set_aside(file)
                    continue
                self.remove(file)
                replayed += 1
        if replayed:
            log.info("spool: replayed %d inbound texts", replayed)
        return replayed


def sender_key(phone: str | None) -> str:
    """A short, stable key of the sender's number for spool file names (not the number itself)."""
    return hashlib.sha256((phone or "").encode()).hexdigest()[:_KEY_LENGTH]
