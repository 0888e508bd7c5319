"""Block Kit for shifts and their rosters: a shift's lines (`shift_text`, on the dashboard too),
a shift added, the upcoming shifts, a roster with its Attended / No-show buttons while attendance
is open, and an attendance recorded. `bot/slack_render.py` registers them.
"""

from __future__ import annotations

from bot.slack_render_kit import Block, bar, button, context, escape, header, section
from handlers import views

ATTENDED = "muster.roster.attended"
NO_SHOW = "muster.roster.no_show"


def shift_text(line: views.ShiftLine) -> str:
    where = ", ".join(p for p in (line.location, line.zip) if p)
    wait = f" · {line.waitlisted} waiting" if line.waitlisted else ""
    tags = f" · _{', '.join(line.tags)}_" if line.tags else ""
    source = ""
    if line.from_mobilize:  # edited in Mobilize, not here
        source = (
            f" · <{line.mobilize_url}|from Mobilize>" if line.mobilize_url else " · from Mobilize"
        )
    cancelled = " · :no_entry: *cancelled*" if line.cancelled else ""
    return (
        f"*#{line.id} {escape(line.title)}*{cancelled}{source}\n{line.when}"
        + (f" · {escape(where)}" if where else "")
        + f"\n`{bar(line.filled, line.capacity)}` {line.filled}/{line.capacity} filled{wait}{tags}"
    )


def shift_created_blocks(view: views.ShiftCreatedView) -> tuple[str, list[Block]]:
    text = f"Shift #{view.shift.id} added."
    return text, [section(f":white_check_mark: Added\n{shift_text(view.shift)}")]


def shift_list_blocks(view: views.ShiftListView) -> tuple[str, list[Block]]:
    if not view.shifts:
        text = "No upcoming shifts. `/muster shift add` adds one."
        return text, [section(text)]
    out: list[Block] = [header("Upcoming shifts")]
    for line in view.shifts:
        out.append(section(shift_text(line)))
    if view.more:
        out.append(context(f"and {view.more} more later on"))
    return f"{len(view.shifts)} upcoming shifts", out


_STATUS_LABEL = {
    "committed": "coming",
    "confirmed": "confirmed",
    "waitlisted": "waitlist",
    "attended": "attended ✓",
    "no_show": "no-show",
}


def roster_blocks(view: views.RosterView) -> tuple[str, list[Block]]:
    c = view.counts
    coming = c.get("committed", 0) + c.get("confirmed", 0)
    summary = (
        f"{coming} coming ({c.get('confirmed', 0)} confirmed), "
        f"{c.get('waitlisted', 0)} waitlisted, {c.get('dropped', 0)} dropped"
    )
    if c.get("attended") or c.get("no_show"):
        summary += f", {c.get('attended', 0)} attended, {c.get('no_show', 0)} no-show"
    out: list[Block] = [section(shift_text(view.shift)), context(summary)]
    for e in view.entries:
        where = f" #{e.waitlist_position}" if e.waitlist_position else ""
        label = f"*{escape(e.name)}* · {e.phone} · {_STATUS_LABEL.get(e.status, e.status)}{where}"
        marking = view.attendance_open and e.status in (
            "committed",
            "confirmed",
            "attended",
            "no_show",
        )
        if marking:
            value = str(e.commitment_id)
            out.append(section(label, block_id=f"roster-{e.commitment_id}"))
            out.append(
                {
                    "type": "actions",
                    "elements": [
                        button("Attended", ATTENDED, value, "primary"),
                        button("No-show", NO_SHOW, value),
                    ],
                }
            )
        else:
            out.append(section(label))
        if len(out) >= 47:
            break
    shown = sum(1 for b in out if b["type"] == "section") - 1
    more = view.more + (len(view.entries) - shown)
    if not view.entries:
        out.append(context("Nobody has signed up yet."))
    if more > 0:
        out.append(context(f"and {more} more: `/muster export roster {view.shift.id}`"))
    return f"Roster of shift #{view.shift.id}", out


def attendance_blocks(view: views.AttendanceView) -> tuple[str, list[Block]]:
    word = "attended" if view.status == "attended" else "was a no-show"
    text = f"Recorded: {view.name} {word} (shift #{view.shift_id})."
    return text, [section(escape(text))]
