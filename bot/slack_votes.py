"""Block Kit for member votes' views (`vote N`, `votes`, the App Home's open ballots), kept
apart from `bot/slack_render.py`, which registers them."""

from __future__ import annotations

from typing import Any

from handlers import views

Block = dict[str, Any]
MAX_TEXT = 2900


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _section(text: str) -> Block:
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:MAX_TEXT]}]}


def _header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150], "emoji": True}}


def bar(done: int, total: int, width: int = 10) -> str:
    filled = 0 if total <= 0 else min(width, round(width * done / total))
    return "▓" * filled + "░" * (width - filled)


def ballot_blocks(view: views.BallotView) -> tuple[str, list[Block]]:
    lines = []
    for o in view.options:
        share = f" ({o.share})" if o.share else ""
        mark = " :white_check_mark:" if o.winner else ""
        lines.append(f"*{o.number}.* {_escape(o.text)}: {o.votes:,}{share}{mark}")
    turnout = (
        f"`{bar(view.voted, view.eligible, 20)}` {view.voted:,} of {view.eligible:,} eligible "
        f"voted" + (f" ({view.voted / view.eligible:.0%})" if view.eligible else "")
    )
    out: list[Block] = [
        _header(f"Ballot #{view.id} ({view.status})"),
        _section(f"*{_escape(view.question)}*\n" + "\n".join(lines)),
        _section(f"*Turnout* {turnout}\n*{_escape(view.verdict)}*"),
        _context(f"Opens {view.opens} · closes {view.closes} · passes with {view.rule}"),
    ]
    if view.by_district:
        rows = "\n".join(
            f"{_escape(g.label)}: `{bar(g.voted, g.eligible)}` {g.voted:,}/{g.eligible:,}"
            for g in view.by_district
        )
        out.append(_section(f"*Turnout by district*\n{rows}"))
    if view.by_chapter:
        rows = "\n".join(
            f"{_escape(g.label)}: `{bar(g.voted, g.eligible)}` {g.voted:,}/{g.eligible:,}"
            for g in view.by_chapter
        )
        out.append(_section(f"*Turnout by chapter*\n{rows}"))
    return f"Ballot #{view.id}: {view.voted:,} of {view.eligible:,} voted", out


def ballot_lines_blocks(ballots: tuple[views.BallotLine, ...]) -> list[Block]:
    return [
        _section(
            f"*#{b.id}* {_escape(b.question)}\n{b.status} · {b.when} · "
            f"`{bar(b.voted, b.eligible)}` {b.voted:,}/{b.eligible:,} voted"
        )
        for b in ballots[:45]
    ]


def ballot_list_blocks(view: views.BallotListView) -> tuple[str, list[Block]]:
    if not view.ballots:
        text = "No ballots yet: `vote add` makes one."
        return text, [_section(text)]
    out = [_header("Member votes"), *ballot_lines_blocks(view.ballots)]
    return f"{len(view.ballots)} ballots", out
