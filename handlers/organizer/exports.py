"""`/muster export volunteers|roster N|vote N`: a CSV for the organizer's direct messages."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from sqlalchemy.orm import Session

from handlers import exports, views
from handlers.call_tally import CSV_COLUMNS, who_did_what
from handlers.config import OrgConfig
from handlers.errors import UnknownShift
from handlers.messages import OrganizerCommand
from handlers.organizer.parsing import USAGE, one_number, usage_error
from handlers.organizer.rights import scope_for
from handlers.ports import Clock
from handlers.results import Result
from handlers.votes import UnknownBallot
from storage.audit import audit
from storage.models import Shift
from storage.uow import UnitOfWork
from storage.votes import Ballot


def export_csv(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    words = cmd.args.split()
    if len(words) == 2 and words[0] == "broadcast":
        return _export_broadcast(cmd, one_number(words[1], "export"), uow=uow, org=org, clock=clock)
    ballot_id = shift_id = None
    if words == ["volunteers"]:
        pass
    elif len(words) == 2 and words[0] == "roster":
        shift_id = one_number(words[1], "export")
    elif len(words) == 2 and words[0] == "vote":
        ballot_id = one_number(words[1], "export")
    else:
        raise usage_error(USAGE["export"], "say what to export" if not words else None)
    now = clock.now()
    stamp = f"{now.astimezone(org.zone):%Y-%m-%d}"
    scope = scope_for(cmd.user_id, uow=uow, org=org)  # a chapter leader exports their chapter's
    if ballot_id is not None:
        columns, title = exports.VOTE_COLUMNS, f"Votes on ballot #{ballot_id}"
        filename, target = f"ballot-{ballot_id}-votes-{stamp}.csv", f"ballot:{ballot_id}"

        def rows(session: Session) -> Iterable[dict[str, str]]:
            ballot = session.get(Ballot, ballot_id)
            if ballot is None:
                raise UnknownBallot(ballot_id)
            return exports.vote_rows(session, ballot, where=scope.volunteers())

    elif shift_id is None:
        columns, title, target = exports.VOLUNTEER_COLUMNS, "Volunteers", "volunteers"
        filename = f"volunteers-{stamp}.csv"

        def rows(session: Session) -> Iterable[dict[str, str]]:
            return exports.volunteer_rows(session, where=scope.volunteers())

    else:
        columns, title = exports.ROSTER_COLUMNS, f"Roster of shift #{shift_id}"
        filename, target = f"roster-{shift_id}-{stamp}.csv", f"shift:{shift_id}"

        def rows(session: Session) -> Iterable[dict[str, str]]:
            if session.get(Shift, shift_id) is None:
                raise UnknownShift(shift_id)
            return exports.roster_rows(session, shift_id, where=scope.volunteers())

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
            detail={"rows": count, **({} if scope.whole else {"chapters": list(scope.slugs)})},
            at=now,
        )
        uow.commit()
    view = views.ExportView(
        filename=filename, title=title, content=buffer.getvalue().encode(), rows=count
    )
    return Result(view=view, intent="export")


def _export_broadcast(
    cmd: OrganizerCommand, broadcast_id: int, *, uow: UnitOfWork, org: OrgConfig, clock: Clock
) -> Result:
    """Who did what for call to action N: delivery status, YES/NO, DONE (organizers only)."""
    now = clock.now()
    if not scope_for(cmd.user_id, uow=uow, org=org).whole:
        raise usage_error(USAGE["export"], "a broadcast's export is for organizers")
    with uow:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
        writer.writeheader()
        count = 0
        for row in who_did_what(uow.session, broadcast_id):
            writer.writerow(row)
            count += 1
        audit(uow.session, actor=cmd.user_id, action="export", target=f"broadcast:{broadcast_id}",
              detail={"rows": count}, at=now)  # fmt: skip
        uow.commit()
    stamp = f"{now.astimezone(org.zone):%Y-%m-%d}"
    view = views.ExportView(
        filename=f"broadcast-{broadcast_id}-{stamp}.csv",
        title=f"Who did what: broadcast #{broadcast_id}",
        content=buffer.getvalue().encode(),
        rows=count,
    )
    return Result(view=view, intent="export.broadcast")
