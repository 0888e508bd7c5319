"""Block Kit for Muster's typed views: the one place that knows what Slack messages look like.

`blocks(view)` gives `(fallback_text, blocks)` for a message; `shift_modal`, `broadcast_modal` and
`home_view` give whole views for `views.open` / `views.publish`. Action ids start with `muster.`
so one listener pattern catches every button Muster renders.
"""

from __future__ import annotations

import re
from functools import singledispatch
from typing import Any

from bot import slack_votes
from bot.slack_modals import (  # noqa: F401  (the modals are part of what this module gives)
    BROADCAST_MODAL,
    SHIFT_MODAL,
    broadcast_modal,
    form_values,
    shift_modal,
)
from handlers import views
from handlers.organizer.parsing import COMMAND

Block = dict[str, Any]
MAX_TEXT = 2900  # a section's text may hold 3,000 characters
CONFIRM = "muster.broadcast.confirm"
CANCEL = "muster.broadcast.cancel"
STOP = "muster.broadcast.stop"
ATTENDED = "muster.roster.attended"
NO_SHOW = "muster.roster.no_show"


def _escape(text: str) -> str:
    """Slack's three control characters in user-supplied text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(text: str, emoji: bool = True) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:150], "emoji": emoji}


def _section(text: str, **extra: Any) -> Block:
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:MAX_TEXT]}]}


def _header(text: str) -> Block:
    return {"type": "header", "text": _plain(text)}


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": _plain(text),
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def _stop_button(broadcast_id: int) -> dict[str, Any]:
    """Stop sending: cancels every text of the broadcast not yet handed to Twilio."""
    button = _button("Stop sending", STOP, f"b:{broadcast_id}", "danger")
    button["confirm"] = {
        "title": _plain(f"Stop broadcast #{broadcast_id}?"),
        "text": _plain("Texts not yet handed to Twilio will not go. Texts already sent stay sent."),
        "confirm": _plain("Stop sending"),
        "deny": _plain("Keep sending"),
        "style": "danger",
    }
    return button


def bar(done: int, total: int, width: int = 10) -> str:
    """A fill bar made of blocks: `▓▓▓▓░░░░░░`."""
    filled = 0 if total <= 0 else min(width, round(width * done / total))
    return "▓" * filled + "░" * (width - filled)


def shift_text(line: views.ShiftLine) -> str:
    where = ", ".join(p for p in (line.location, line.zip) if p)
    wait = f" · {line.waitlisted} waiting" if line.waitlisted else ""
    tags = f" · _{', '.join(line.tags)}_" if line.tags else ""
    source = ""
    if line.from_mobilize:  # edited in Mobilize, not here
        source = (
            f" · <{line.mobilize_url}|from Mobilize>" if line.mobilize_url else " · from Mobilize"
        )
    return (
        f"*#{line.id} {_escape(line.title)}*{source}\n{line.when}"
        + (f" · {_escape(where)}" if where else "")
        + f"\n`{bar(line.filled, line.capacity)}` {line.filled}/{line.capacity} filled{wait}{tags}"
    )


@singledispatch
def blocks(view: object) -> tuple[str, list[Block]]:
    raise TypeError(f"no Block Kit rendering for {type(view).__name__}")


@blocks.register
def _(view: views.NoticeView) -> tuple[str, list[Block]]:
    return view.text, [_section(_escape(view.text))]


@blocks.register
def _(view: views.HelpView) -> tuple[str, list[Block]]:
    # One section holds 3,000 characters: the list goes in as many sections as it needs.
    sections, chunk = [], "*Muster commands* (organizers; chapter leaders for their chapter)"
    for c in view.commands:
        line = f"`{c.usage}`\n      {c.description}"
        if len(chunk) + len(line) + 1 > MAX_TEXT:
            sections.append(_section(chunk))
            chunk = line
        else:
            chunk += "\n" + line
    sections.append(_section(chunk))
    note = f"Audiences: {view.audiences}. Times are in the organizers' time zone."
    return "Muster commands", [*sections, _context(note)]


@blocks.register
def _(view: views.ShiftCreatedView) -> tuple[str, list[Block]]:
    text = f"Shift #{view.shift.id} added."
    return text, [_section(f":white_check_mark: Added\n{shift_text(view.shift)}")]


@blocks.register
def _(view: views.ShiftListView) -> tuple[str, list[Block]]:
    if not view.shifts:
        text = "No upcoming shifts. `/muster shift add` adds one."
        return text, [_section(text)]
    out: list[Block] = [_header("Upcoming shifts")]
    for line in view.shifts:
        out.append(_section(shift_text(line)))
    if view.more:
        out.append(_context(f"and {view.more} more later on"))
    return f"{len(view.shifts)} upcoming shifts", out


_STATUS_LABEL = {
    "committed": "coming",
    "confirmed": "confirmed",
    "waitlisted": "waitlist",
    "attended": "attended ✓",
    "no_show": "no-show",
}


@blocks.register
def _(view: views.RosterView) -> tuple[str, list[Block]]:
    c = view.counts
    coming = c.get("committed", 0) + c.get("confirmed", 0)
    summary = (
        f"{coming} coming ({c.get('confirmed', 0)} confirmed), "
        f"{c.get('waitlisted', 0)} waitlisted, {c.get('dropped', 0)} dropped"
    )
    if c.get("attended") or c.get("no_show"):
        summary += f", {c.get('attended', 0)} attended, {c.get('no_show', 0)} no-show"
    out: list[Block] = [_section(shift_text(view.shift)), _context(summary)]
    for e in view.entries:
        where = f" #{e.waitlist_position}" if e.waitlist_position else ""
        label = f"*{_escape(e.name)}* · {e.phone} · {_STATUS_LABEL.get(e.status, e.status)}{where}"
        marking = view.attendance_open and e.status in (
            "committed",
            "confirmed",
            "attended",
            "no_show",
        )
        if marking:
            value = str(e.commitment_id)
            out.append(_section(label, block_id=f"roster-{e.commitment_id}"))
            out.append(
                {
                    "type": "actions",
                    "elements": [
                        _button("Attended", ATTENDED, value, "primary"),
                        _button("No-show", NO_SHOW, value),
                    ],
                }
            )
        else:
            out.append(_section(label))
        if len(out) >= 47:
            break
    shown = sum(1 for b in out if b["type"] == "section") - 1
    more = view.more + (len(view.entries) - shown)
    if not view.entries:
        out.append(_context("Nobody has signed up yet."))
    if more > 0:
        out.append(_context(f"and {more} more: `/muster export roster {view.shift.id}`"))
    return f"Roster of shift #{view.shift.id}", out


@blocks.register
def _(view: views.AttendanceView) -> tuple[str, list[Block]]:
    word = "attended" if view.status == "attended" else "was a no-show"
    text = f"Recorded: {view.name} {word} (shift #{view.shift_id})."
    return text, [_section(_escape(text))]


@blocks.register
def _(view: views.FindView) -> tuple[str, list[Block]]:
    if not view.volunteers:
        text = f"No volunteer matches {view.query} ({view.how})."
        return text, [_section(_escape(text))]
    out: list[Block] = [_context(f"Matching `{_escape(view.query)}` by {view.how}")]
    for v in view.volunteers:
        tags = f" · _{', '.join(v.tags)}_" if v.tags else ""
        status = "" if v.status == "active" else f" · *{v.status.replace('_', ' ')}*"
        out.append(
            _section(
                f"*{_escape(v.name)}* · {v.phone} · ZIP {v.zip or '-'}{status}{tags}\n"
                f"{v.upcoming} upcoming shift(s) · joined {v.joined}"
            )
        )
    if view.more:
        out.append(_context(f"and {view.more} more: narrow the search"))
    return f"{len(view.volunteers)} volunteers found", out


@blocks.register
def _(view: views.BroadcastPreviewView) -> tuple[str, list[Block]]:
    names = ", ".join(view.first_names) or "-"
    quiet = f"\n{quiet_words(view, ':crescent_moon: ', ':rotating_light: ')}"
    quiet = "" if quiet == "\n" else quiet
    when = "" if view.when in (None, "now") else f"\n*When:* {view.when}"
    deadline = f"\n*Deadline:* {_escape(view.deadline)}" if view.deadline else ""
    longest = " for the longest" if view.samples else ""
    text = (
        f"*Preview: nothing is sent until you confirm.*\n*To:* `{_escape(view.audience)}`: "
        f"{view.recipients:,} volunteers{when}{deadline}\n"
        f"*Message* ({view.segments} segment(s){longest}, {view.encoding}, "
        f"about {view.estimated_cost}):\n>{_escape(view.body).replace(chr(10), chr(10) + '>')}"
        f"{quiet}\n*First recipients:* {_escape(names)}"
    )
    for sample in view.samples:
        text += "\n*As sent:* " + _escape(sample).replace(chr(10), " ")
    for label, follow_up in (("If YES", view.on_yes), ("If NO", view.on_no)):
        if follow_up:
            text += f"\n*{label}:* " + _escape(follow_up).replace(chr(10), " ")
    if view.left_out:
        text += "\n:warning: " + _escape(view.left_out_text)
    label = "Schedule" if when else f"Send to {view.recipients:,}"
    confirm = _button(label, CONFIRM, view.token, "primary")
    confirm["confirm"] = {
        "title": _plain("Send this broadcast?" if not when else "Schedule this broadcast?"),
        "text": _plain(
            f"{view.recipients:,} volunteers will get it"
            + (", in quiet hours too." if view.quiet_hours_override else ".")
        ),
        "confirm": _plain("Yes"),
        "deny": _plain("Not yet"),
    }
    actions = {
        "type": "actions",
        "block_id": "broadcast-preview",
        "elements": [confirm, _button("Cancel", CANCEL, view.token, "danger")],
    }
    return f"Broadcast preview: {view.recipients:,} volunteers", [_section(text), actions]


def quiet_words(view: views.BroadcastPreviewView, moon: str = "", alarm: str = "") -> str:
    """The preview's line on quiet hours (shared with the console's text): empty when nothing
    is held and nothing overridden."""
    if view.quiet_hours_override:
        held = (
            f", even the {view.in_quiet_hours:,} in quiet hours now" if view.in_quiet_hours else ""
        )
        return (
            f"{alarm}Quiet hours OVERRIDDEN: it goes to everyone at once{held}. Only for a true "
            "emergency; the audit log records that you overrode them."
        )
    if view.in_quiet_hours:
        return f"{moon}{view.in_quiet_hours:,} are in quiet hours now: theirs wait until morning."
    return ""


@blocks.register
def _(view: views.BroadcastDoneView) -> tuple[str, list[Block]]:
    icon = {
        "queued": ":outbox_tray:",
        "scheduled": ":calendar:",
        "cancelled": ":x:",
        "stopped": ":octagonal_sign:",
        "finished": ":white_check_mark:",
    }.get(view.outcome, ":information_source:")
    out = [_section(f"{icon} {_escape(view.text)}")]
    if view.stoppable and view.broadcast_id is not None:
        out.append(
            {
                "type": "actions",
                "block_id": "broadcast-sending",
                "elements": [_stop_button(view.broadcast_id)],
            }
        )
    return view.text, out


@blocks.register
def _(view: views.ScheduleListView) -> tuple[str, list[Block]]:
    going: list[Block] = []
    if view.going_out:
        going.append(_header("Going out now"))
    for g in view.going_out:
        body = g.body if len(g.body) <= 200 else g.body[:199] + "…"
        origin = f" · from scheduled #{g.schedule_id}" if g.schedule_id else ""
        going.append(
            _section(
                f"*Broadcast #{g.id}* {g.when} → `{_escape(g.audience)}`{origin}\n"
                f"{g.left:,} of {g.recipients:,} not yet sent\n>{_escape(body)}",
                accessory=_stop_button(g.id),
            )
        )
    if not view.schedules:
        text = "No broadcasts are scheduled."
        return text, [_section(text), *going]
    out: list[Block] = [_header("Scheduled broadcasts")]
    for s in view.schedules[: min(45, 49 - len(going))]:
        body = s.body if len(s.body) <= 200 else s.body[:199] + "…"
        by = f" · by <@{s.created_by}>" if s.created_by else ""
        out.append(_section(f"*#{s.id}* {s.when} → `{_escape(s.audience)}`{by}\n>{_escape(body)}"))
    return f"{len(view.schedules)} scheduled broadcasts", out + going


@blocks.register
def _(view: views.StatsView) -> tuple[str, list[Block]]:
    return "Muster: the drive at a glance", stats_blocks(view)


@blocks.register
def _(view: views.DistrictsView) -> tuple[str, list[Block]]:
    title = "Target districts" if view.targets_only else "Volunteers by district"
    title += f" in {view.state}" if view.state else ""
    if not view.rows:
        empty = "No target districts yet: `target add DISTRICT goal=N`." if view.targets_only else (
            "No volunteer has a district yet.")  # fmt: skip
        return title, [_header(title), _section(empty)]
    out: list[Block] = [_header(title)]
    for r in view.rows:
        head = f"*{_escape(r.label)}* `{r.district}`" + (" · target" if r.target else "")
        goal = (
            f"\n[{bar(r.living, r.goal)}] {r.living:,}/{r.goal:,} · gap {r.gap:,}" if r.goal else ""
        )
        why = f"\n_{_escape(r.reason)}_" if r.reason else ""
        out.append(_section(
            f"{head}\n{r.living:,} living there · {r.active:,} active in 30 days · "
            f"{r.committed_this_week:,} committed to its shifts this week{goal}{why}"
        ))  # fmt: skip
    return f"{title}: {len(view.rows)} districts", out


@blocks.register
def _(view: views.ChaptersView) -> tuple[str, list[Block]]:
    out: list[Block] = [_section(_escape(view.note))] if view.note else []
    if not view.rows:
        empty = 'No chapters yet: `chapter add SLUG name="..." zips=02492,02494`.'
        return "No chapters yet", [*out, _section(empty)]
    if not view.detail:
        out.append(_header("Chapters"))
    for c in view.rows:
        leaders = ", ".join(f"<@{u}>" for u in c.leaders) or "none"
        channel = f"<#{c.channel}>" if c.channel else "the inbox channel"
        zips = ", ".join(c.zips[:40]) + (
            f" and {len(c.zips) - 40} more" if len(c.zips) > 40 else ""
        )
        out.append(_section(
            f"*{_escape(c.name)}* `chapter:{c.slug}`\n{c.volunteers:,} volunteers · "
            f"{c.active:,} active in 30 days · leaders {leaders} · texts go to {channel}"
            + (f"\nZIPs: {zips or 'none'}" if view.detail else f" · {len(c.zips)} ZIPs")
        ))  # fmt: skip
    return view.note or f"{len(view.rows)} chapters", out


@blocks.register
def _(view: views.ExportView) -> tuple[str, list[Block]]:
    text = f"{view.title}: {view.rows:,} rows, sent to you in a direct message as {view.filename}."
    return text, [_section(_escape(text))]


blocks.register(views.BallotView)(slack_votes.ballot_blocks)
blocks.register(views.BallotListView)(slack_votes.ballot_list_blocks)


def stats_blocks(view: views.StatsView) -> list[Block]:
    out: list[Block] = [
        _header("The drive at a glance"),
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Active volunteers*\n{view.active:,}"},
                {"type": "mrkdwn", "text": f"*New this week*\n{view.new_this_week:,}"},
                {"type": "mrkdwn", "text": f"*Opted out*\n{view.opted_out:,}"},
                {"type": "mrkdwn", "text": f"*Unreachable*\n{view.unreachable:,}"},
            ],
        },
        {"type": "divider"},
        _section("*Next shifts*"),
    ]
    out += [_section(shift_text(s)) for s in view.next_shifts] or [_context("No upcoming shifts.")]
    out += [{"type": "divider"}, _section("*Last broadcasts*")]
    for b in view.last_broadcasts:
        body = b.body if len(b.body) <= 80 else b.body[:79] + "…"
        counts = f"{b.recipients:,} recipients"
        if b.sent is not None:
            counts += (
                f" · {b.sent:,} sent · {b.delivered or 0:,} delivered · {b.replied or 0:,} replied"
            )
        out.append(
            _section(
                f"*#{b.id}* {b.when} → `{_escape(b.audience)}` ({b.status})\n"
                f"{counts}\n>{_escape(body)}"
            )
        )
    if not view.last_broadcasts:
        out.append(_context("No broadcasts yet."))
    if (c := view.last_call) is not None:
        body = c.body if len(c.body) <= 120 else c.body[:119] + "…"
        out += [
            {"type": "divider"},
            _section(
                f"*Last call to action* #{c.id} {c.when} → `{_escape(c.audience)}`\n"
                f"{c.sent:,} sent · {c.delivered:,} delivered · YES {c.yes:,} · NO {c.no:,}"
                f" · DONE {c.done:,}\n>{_escape(body)}"
            ),
            _context(f"`/muster broadcast {c.id}` for districts and chapters"),
        ]
    top = max((w.count for w in view.signups_by_week), default=0)
    chart = "\n".join(
        f"`{w.label:>6}` `{bar(w.count, top, 20)}` {w.count}" for w in view.signups_by_week
    )
    out += [{"type": "divider"}, _section(f"*Shift sign-ups, last 8 weeks*\n{chart}")]
    if view.targets:
        out += [{"type": "divider"}, _section("*Target districts: volunteers living there*")]
        out += [_section(_target_bar(r)) for r in view.targets[:20]]
    out.append(_context(f"As of {view.as_of}"))
    return out


def _target_bar(r: views.DistrictLine) -> str:
    if r.goal:
        return (
            f"`{bar(r.living, r.goal, 20)}` *{_escape(r.label)}* {r.living:,}/{r.goal:,}"
            f" · gap {r.gap:,} · {r.committed_this_week:,} committed this week"
        )
    return f"*{_escape(r.label)}* {r.living:,} living there (no goal set)"


def home_view(
    view: views.StatsView | None, ballots: tuple[views.BallotLine, ...] = ()
) -> dict[str, Any]:
    """The App Home tab (with the open ballots); someone who is not an organizer sees no
    numbers."""
    if view is None:
        body = [
            _section(
                "*Muster* helps the organizers of this drive reach volunteers by text.\n"
                "The dashboard is for organizers only."
            )
        ]
    else:
        body = stats_blocks(view)
        if ballots:
            body = [_header("Open ballots"), *slack_votes.ballot_lines_blocks(ballots)[:10], *body]
    return {"type": "home", "blocks": body[:100]}


def inbox_header(view: views.InboxHeaderView) -> tuple[str, list[Block]]:
    """The parent message of a volunteer's inbox thread."""
    status = "" if view.status == "active" else f" · *{view.status.replace('_', ' ')}*"
    tags = f" · _{', '.join(view.tags)}_" if view.tags else ""
    shifts = "\n".join(f"• {_escape(c)}" for c in view.commitments) or "No upcoming shifts."
    text = f"{view.name} · {view.phone} · ZIP {view.zip or '-'}"
    head = f":speech_balloon: *{_escape(view.name)}* · {view.phone} · ZIP {view.zip or '-'}"
    return text, [
        _section(f"{head}{status}{tags}\n{shifts}"),
        _context("Reply in this thread to text them back."),
    ]


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
