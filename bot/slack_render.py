"""Block Kit for Muster's typed views: `blocks(view)` gives `(fallback_text, blocks)` for a
message, and here is which module renders which view. Action ids start with `muster.` so one
listener pattern catches every button Muster renders.

The rendering is a small family of modules, one per surface: `bot/slack_render_shifts.py`
(shifts, rosters), `bot/slack_render_volunteers.py` (a search, the inbox thread's header),
`bot/slack_render_broadcasts.py` (preview, sending, schedules), `bot/slack_render_reports.py`
(stats, districts, chapters, the App Home), `bot/slack_votes.py` (ballots) and
`bot/slack_modals.py` (the modals), built from the pieces in `bot/slack_render_kit.py`. Here are
the dispatch, the replies too small for a surface of their own (a notice, the help, an export) and
`as_workspace_command`.
"""

from __future__ import annotations

import re
from functools import singledispatch
from typing import Any

from bot import slack_votes
from bot.slack_render_broadcasts import (
    broadcast_done_blocks,
    broadcast_preview_blocks,
    schedule_list_blocks,
)
from bot.slack_render_kit import MAX_TEXT, Block, context, escape, section
from bot.slack_render_reports import chapters_blocks, dashboard_blocks, districts_blocks
from bot.slack_render_shifts import (
    attendance_blocks,
    roster_blocks,
    shift_created_blocks,
    shift_list_blocks,
)
from bot.slack_render_volunteers import find_blocks
from handlers import views
from handlers.organizer.parsing import COMMAND


@singledispatch
def blocks(view: object) -> tuple[str, list[Block]]:
    raise TypeError(f"no Block Kit rendering for {type(view).__name__}")


@blocks.register
def _(view: views.NoticeView) -> tuple[str, list[Block]]:
    return view.text, [section(escape(view.text))]


@blocks.register
def _(view: views.HelpView) -> tuple[str, list[Block]]:
    # One section holds 3,000 characters: the list goes in as many sections as it needs.
    sections, chunk = [], "*Muster commands* (organizers; chapter leaders for their chapter)"
    for c in view.commands:
        line = f"`{c.usage}`\n      {c.description}"
        if len(chunk) + len(line) + 1 > MAX_TEXT:
            sections.append(section(chunk))
            chunk = line
        else:
            chunk += "\n" + line
    sections.append(section(chunk))
    note = f"Audiences: {view.audiences}. Times are in the organizers' time zone."
    return "Muster commands", [*sections, context(note)]


@blocks.register
def _(view: views.ExportView) -> tuple[str, list[Block]]:
    text = f"{view.title}: {view.rows:,} rows, sent to you in a direct message as {view.filename}."
    return text, [section(escape(text))]


blocks.register(views.ShiftCreatedView)(shift_created_blocks)
blocks.register(views.ShiftListView)(shift_list_blocks)
blocks.register(views.RosterView)(roster_blocks)
blocks.register(views.AttendanceView)(attendance_blocks)
blocks.register(views.FindView)(find_blocks)
blocks.register(views.BroadcastPreviewView)(broadcast_preview_blocks)
blocks.register(views.BroadcastDoneView)(broadcast_done_blocks)
blocks.register(views.ScheduleListView)(schedule_list_blocks)
blocks.register(views.StatsView)(dashboard_blocks)
blocks.register(views.DistrictsView)(districts_blocks)
blocks.register(views.ChaptersView)(chapters_blocks)
blocks.register(views.BallotView)(slack_votes.ballot_blocks)
blocks.register(views.BallotListView)(slack_votes.ballot_list_blocks)


_COMMAND_WORD = re.compile(re.escape(COMMAND) + r"(?=[\s`]|$)")


def as_workspace_command(payload: Any, command: str) -> Any:
    """Text, blocks or a view with the slash command named as this workspace's app registers it
    (`SLACK_COMMAND`): the handler layer writes its usage lines and hints with `/muster`."""
    if command == COMMAND:
        return payload
    if isinstance(payload, str):
        return _COMMAND_WORD.sub(command, payload)
    if isinstance(payload, list | tuple):
        return type(payload)(as_workspace_command(item, command) for item in payload)
    if isinstance(payload, dict):
        return {key: as_workspace_command(value, command) for key, value in payload.items()}
    return payload
