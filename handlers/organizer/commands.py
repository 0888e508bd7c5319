"""The organizers' side: every `/muster` command and every button or modal behind it.

One logic layer for Slack and the console: a transport builds an `OrganizerCommand` (or an
`OrganizerAction` for a button, a modal submission, a reply in an inbox thread), calls
`run_command` / `run_action`, and renders the typed view in `Result.view`. Rights are checked here
(only `org.organizer_ids`), malformed commands raise `UsageError` with the exact usage line before
anything is touched, and every action that changes data or texts volunteers is audit-logged in the
same transaction as the change.

Each command family has its module in this package, named after what it does (`shifts`, `roster`,
`find`, `broadcasts`, `broadcast_buttons`, `schedules`, `exports`, `inbox`, `stats`,
`sync`, `districts`, `chapters`); this module
    ("vote", "add"),
    ("vote", "close"),
    ("vote", "remind"),
only dispatches. A new command is one function in its family's module and one row in `COMMANDS`
below, with its usage line and help line in `parsing.USAGE` and `parsing.DESCRIPTIONS` (which the
help lists, in that order). A new button or modal is one function and one row in `ACTIONS`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from datetime import datetime

from handlers import views
from handlers.config import OrgConfig
from handlers.errors import UsageError
from handlers.messages import OrganizerAction, OrganizerCommand
from handlers.organizer import (
    broadcast_buttons,
    broadcasts,
    chapters,
    districts,
    exports,
    find,
    inbox,
    members,
    roster,
    schedules,
    shift_edits,
    shifts,
    stats,
    sync,
    votes,
)
from handlers.organizer.parsing import AUDIENCES, COMMAND, DESCRIPTIONS, USAGE
from handlers.organizer.rights import LEADER_ACTIONS, LEADER_COMMANDS, require_organizer
from handlers.ports import Clock
from handlers.results import Result
from storage.uow import UnitOfWork

Handler = Callable[..., Result]  # (message, *, uow, org, clock) -> Result

TWO_WORD = {
    ("shift", "add"),
    ("shift", "edit"),
    ("shift", "cancel"),
    ("target", "add"),
    ("target", "remove"),
    ("chapter", "add"),
    ("target", "add"),
    ("target", "remove"),
    ("vote", "add"),
    ("vote", "close"),
    ("vote", "remind"),
}


# --- Entry points ----------------------------------------------------------------------------


def split_command(text: str) -> tuple[str, str]:
    """`shift add title=...` -> ("shift add", "title=..."); `roster 12` -> ("roster", "12")."""
    words = (text or "").strip().split(None, 2)
    if not words:
        return "", ""
    first = words[0].lower()
    if len(words) > 1 and (first, words[1].lower()) in TWO_WORD:
        return f"{first} {words[1].lower()}", words[2] if len(words) > 2 else ""
    rest = (text or "").strip()[len(words[0]) :].strip()
    return first, rest


def run_command(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    """Run one `/muster` command for an organizer. Raises a `MusterError` the transport shows."""
    leaders = cmd.name in LEADER_COMMANDS
    require_organizer(
        cmd.user_id, cmd.name or "help", uow=uow, org=org, clock=clock, leaders=leaders
    )
    handler = COMMANDS.get(cmd.name)
    if handler is None:
        if cmd.name in ("", "shift", "target"):
            return show_help()
        near = difflib.get_close_matches(cmd.name, list(COMMANDS), n=1, cutoff=0.7)
        mean = f" Did you mean `{near[0]}`?" if near else ""
        raise UsageError(f"I don't know `{cmd.name}`.{mean} Try `{USAGE['help']}`.")
    return handler(cmd, uow=uow, org=org, clock=clock)


def run_action(action: OrganizerAction, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    """A button, a modal submission or an inbox-thread reply, already reduced to name + values."""
    if action.name not in _CHECKS_ITS_OWN_RIGHTS:
        leaders = action.name in LEADER_ACTIONS
        require_organizer(
            action.user_id, action.name, uow=uow, org=org, clock=clock, leaders=leaders
        )
    handler = ACTIONS.get(action.name)
    if handler is None:
        raise UsageError(f"Unknown action {action.name!r}.")
    return handler(action, uow=uow, org=org, clock=clock)


def validate_action(action: OrganizerAction, *, org: OrgConfig, now: datetime) -> None:
    """The checks a modal must pass before it may close (no database: fits in Slack's ack).

    Raises `InvalidInput` keyed by the form's field names.
    """
    if action.name == "shift.submit":
        shifts.shift_from_form(action.values, org=org, now=now)
    elif action.name == "broadcast.submit":
        broadcasts.broadcast_request_from_form(action.values, org=org, now=now)


# --- help --------------------------------------------------------------------------------------


def show_help() -> Result:
    commands = tuple(views.CommandHelp(USAGE[name], DESCRIPTIONS[name]) for name in USAGE)
    view = views.HelpView(command=COMMAND, commands=commands, audiences=AUDIENCES)
    return Result(view=view, intent="help")


def _help(cmd: OrganizerCommand, **_: object) -> Result:
    return show_help()


# --- The table: one row a command, one row a button or modal ---------------------------------

COMMANDS: dict[str, Handler] = {
    "help": _help,
    "shift add": shifts.add_shift,
    "shift edit": shift_edits.edit_shift,
    "shift cancel": shift_edits.cancel_shift,
    "shifts": shifts.list_shifts,
    "roster": roster.show_roster,
    "signup": roster.sign_up,
    "find": find.find_volunteers,
    "broadcast": broadcasts.start_broadcast,
    "scheduled": schedules.list_scheduled,
    "unschedule": schedules.unschedule,
    "stats": stats.show_stats,
    "export": exports.export_csv,
    "districts": districts.show_districts,
    "target add": districts.add_target,
    "target remove": districts.remove_target,
    "targets": districts.list_targets,
    "sync": sync.show_sync,
    "chapter add": chapters.add_chapter,
    "chapters": chapters.list_chapters,
    "chapter": chapters.show_chapter,
    "member": members.set_member,
    "vote add": votes.add_vote,
    "votes": votes.list_votes,
    "vote": votes.show_vote,
    "vote close": votes.close_vote,
    "vote remind": votes.remind_vote,
}
ACTIONS: dict[str, Handler] = {
    "shift.submit": shifts.submit_shift_form,
    "broadcast.submit": broadcasts.submit_broadcast_form,
    "broadcast.confirm": broadcast_buttons.confirm_broadcast,
    "broadcast.cancel": broadcast_buttons.cancel_broadcast,
    "broadcast.stop": broadcast_buttons.stop_broadcast,
    "roster.attended": roster.mark_attendance(attended=True),
    "roster.no_show": roster.mark_attendance(attended=False),
    "inbox.reply": inbox.reply_in_inbox,
}
# A reply in a thread that is not a volunteer's is just people talking: no refusal, no audit.
_CHECKS_ITS_OWN_RIGHTS = {"inbox.reply"}
