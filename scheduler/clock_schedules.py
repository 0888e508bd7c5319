"""How the clock turns the `schedules` rows into APScheduler jobs while it leads.

Every 2 s the leader reads the rows changed since it last looked (by `updated_at`, re-reading
SYNC_OVERLAP behind the watermark for late commits) and turns them into jobs: id `schedule:<id>`,
`replace_existing=True`, so a second registration replaces rather than doubles. A job is replaced
only when the schedule's timing changed (`timing_version`), so a pending past run time survives a
restart; cancelled and finished schedules lose their job. A first look (no watermark) reads every
row and drops the stored jobs whose schedule is no longer active.

`TimetableSchedules` is the part of `scheduler.clock.Timetable` that does this; each job it adds
names `scheduler.clock:run_schedule_job`, the entry point that stays in `scheduler.clock`.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from sqlalchemy import select

from handlers.schedule_times import cron_trigger
from scheduler.ports import UowFactory
from storage.models import Schedule, ScheduleStatus

log = logging.getLogger("scheduler.clock")  # the clock's log lines, under the clock's name

SYNC_OVERLAP = timedelta(seconds=30)  # re-read rows this far behind the watermark (late commits)
SCHEDULE_STORE = "default"


def schedule_job_id(schedule_id: int) -> str:
    return f"schedule:{schedule_id}"


def timing_version(schedule: Any) -> str:
    """What a schedule's job depends on; the job is replaced only when this changes."""
    when = schedule.cron or (schedule.run_at.isoformat() if schedule.run_at else "")
    changed = schedule.timing_set_at.isoformat() if schedule.timing_set_at else ""
    return f"{when}|{schedule.timezone}|{changed}"


class TimetableSchedules:
    """Schedules into jobs (a base of `scheduler.clock.Timetable`, which sets these)."""

    read_uow: UowFactory
    scheduler: BackgroundScheduler | None
    _versions: dict[str, str]
    _watermark: datetime | None
    _last_sync: float

    def sync_schedules(self) -> int:
        """Turn the schedules changed since the last look into jobs; returns jobs (re)added."""
        assert self.scheduler is not None
        columns = (
            Schedule.id,
            Schedule.kind,
            Schedule.status,
            Schedule.run_at,
            Schedule.cron,
            Schedule.timezone,
            Schedule.timing_set_at,
            Schedule.updated_at,
        )
        stmt = select(*columns)
        if self._watermark is not None:
            stmt = stmt.where(Schedule.updated_at >= self._watermark - SYNC_OVERLAP)
        with self.read_uow() as uow:
            rows = uow.session.execute(stmt).all()
        self._last_sync = time.monotonic()
        changed = 0
        for schedule in rows:
            changed += self._sync_one(schedule)
        if self._watermark is None:
            active = {schedule_job_id(s.id) for s in rows if s.status == ScheduleStatus.ACTIVE}
            for job_id in set(self._versions) - active:
                self._remove(job_id)
        if rows:
            newest = max(s.updated_at for s in rows)
            self._watermark = max(newest, self._watermark) if self._watermark else newest
        return changed

    def _sync_one(self, schedule: Any) -> int:
        job_id = schedule_job_id(schedule.id)
        if schedule.status != ScheduleStatus.ACTIVE:
            self._remove(job_id)
            return 0
        version = timing_version(schedule)
        if self._versions.get(job_id) == version:
            return 0
        if schedule.cron:
            trigger: Any = cron_trigger(schedule.cron, schedule.timezone)
        elif schedule.run_at is not None:
            trigger = DateTrigger(run_date=schedule.run_at, timezone=UTC)
        else:
            return 0
        assert self.scheduler is not None
        self.scheduler.add_job(
            "scheduler.clock:run_schedule_job",
            trigger=trigger,
            args=(schedule.id,),
            kwargs={"timing": version},
            id=job_id,
            name=f"schedule {schedule.id} ({schedule.kind})",
            jobstore=SCHEDULE_STORE,
            replace_existing=True,
        )
        self._versions[job_id] = version
        log.info("clock: schedule %s registered (%s)", schedule.id, version.split("|")[0])
        return 1

    def _remove(self, job_id: str) -> None:
        if job_id not in self._versions:
            return
        self._versions.pop(job_id, None)
        assert self.scheduler is not None
        try:
            self.scheduler.remove_job(job_id, jobstore=SCHEDULE_STORE)
            log.info("clock: %s removed", job_id)
        except JobLookupError:
            pass  # a one-off job APScheduler already dropped after its run
