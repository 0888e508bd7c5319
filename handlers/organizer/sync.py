"""`/muster sync`: for each integration, when it last ran, what changed, and its last error in
words; and how the write-backs to it stand (waiting, due, failed)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from handlers import views
from handlers.config import OrgConfig
from handlers.messages import OrganizerCommand
from handlers.organizer.parsing import no_args
from handlers.ports import Clock
from handlers.results import Result
from storage.integrations import Integration, latest_runs, outbox_counts
from storage.uow import UnitOfWork

NAMES = {Integration.MOBILIZE: "Mobilize", Integration.ACTION_NETWORK: "Action Network"}


def show_sync(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    no_args(cmd)
    with uow:
        return Result(view=views.NoticeView(_lines(uow.session, org)), intent="sync")


def _lines(session: Session, org: OrgConfig) -> str:
    runs = latest_runs(session)
    counts = outbox_counts(session)
    lines = []
    for integration, name in NAMES.items():
        run = runs.get(integration)
        if run is None:
            lines.append(f"*{name}*: never ran")
        else:
            when = run.started_at.astimezone(org.zone)
            stamp = f"{when:%a %b} {when.day}, {when:%H:%M} {when.tzname()}"
            if run.ok:
                lines.append(f"*{name}*: last ran {stamp}: {run.summary or 'no changes'}")
            else:
                lines.append(f"*{name}*: last ran {stamp}: failed: {run.error or 'unknown error'}")
        writes = {s: n for (i, s), n in counts.items() if i == str(integration)}
        owed = ", ".join(f"{n} {s}" for s, n in sorted(writes.items()) if s != "done" and n)
        if owed:
            lines.append(f"  write-backs: {owed}")
    return "\n".join(lines)
