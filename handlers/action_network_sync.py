"""`muster sync action_network`: Muster and Action Network caught up with each other, both ways.

1. Out: every volunteer Action Network has not heard of yet (onboarded, with a consent status:
   active or opted out; not come from there) gets a person write in the integration outbox, sent
   by the clock's drain at Action Network's pace. For an organization that turns Action Network
   on with volunteers already in Muster.
2. In: the people changed on Action Network since the last good run (all of them the first time)
   are read page by page (`GET /people`, 25 a page, 4 requests a second) and each is taken as a
   webhook's person is (`handlers.action_network_people.apply_person`): webhooks missed while
   Muster was away are made up for. A person unchanged since they were last taken is skipped.

Each page is one transaction; the run is recorded in `sync_runs` (what changed, the error in
words) for `/muster sync`, with the time it started as the next run's starting point.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import exists, select

from handlers.action_network import SOURCE, ActionNetworkApi
from handlers.action_network_people import (
    WebhookReport,
    apply_person,
    parse_person,
    remember,
    when,
)
from handlers.action_network_writes import PERSON, enqueue_person
from handlers.config import OrgConfig
from handlers.peers import PeerError
from handlers.ports import Clock
from handlers.results import Result
from handlers.sending import record_effects
from storage.integrations import (
    Integration,
    IntegrationWrite,
    SyncRun,
    last_good_run,
    start_run,
)
from storage.models import OnboardingStep, Volunteer, VolunteerStatus
from storage.uow import UnitOfWork

OVERLAP = timedelta(minutes=5)  # re-read this far behind the last run (clocks differ a little)
PAGE = 100  # people taken per transaction


@dataclass
class ActionNetworkSyncReport:
    queued: int = 0  # volunteers queued to be sent there
    read: int = 0  # people read from there
    people: WebhookReport = field(default_factory=WebhookReport)
    error: str | None = None

    @property
    def changes(self) -> dict[str, int]:
        taken = {k: n for k, n in self.people.as_dict().items() if k != "items"}
        return {"queued": self.queued, "read": self.read, **taken}

    @property
    def summary(self) -> str:
        p = self.people
        words = [
            f"{n} {what}"
            for n, what in (
                (p.joined, "joined"),
                (p.unreachable, "kept without SMS consent"),
                (p.opted_out, "opted out"),
                (p.kept_out, "still opted out here"),
                (p.updated, "updated"),
            )
            if n
        ]
        text = f"sent {self.queued} volunteers; read {self.read} people"
        text += f" ({', '.join(words)})" if words else " (no changes)"
        return text if self.error is None else f"{text}; failed: {self.error}"


def sync_action_network(
    *, uow: UnitOfWork, org: OrgConfig, clock: Clock, api: ActionNetworkApi
) -> ActionNetworkSyncReport:
    report = ActionNetworkSyncReport()
    started = clock.now()
    with uow:
        last = last_good_run(uow.session, Integration.ACTION_NETWORK)
        since = (
            datetime.fromtimestamp(last.cursor, tz=UTC) - OVERLAP
            if last is not None and last.cursor is not None
            else None
        )
        run_id = start_run(uow.session, integration=Integration.ACTION_NETWORK, now=started).id
        report.queued = _send_unknown(uow.session, now=started)
        uow.commit()
    batch: list[dict[str, Any]] = []
    try:
        for person in api.list_people(modified_since=since):
            report.read += 1
            batch.append(person)
            if len(batch) >= PAGE:
                _take(uow, batch, org=org, clock=clock, report=report)
                batch = []
        _take(uow, batch, org=org, clock=clock, report=report)
    except PeerError as exc:
        report.error = str(exc)
    with uow:
        run = uow.session.get_one(SyncRun, run_id)
        run.finished_at, run.ok = clock.now(), report.error is None
        run.cursor = int(started.timestamp()) if run.ok else None
        run.changes, run.summary, run.error = report.changes, report.summary, report.error
        uow.commit()
    return report


def _send_unknown(session: Any, *, now: datetime) -> int:
    """Person writes for the volunteers Action Network has not heard of yet."""
    known = exists().where(IntegrationWrite.volunteer_id == Volunteer.id,
                           IntegrationWrite.kind == PERSON)  # fmt: skip
    volunteers = session.scalars(
        select(Volunteer)
        .where(
            Volunteer.phone.is_not(None),
            Volunteer.source != SOURCE,
            Volunteer.onboarding_step == OnboardingStep.DONE,
            Volunteer.status.in_((VolunteerStatus.ACTIVE, VolunteerStatus.OPTED_OUT)),
            ~known,
        )
        .order_by(Volunteer.id)
    ).all()
    return sum(enqueue_person(session, volunteer=v, now=now, cause="backfill") for v in volunteers)


def _take(
    uow: UnitOfWork,
    people: list[dict[str, Any]],
    *,
    org: OrgConfig,
    clock: Clock,
    report: ActionNetworkSyncReport,
) -> None:
    if not people:
        return
    now = clock.now()
    with uow:
        effects = Result()
        for doc in people:
            key = hashlib.sha256(
                json.dumps([doc.get("identifiers"), doc.get("modified_date")], default=str).encode()
            ).hexdigest()
            if not remember(uow.session, f"an.person:{key}", now=now):
                report.people.duplicates += 1
                continue
            person = parse_person(doc)
            if person is None:
                report.people.ignored += 1
                continue
            effects = apply_person(uow.session, person, kind="person", key=key,
                                   as_of=when(doc), org=org, now=now, report=report.people,
                                   effects=effects, announce=False)  # fmt: skip
        record_effects(uow.session, effects)
        uow.commit()
