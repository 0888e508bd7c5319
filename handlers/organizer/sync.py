"""`/muster sync`: for each integration, when it last ran, what changed, and its last error in
words; how the write-backs to it stand (waiting, due, failed) and the last one's error; and for
Action Network, when its last webhook batch came."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from handlers import views
from handlers.config import OrgConfig
from handlers.messages import OrganizerCommand
from handlers.organizer.parsing import no_args
from handlers.ports import Clock
from handlers.results import Result
from storage.integrations import (
    Integration,
    IntegrationWrite,
    WriteStatus,
    latest_runs,
    outbox_counts,
)
from storage.models import ProcessedEvent
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
            lines.append(f"{name}: never ran")
        else:
            stamp = _stamp(run.started_at, org)
            if run.ok:
                lines.append(f"{name}: last ran {stamp}: {run.summary or 'no changes'}")
            else:
                lines.append(f"{name}: last ran {stamp}: failed: {run.error or 'unknown error'}")
        writes = {s: n for (i, s), n in counts.items() if i == str(integration)}
        owed = ", ".join(f"{n} {s}" for s, n in sorted(writes.items()) if s != "done" and n)
        if owed:
            lines.append(f"  write-backs: {owed}")
        error = _last_write_error(session, integration)
        if error:
            lines.append(f"  last write-back error: {error}")
        if integration == Integration.ACTION_NETWORK:
            heard = session.scalar(
                select(func.max(ProcessedEvent.at)).where(ProcessedEvent.key.like("an.webhook:%"))
            )
            if heard is not None:
                lines.append(f"  last webhook: {_stamp(heard, org)}")
    return "\n".join(lines)


def _stamp(at: datetime, org: OrgConfig) -> str:
    when = at.astimezone(org.zone)
    return f"{when:%a %b} {when.day}, {when:%H:%M} {when.tzname()}"


def _last_write_error(session: Session, integration: Integration) -> str | None:
    """The error of the latest write not yet done (retrying or failed for good)."""
    return session.scalars(
        select(IntegrationWrite.last_error)
        .where(
            IntegrationWrite.integration == integration,
            IntegrationWrite.status.in_((WriteStatus.PENDING, WriteStatus.FAILED)),
            IntegrationWrite.last_error.is_not(None),
        )
        .order_by(IntegrationWrite.id.desc())
        .limit(1)
    ).first()
