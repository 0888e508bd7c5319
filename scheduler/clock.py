"""The clock: Muster's APScheduler 3 timetable, run by one leader at a time.

    muster clock            this alone (Procfile `clock:`); safe to start twice
    muster serve            the web app with the clock (and sender) in the same process

How it works, every tick (1 s):
1. Leadership (`scheduler/leader.py`): PostgreSQL advisory lock, or the `leases` row on SQLite.
   A standby only tries to take it; it never touches the job store.
2. The leader runs a `BackgroundScheduler` whose jobs persist in the database
   (`SQLAlchemyJobStore`, table `apscheduler_jobs`, same DATABASE_URL), so a restart neither loses
   nor repeats a job: a schedule due while the clock was down is still in the store with its past
   run time and runs as soon as the clock leads again.
3. Every 2 s the leader reads the `schedules` rows changed since it last looked (by
   `updated_at`) and turns them into jobs (`scheduler/clock_schedules.py`): id `schedule:<id>`,
   `replace_existing=True`, so a second registration replaces rather than doubles. A job is
   replaced only when the schedule's timing changed (so a pending past run time survives a
   restart); cancelled and finished schedules lose their job. Web processes only write rows;
   APScheduler 3 cannot share a job store between processes (its FAQ: "You can't"), so only this
   process writes the store.

Job options, on purpose: `misfire_grace_time=None` and `coalesce=True` for schedule jobs.
APScheduler's own misfire handling drops a late run with a log line nobody reads; Muster instead
has APScheduler call the job however late, once for however many missed runs, and
`scheduler.jobs.fire_schedule` decides with the run times in hand: up to 15 minutes late it sends,
later it records a MISSED broadcast and tells the organizers. See docs/timetable.md.

The Mobilize sync (every 15 minutes) and the drain of Mobilize write-backs (every 10 s, at most
5 writes a second) run only on the leader, beside the reminder sweep, when Mobilize is on; so
does the drain of Action Network writes (every 10 s, at most 4 requests a second) when
ACTION_NETWORK_API_KEY is set.

Ballots (member votes) are opened and closed by a sweep every 5 s (`jobs.run_ballot_sweep`); a
vote is refused from its closing time on whatever the sweep's lag, and each ballot is claimed by a
conditional UPDATE, so it opens, closes and posts its result once whichever clock leads.

The reminder sweep (every 30 s) lives in an in-memory job store: it is self-correcting (it
looks at the database, not at what it did last), so persisting it would only write a row every
30 s for nothing.

What each job does on the leader is `scheduler/clock_jobs.py` (`TimetableJobs`, a base of
`Timetable`); turning the schedules into jobs is `scheduler/clock_schedules.py`
(`TimetableSchedules`, the other base). The entry points APScheduler calls stay here: stored jobs
name this module (`scheduler.clock:run_schedule_job`), and a job store in an existing database
must still find it.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_SUBMITTED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from handlers.action_network import ActionNetworkApi
from handlers.config import OrgConfig
from handlers.mobilize import MobilizeApi
from handlers.ports import Clock
from scheduler import jobs
from scheduler.clock_jobs import TimetableJobs
from scheduler.clock_schedules import SCHEDULE_STORE, TimetableSchedules
from scheduler.leader import AdvisoryLock, LeaseRow, leadership_for
from scheduler.ports import Metrics, NoMetrics, UowFactory
from storage.db import make_engine

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0
SYNC_EVERY = timedelta(seconds=2)
REMINDER_SWEEP_SECONDS = 30
RETRY_SECONDS = 30.0  # after a failed firing
BUILTIN_STORE = "builtin"
SCHEDULE_JOB_DEFAULTS = {"misfire_grace_time": None, "coalesce": True, "max_instances": 1}
REMINDER_JOB_ID = "muster:reminders"
BALLOT_JOB_ID, BALLOT_SWEEP_SECONDS = "muster:ballots", 5
MOBILIZE_SYNC_JOB_ID, MOBILIZE_WRITES_JOB_ID = "muster:mobilize-sync", "muster:mobilize-writes"
MOBILIZE_SYNC_MINUTES = 15
MOBILIZE_WRITES_SECONDS = 10
ACTION_NETWORK_WRITES_JOB_ID = "muster:action-network-writes"
ACTION_NETWORK_WRITES_SECONDS = 10

# The timetable that leads in this process: APScheduler's persisted jobs name plain functions
# (textual references, so they pickle) and reach their database and ports through it.
_leading: Timetable | None = None
_leading_lock = threading.Lock()


def run_schedule_job(schedule_id: int, timing: str = "") -> None:
    """APScheduler's entry point for a schedule (a module-level function: it pickles)."""
    timetable = _leading
    if timetable is None or not timetable.leading:
        log.warning("clock: schedule %s due, but this clock does not lead; skipped", schedule_id)
        return
    timetable.fire(schedule_id)


