"""The clock, the sender and the posters in a process of their own beside the web process.

`muster serve` (without `--web-only`) is the one-command default: the web app, and also the
clock, the sender, the Slack poster (and the geocoder's and the patch-through caller's drains
when they are on). As threads of the web process they shared its interpreter with the event loop
that reads the webhooks: under load the sender and the poster cost the web app about a tenth of
its texts a second and ten milliseconds of its p99 (issue 19, bench/README.md). `PartsProcess`
runs them in one spawned child instead, as `muster worker` and `muster clock` run them on a
platform: the child builds its own container from the same settings and runs the same `run_*`
functions (`bot/parts.py`) with the same stop event, so nothing about them changes but the
process they run in. They share nothing with the web process but the database.

What the parts measure (the `Metrics` port: deliveries, the send latency, the clock's lag) is
forwarded to the web process every half second and recorded there, so `/metrics` of the embedded
default still shows every part's figures.

Lifetimes. The child stops when the web process says so (a message on the pipe), after its parts
have finished or released their work; when the web process dies, the pipe closes and the child
stops the same way. It ignores SIGINT (a terminal's Ctrl-C reaches the whole process group, and
the web process then stops it in order); a SIGTERM (a platform stopping every process) stops it
cleanly too. When the child dies while the web process runs, another is started, after a pause
that doubles on each quick death (1 s to a minute): no part stays down, and a part that cannot
start does not spin. A restart loses nothing: every part keeps its work in the database (the
outbox's claims expire and are claimed again, the clock's lease passes on, the posts are still
pending).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import threading
import time
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

from bot.settings import Settings

log = logging.getLogger(__name__)

_FLUSH_S = 0.5  # how often the child forwards what its parts measured
_STOP_WAIT_S = 75.0  # a part may take up to 60 s to release its work (bot/process.py)
_FIRST_PAUSE_S, _LONGEST_PAUSE_S = 1.0, 60.0
_STAYED_UP_S = 30.0  # a child that ran this long had not died "quickly": the pause starts over
_STOP = "stop"


class PartsProcess:
    """`start()` the child that runs the named parts; `stop()` it. `failed`: a child died, a part
    in it failed, or it did not stop cleanly (the web process then exits 1)."""

    def __init__(
        self,
        settings: Settings,
        names: list[str],
        *,
        recorder: Any,
        stopping: threading.Event | None = None,
    ) -> None:
        """`stopping`: set when the web process starts to stop (its signal handler's event), so
        a child that a platform's SIGTERM stopped first is not started again."""
        self._settings, self._names, self._recorder = settings, list(names), recorder
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._process: Any = None
        self._conn: Connection | None = None
        self._stopping = stopping or threading.Event()
        self._watcher: threading.Thread | None = None
        self._pause = _FIRST_PAUSE_S
        self._started_at = 0.0
        self.failed = False

    def start(self) -> None:
        with self._lock:
            self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="parts_watch", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            process, conn = self._process, self._conn
            if conn is not None:
                with contextlib.suppress(OSError):
                    conn.send(_STOP)
        if process is not None:
            process.join(_STOP_WAIT_S)
            if process.is_alive():
                log.warning("the parts process did not stop; killing it")
                process.kill()
                process.join(5)
                self.failed = True
            elif process.exitcode != 0:
                self.failed = True
        if self._watcher is not None:
            self._watcher.join(5)
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # --- the web process's side ------------------------------------------------------------------

    def _spawn(self) -> None:
        ours, theirs = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=_child_main,
            args=(self._settings, self._names, theirs),
            name="parts",
            daemon=True,
        )
        process.start()
        theirs.close()  # (the child's end: when it dies, our recv sees EOF)
        self._process, self._conn = process, ours
        self._started_at = time.monotonic()
        log.info("parts process %s started: %s", process.pid, ", ".join(self._names))

    def _watch(self) -> None:
        """Record what the child measured; when it dies while we run, start another."""
        while True:
            with self._lock:
                conn = self._conn
            if conn is None:
                return
            try:
                measured = conn.recv()
            except (EOFError, OSError):
                if self._stopping.is_set() or not self._restart():
                    return
                continue
            _record(self._recorder, measured)

    def _restart(self) -> bool:
        process = self._process
        if process is not None:
            process.join(5)
        code = process.exitcode if process is not None else None
        if time.monotonic() - self._started_at >= _STAYED_UP_S:
            self._pause = _FIRST_PAUSE_S
        if code == 0:  # it was stopped by a signal of its own (a platform stopping everything)
            log.info("the parts process stopped; starting another in %.0f s", self._pause)
        else:
            self.failed = True
            log.error(
                "the parts process died (exit status %s); starting another in %.0f s",
                code,
                self._pause,
            )
        if self._stopping.wait(self._pause):  # (the web process is stopping meanwhile)
            return False
        self._pause = min(self._pause * 2, _LONGEST_PAUSE_S)
        with self._lock:
            if self._stopping.is_set():  # (stop() came while we paused: it stops no new child)
                return False
            if self._conn is not None:
                self._conn.close()
            self._spawn()
        return True


