"""Block Kit for broadcasts: the preview with its Send (or Schedule) and Cancel buttons, what
became of it (with Stop sending while it goes out), and the scheduled broadcasts beside those
going out now. `quiet_words` is the preview's line on quiet hours, shared with the console's text.
`bot/slack_render.py` registers them.
"""

from __future__ import annotations

from typing import Any

from bot.slack_render_kit import Block, button, escape, header, plain, section
from handlers import views

CONFIRM = "muster.broadcast.confirm"
CANCEL = "muster.broadcast.cancel"
STOP = "muster.broadcast.stop"


def _stop_button(broadcast_id: int) -> dict[str, Any]:
    """Stop sending: cancels every text of the broadcast not yet handed to Twilio."""
    stop = button("Stop sending", STOP, f"b:{broadcast_id}", "danger")
    stop["confirm"] = {
        "title": plain(f"Stop broadcast #{broadcast_id}?"),
        "text": plain("Texts not yet handed to Twilio will not go. Texts already sent stay sent."),
        "confirm": plain("Stop sending"),
        "deny": plain("Keep sending"),
        "style": "danger",
    }
    return stop


def broadcast_preview_blocks(view: views.BroadcastPreviewView) -> tuple[str, list[Block]]:
    names = ", ".join(view.first_names) or "-"
    quiet = f"\n{quiet_words(view, ':crescent_moon: ', ':rotating_light: ')}"
    quiet = "" if quiet == "\n" else quiet
    when = "" if view.when in (None, "now") else f"\n*When:* {view.when}"
    deadline = f"\n*Deadline:* {escape(view.deadline)}" if view.deadline else ""
    longest = " for the longest" if view.samples else ""
    text = (
        f"*Preview: nothing is sent until you confirm.*\n*To:* `{escape(view.audience)}`: "
        f"{views.volunteers(view.recipients)}{when}{deadline}\n"
        f"*Message* ({view.segments} segment(s){longest}, {view.encoding}, "
        f"about {view.estimated_cost}):\n>{escape(view.body).replace(chr(10), chr(10) + '>')}"
        f"{quiet}\n*First recipients:* {escape(names)}"
    )
    for sample in view.samples:
        text += "\n*As sent:* " + escape(sample).replace(chr(10), " ")
    for label, follow_up in (("If YES", view.on_yes), ("If NO", view.on_no)):
        if follow_up:
            text += f"\n*{label}:* " + escape(follow_up).replace(chr(10), " ")
    if view.left_out:
        text += "\n:warning: " + escape(view.left_out_text)
    if view.nobody:
        text += "\n:warning: " + escape(view.nobody)
    label = "Schedule" if when else f"Send to {view.recipients:,}"
    confirm = button(label, CONFIRM, view.token, "primary")
    confirm["confirm"] = {
        "title": plain("Send this broadcast?" if not when else "Schedule this broadcast?"),
        "text": plain(
            f"{views.volunteers(view.recipients)} will get it"
            + (", in quiet hours too." if view.quiet_hours_override else ".")
        ),
        "confirm": plain("Yes"),
        "deny": plain("Not yet"),
    }
    actions = {
        "type": "actions",
        "block_id": "broadcast-preview",
        "elements": [confirm, button("Cancel", CANCEL, view.token, "danger")],
    }
    return f"Broadcast preview: {views.volunteers(view.recipients)}", [section(text), actions]


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


def broadcast_done_blocks(view: views.BroadcastDoneView) -> tuple[str, list[Block]]:
    icon = {
        "queued": ":outbox_tray:",
        "scheduled": ":calendar:",
        "cancelled": ":x:",
        "stopped": ":octagonal_sign:",
        "finished": ":white_check_mark:",
    }.get(view.outcome, ":information_source:")
    out = [section(f"{icon} {escape(view.text)}")]
    if view.stoppable and view.broadcast_id is not None:
        out.append(
            {
                "type": "actions",
                "block_id": "broadcast-sending",
                "elements": [_stop_button(view.broadcast_id)],
            }
        )
    return view.text, out


def schedule_list_blocks(view: views.ScheduleListView) -> tuple[str, list[Block]]:
    going: list[Block] = []
    if view.going_out:
        going.append(header("Going out now"))
    for g in view.going_out:
        body = g.body if len(g.body) <= 200 else g.body[:199] + "…"
        origin = f" · from scheduled #{g.schedule_id}" if g.schedule_id else ""
        going.append(
            section(
                f"*Broadcast #{g.id}* {g.when} → `{escape(g.audience)}`{origin}\n"
                f"{g.left:,} of {g.recipients:,} not yet sent\n>{escape(body)}",
                accessory=_stop_button(g.id),
            )
        )
    if not view.schedules:
        text = "No broadcasts are scheduled."
        return text, [section(text), *going]
    out: list[Block] = [header("Scheduled broadcasts")]
    for s in view.schedules[: min(45, 49 - len(going))]:
        body = s.body if len(s.body) <= 200 else s.body[:199] + "…"
        by = f" · by <@{s.created_by}>" if s.created_by else ""
        out.append(section(f"*#{s.id}* {s.when} → `{escape(s.audience)}`{by}\n>{escape(body)}"))
    return f"{len(view.schedules)} scheduled broadcasts", out + going
