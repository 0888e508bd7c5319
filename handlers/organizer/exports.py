"""`/muster export volunteers|roster N|vote N`: a CSV for the organizer's direct messages."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from sqlalchemy.orm import Session

from handlers import exports, views
from handlers.config import OrgConfig
from handlers.errors import UnknownShift
from handlers.messages import OrganizerCommand
from handlers.organizer.parsing import USAGE, one_number, usage_error
from handlers.ports import Clock
from handlers.results import Result
from handlers.votes import UnknownBallot
from storage.audit import audit
from storage.models import Shift
from storage.uow import UnitOfWork
from storage.votes import Ballot


def export_csv(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    words = cmd.args.split()
    if words == ["volunteers"]:
        kind, number = "volunteers", 0
    elif len(words) == 2 and words[0] in ("roster", "vote"):
        kind, number = words[0], one_number(words[1], "export")
    else:
        raise usage_error(USAGE["export"], "say what to export" if not words else None)
    now = clock.now()
    stamp = f"{now.astimezone(org.zone):%Y-%m-%d}"
    if kind == "volunteers":
        columns, title, target = exports.VOLUNTEER_COLUMNS, "Volunteers", "volunteers"
        filename = f"volunteers-{stamp}.csv"

        def rows(session: Session) -> Iterable[dict[str, str]]:
            return exports.volunteer_rows(session)

    elif kind == "roster":
        columns, title = exports.ROSTER_COLUMNS, f"Roster of shift #{number}"
        filename, target = f"roster-{number}-{stamp}.csv", f"shift:{number}"

        def rows(session: Session) -> Iterable[dict[str, str]]:
            if session.get(Shift, number) is None:
                raise UnknownShift(number)
            return exports.roster_rows(session, number)

    else:
        columns, title = exports.VOTE_COLUMNS, f"Votes on ballot #{number}"
        filename, target = f"ballot-{number}-votes-{stamp}.csv", f"ballot:{number}"

        def rows(session: Session) -> Iterable[dict[str, str]]:
            ballot = session.get(Ballot, number)
            if ballot is None:
                raise UnknownBallot(number)
            return exports.vote_rows(session, ballot)

    with uow:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        count = 0
        for row in rows(uow.session):
            writer.writerow(row)
            count += 1
        audit(
            uow.session,
            actor=cmd.user_id,
            action="export",
            target=target,
            detail={"rows": count},
            at=now,
        )
        uow.commit()
    view = views.ExportView(
        filename=filename, title=title, content=buffer.getvalue().encode(), rows=count
    )
    return Result(view=view, intent="export")
