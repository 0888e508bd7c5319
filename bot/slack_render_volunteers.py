"""Block Kit for volunteers: the ones a search found (`find_blocks`, which `bot/slack_render.py`
registers), and the header of a volunteer's inbox thread (`inbox_header`, the parent message the
poster in `bot/parts.py` posts and organizers reply under).
"""

from __future__ import annotations

from bot.slack_render_kit import Block, context, escape, section
from handlers import views


def find_blocks(view: views.FindView) -> tuple[str, list[Block]]:
    if not view.volunteers:
        text = f"No volunteer matches {view.query} ({view.how})."
        return text, [section(escape(text))]
    out: list[Block] = [context(f"Matching `{escape(view.query)}` by {view.how}")]
    for v in view.volunteers:
        tags = f" · _{', '.join(v.tags)}_" if v.tags else ""
        status = "" if v.status == "active" else f" · *{v.status.replace('_', ' ')}*"
        out.append(
            section(
                f"*{escape(v.name)}* · {v.phone} · ZIP {v.zip or '-'}{status}{tags}\n"
                f"{v.upcoming} upcoming shift(s) · joined {v.joined}"
            )
        )
    if view.more:
        out.append(context(f"and {view.more} more: narrow the search"))
    return f"{len(view.volunteers)} volunteers found", out


def inbox_header(view: views.InboxHeaderView) -> tuple[str, list[Block]]:
    """The parent message of a volunteer's inbox thread."""
    status = "" if view.status == "active" else f" · *{view.status.replace('_', ' ')}*"
    tags = f" · _{', '.join(view.tags)}_" if view.tags else ""
    shifts = "\n".join(f"• {escape(c)}" for c in view.commitments) or "No upcoming shifts."
    text = f"{view.name} · {view.phone} · ZIP {view.zip or '-'}"
    head = f":speech_balloon: *{escape(view.name)}* · {view.phone} · ZIP {view.zip or '-'}"
    return text, [
        section(f"{head}{status}{tags}\n{shifts}"),
        context("Reply in this thread to text them back."),
    ]