def run_reminder_job() -> None:
    timetable = _leading
    if timetable is not None and timetable.leading:
        timetable.sweep_reminders()


def run_ballot_job() -> None:
    timetable = _leading
    if timetable is not None and timetable.leading:
        timetable.sweep_ballots()


def run_mobilize_sync_job() -> None:
    timetable = _leading
    if timetable is not None and timetable.leading:
        timetable.sync_mobilize()


def run_mobilize_writes_job() -> None:
    timetable = _leading
    if timetable is not None and timetable.leading:
        timetable.drain_mobilize()


def run_action_network_writes_job() -> None:
    timetable = _leading
    if timetable is not None and timetable.leading:
        timetable.drain_action_network()


class Timetable(TimetableJobs, TimetableSchedules):
    """One clock: seeks leadership, and while it leads runs the APScheduler scheduler."""

    def __init__(
        self,
        *,
        engine: Engine,
        database_url: str,
        uow: UowFactory,
        read_uow: UowFactory,
        clock: Clock,
        org: OrgConfig,
        lease_ttl: timedelta,
        metrics: Metrics | None = None,
        leadership: AdvisoryLock | LeaseRow | None = None,
        reminder_seconds: float = REMINDER_SWEEP_SECONDS,
        mobilize: MobilizeApi | None = None,
        action_network: ActionNetworkApi | None = None,
    ):
        self.mobilize = mobilize  # None: Mobilize is off (no MOBILIZE_ORGANIZATION_ID)
        self.action_network = action_network  # None: no ACTION_NETWORK_API_KEY
        self.database_url = database_url  # the job store's own engine connects here
        self.uow, self.read_uow = uow, read_uow
        self.clock = clock
        self.org = org
        self.metrics = metrics or NoMetrics()
        self.leadership = leadership or leadership_for(engine, clock, lease_ttl=lease_ttl)
        self.reminder_seconds = reminder_seconds
        self.scheduler: BackgroundScheduler | None = None
        self._store_engine: Engine | None = None
        self._versions: dict[str, str] = {}
        self._watermark: datetime | None = None
        self._last_sync = float("-inf")
        self._resync_at: float | None = None  # after a failed firing: re-register from the rows

    # --- leadership ----------------------------------------------------------------------

    @property
    def leading(self) -> bool:
        return self.scheduler is not None

    def step(self) -> bool:
        """One tick: keep or seek the leadership; while leading, pick up changed schedules."""
        holds = self.leadership.acquire()
        if holds and not self.leading:
            self._lead()
        elif not holds and self.leading:
            log.warning("clock: leadership lost; stopping the timetable here")
            self._stand_down()
        if self._resync_at is not None and time.monotonic() >= self._resync_at:
            self._resync_at, self._watermark = None, None  # the next sync reads every row
            self._last_sync = float("-inf")
        if self.leading and time.monotonic() - self._last_sync >= SYNC_EVERY.total_seconds():
            self.sync_schedules()
        return self.leading

    def run(self, stop: threading.Event) -> None:
        log.info("clock started (%s); seeking leadership", self.leadership.holder)
        failures = 0
        try:
            while not stop.is_set():
                try:
                    self.step()
                    failures = 0
                except Exception:
                    failures += 1
                    log.exception("clock: tick failed (%d in a row); retrying", failures)
                stop.wait(min(TICK_SECONDS * 2**failures, 30.0) if failures else TICK_SECONDS)
        finally:
            self.close()
        log.info("clock stopped")

    def close(self) -> None:
        """Clean shutdown: let a running job finish, then hand the leadership over."""
        if self.leading:
            self._stand_down()
        self.leadership.close()

    def _lead(self) -> None:
        global _leading
        log.info("clock: leading (%s)", self.leadership.holder)
        with _leading_lock:
            _leading = self
        self._store_engine = make_engine(self.database_url, pool_size=2)
        scheduler = BackgroundScheduler(
            jobstores={
                SCHEDULE_STORE: SQLAlchemyJobStore(engine=self._store_engine),
                BUILTIN_STORE: MemoryJobStore(),
            },
            executors={"default": ThreadPoolExecutor(max_workers=4)},
            job_defaults=SCHEDULE_JOB_DEFAULTS,
            timezone=UTC,
        )
        scheduler.add_listener(self._on_job_error, EVENT_JOB_ERROR)
        scheduler.add_listener(lambda e: _observe_lag(self.metrics, e), EVENT_JOB_SUBMITTED)
        self.scheduler = scheduler
        self._versions = {}
        self._watermark = None
        try:
            scheduler.start(paused=True)
            for job in scheduler.get_jobs(jobstore=SCHEDULE_STORE):
                self._versions[job.id] = job.kwargs.get("timing", "")
            jobs.ensure_digest_schedule(self.uow(), self.clock, org=self.org)
            self.sync_schedules()
            self._add_builtin_jobs(scheduler)
            scheduler.resume()
        except Exception:
            self._stand_down()
            raise

    def _add_builtin_jobs(self, scheduler: BackgroundScheduler) -> None:
        scheduler.add_job(
            "scheduler.clock:run_reminder_job",
            trigger=IntervalTrigger(seconds=self.reminder_seconds),
            id=REMINDER_JOB_ID,
            name="reminder sweep",
            jobstore=BUILTIN_STORE,
            replace_existing=True,
            next_run_time=datetime.now(UTC),
        )
        scheduler.add_job(
            "scheduler.clock:run_ballot_job",
            trigger=IntervalTrigger(seconds=BALLOT_SWEEP_SECONDS),
            id=BALLOT_JOB_ID,
            name="ballots open and close",
            jobstore=BUILTIN_STORE,
            replace_existing=True,
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),
        )
        peers: list[tuple[str, str, str, int]] = []
        if self.action_network is not None:
            peers.append(
                (
                    ACTION_NETWORK_WRITES_JOB_ID,
                    "run_action_network_writes_job",
                    "Action Network writes",
                    ACTION_NETWORK_WRITES_SECONDS,
                )
            )
        if self.mobilize is not None:
            peers += self._mobilize_jobs()
        for job_id, func, name, every in peers:
            scheduler.add_job(
                f"scheduler.clock:{func}",
                trigger=IntervalTrigger(seconds=every),
                id=job_id,
                name=name,
                jobstore=BUILTIN_STORE,
                replace_existing=True,
                max_instances=1,
                coalesce=True,
                next_run_time=datetime.now(UTC),
            )

    @staticmethod
    def _mobilize_jobs() -> list[tuple[str, str, str, int]]:
        return [
            (
                MOBILIZE_SYNC_JOB_ID,
                "run_mobilize_sync_job",
                "Mobilize sync",
                MOBILIZE_SYNC_MINUTES * 60,
            ),
            (
                MOBILIZE_WRITES_JOB_ID,
                "run_mobilize_writes_job",
                "Mobilize writes",
                MOBILIZE_WRITES_SECONDS,
            ),
        ]

    def _stand_down(self) -> None:
        global _leading
        scheduler, self.scheduler = self.scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=True)
        with _leading_lock:
            if _leading is self:
                _leading = None
        if self._store_engine is not None:
            self._store_engine.dispose()
            self._store_engine = None
        self.leadership.release()

    def abandon(self) -> None:
        """Tests: die without a clean shutdown (no hand-over; the lease or lock just lapses)."""
        global _leading
        scheduler, self.scheduler = self.scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        with _leading_lock:
            if _leading is self:
                _leading = None
        self.leadership.abandon()

    # --- failed firings ------------------------------------------------------------------

    def _on_job_error(self, event: JobExecutionEvent) -> None:
        """A firing failed (the database was away, say). Nothing was committed, and APScheduler
        has already moved the job on (a one-off job is gone): in RETRY_SECONDS the clock
        re-registers it from its row, and the run goes then if still inside its grace window,
        or is reported missed."""
        log.error("clock: job %s failed: %r", event.job_id, event.exception)
        if event.job_id.startswith("schedule:"):
            self._versions.pop(event.job_id, None)
            self._resync_at = time.monotonic() + RETRY_SECONDS


def _observe_lag(metrics: Metrics, event: JobSubmissionEvent) -> None:
    """How late a job started after its (latest) scheduled time: the metrics' scheduler lag."""
    if event.scheduled_run_times:
        metrics.observe_scheduler_lag(
            (datetime.now(UTC) - max(event.scheduled_run_times)).total_seconds()
        )


def run_clock(stop: threading.Event, **wiring: Any) -> None:
    """`muster clock` (or a thread of `muster serve`); `wiring` is what a Timetable takes
    (bot/parts.py passes it from the settings)."""
    Timetable(**wiring).run(stop)
