"""The pieces Muster's Slack rendering builds its Block Kit from: user text escaped, plain text,
sections, context lines, headers, buttons, and the fill bar (which the console's text draws too).
`bot/slack_render.py` says which module renders which view.
"""

from __future__ import annotations

from typing import Any

Block = dict[str, Any]
MAX_TEXT = 2900  # a section's text may hold 3,000 characters


def escape(text: str) -> str:
    """Slack's three control characters in user-supplied text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain(text: str, emoji: bool = True) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:150], "emoji": emoji}


def section(text: str, **extra: Any) -> Block:
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:MAX_TEXT]}]}


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text)}


def button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": plain(text),
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def bar(done: int, total: int, width: int = 10) -> str:
    """A fill bar made of blocks: `▓▓▓▓░░░░░░`."""
    filled = 0 if total <= 0 else min(width, round(width * done / total))
    return "▓" * filled + "░" * (width - filled)