def _record(recorder: Any, measured: dict[str, Any]) -> None:
    for outcome, n in measured.get("deliveries", {}).items():
        for _ in range(n):
            recorder.count_delivery(outcome)
    for seconds in measured.get("send_latency", ()):
        recorder.observe_send_latency(seconds)
    for seconds in measured.get("scheduler_lag", ()):
        recorder.observe_scheduler_lag(seconds)


class ForwardingRecorder:
    """The parts' metrics port in the child (`scheduler.ports.Metrics`): what they measure is
    kept here until the child's main thread `take`s it to send to the web process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deliveries: Counter[str] = Counter()
        self._latency: list[float] = []
        self._lag: list[float] = []

    def count_delivery(self, outcome: str) -> None:
        with self._lock:
            self._deliveries[outcome] += 1

    def observe_send_latency(self, seconds: float) -> None:
        with self._lock:
            self._latency.append(seconds)

    def observe_scheduler_lag(self, seconds: float) -> None:
        with self._lock:
            self._lag.append(seconds)

    def take(self) -> dict[str, Any] | None:
        """What was measured since the last take (None: nothing)."""
        with self._lock:
            if not (self._deliveries or self._latency or self._lag):
                return None
            measured = {
                "deliveries": dict(self._deliveries),
                "send_latency": self._latency,
                "scheduler_lag": self._lag,
            }
            self._deliveries, self._latency, self._lag = Counter(), [], []
        return measured


# --- the child ---------------------------------------------------------------------------------


def _child_main(settings: Settings, names: list[str], conn: Connection) -> None:
    """The parts process: run the parts until the web process says stop, or goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from bot.logs import configure_logging

    configure_logging(settings.log_level, log_format=settings.log_format, log_sql=settings.log_sql)
    from bot import parts
    from bot.bootstrap import bootstrap

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    recorder = ForwardingRecorder()
    container = bootstrap(settings)
    container.extras[parts.METRICS_PORT] = recorder

    def listen() -> None:  # the web process's word, or its end
        with contextlib.suppress(EOFError, OSError):
            while conn.recv() != _STOP:
                pass
        stop.set()

    def forward() -> None:  # (only this thread sends; `listen` only receives)
        measured = recorder.take()
        if measured is None:
            return
        try:
            conn.send(measured)
        except OSError:  # the web process is gone
            stop.set()

    threads = [parts.PartThread(name, parts.RUNNERS[name], container, stop) for name in names]
    threading.Thread(target=listen, name="parts_listen", daemon=True).start()
    for thread in threads:
        thread.start()
    while not stop.wait(_FLUSH_S):
        forward()
    for thread in threads:
        thread.join(timeout=60)
    forward()  # (the last of what they measured)
    failed = any(t.failed or t.is_alive() for t in threads)
    container.close()
    raise SystemExit(1 if failed else 0)
