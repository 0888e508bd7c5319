"""What the clock's jobs do while it leads: each binds a job of `scheduler/jobs.py` (firing a
schedule, the reminder and ballot sweeps) or a peer's sync or drain (Mobilize, Action Network) to
the timetable's unit-of-work factory, clock, settings and peer APIs, and logs what came of it.

`TimetableJobs` is the part of `scheduler.clock.Timetable` that does this work; the timetable
itself seeks leadership, owns the APScheduler scheduler and registers the jobs (the schedules'
through `scheduler/clock_schedules.py`). APScheduler calls the module-level entry points in
`scheduler.clock` (`run_schedule_job`, `run_reminder_job`, ...), which hand the call to the
timetable that leads. Those stay in `scheduler.clock`: the job store
keeps each schedule's job by its textual reference, `scheduler.clock:run_schedule_job`, so that
name must keep resolving for the jobs already stored in existing databases.
"""

from __future__ import annotations

import logging
import time

from handlers.action_network import ActionNetworkApi
from handlers.action_network_writes import drain_action_network_writes
from handlers.config import OrgConfig
from handlers.mobilize import MobilizeApi, sync_mobilize
from handlers.mobilize_writes import drain_mobilize_writes
from handlers.ports import Clock
from scheduler import jobs
from scheduler.ports import UowFactory

log = logging.getLogger("scheduler.clock")  # the clock's log lines, under the clock's name


class TimetableJobs:
    """The work of a timetable's jobs (a base of `scheduler.clock.Timetable`, which sets these)."""

    uow: UowFactory
    clock: Clock
    org: OrgConfig
    mobilize: MobilizeApi | None
    action_network: ActionNetworkApi | None

    def fire(self, schedule_id: int) -> jobs.FireOutcome:
        outcome = jobs.fire_schedule(self.uow(), self.clock, schedule_id=schedule_id, org=self.org)
        if outcome.sent_run_at is not None:
            late = (self.clock.now() - outcome.sent_run_at).total_seconds()
            log.info(
                "clock: schedule %s fired (broadcast %s, %d recipients, %.1f s after its time)",
                schedule_id,
                outcome.broadcast_id,
                outcome.recipients,
                late,
            )
        if outcome.missed:
            log.warning("clock: schedule %s missed %d run(s)", schedule_id, len(outcome.missed))
        return outcome

    def sweep_reminders(self) -> None:
        jobs.run_reminder_sweep(self.uow(), self.clock, org=self.org)

    def sweep_ballots(self) -> None:
        jobs.run_ballot_sweep(self.uow(), self.clock, org=self.org)

    def sync_mobilize(self) -> None:
        if self.mobilize is None:
            return
        report = sync_mobilize(
            uow=self.uow(), org=self.org, clock=self.clock, mobilize=self.mobilize
        )
        log.info("clock: Mobilize sync: %s", report.summary)

    def drain_mobilize(self) -> None:
        if self.mobilize is None:
            return
        drain_mobilize_writes(
            uow=self.uow(), clock=self.clock, mobilize=self.mobilize, pace=time.sleep
        )

    def drain_action_network(self) -> None:
        if self.action_network is None:
            return
        drain_action_network_writes(
            uow=self.uow(), clock=self.clock, api=self.action_network, pace=time.sleep
        )
