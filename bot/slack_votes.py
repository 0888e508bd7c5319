"""Block Kit for member votes' views (`vote N`, `votes`, the App Home's open ballots), kept
apart from `bot/slack_render.py`, which registers them."""

from __future__ import annotations

from bot.slack_render_kit import Block, bar, context, escape, header, section
from handlers import views


def ballot_blocks(view: views.BallotView) -> tuple[str, list[Block]]:
    lines = []
    for o in view.options:
        share = f" ({o.share})" if o.share else ""
        mark = " :white_check_mark:" if o.winner else ""
        lines.append(f"*{o.number}.* {escape(o.text)}: {o.votes:,}{share}{mark}")
    turnout = (
        f"`{bar(view.voted, view.eligible, 20)}` {view.voted:,} of {view.eligible:,} eligible "
        f"voted" + (f" ({view.voted / view.eligible:.0%})" if view.eligible else "")
    )
    out: list[Block] = [
        header(f"Ballot #{view.id} ({view.status})"),
        section(f"*{escape(view.question)}*\n" + "\n".join(lines)),
        section(f"*Turnout* {turnout}\n*{escape(view.verdict)}*"),
        context(f"Opens {view.opens} · closes {view.closes} · passes with {view.rule}"),
    ]
    if view.by_district:
        rows = "\n".join(
            f"{escape(g.label)}: `{bar(g.voted, g.eligible)}` {g.voted:,}/{g.eligible:,}"
            for g in view.by_district
        )
        out.append(section(f"*Turnout by district*\n{rows}"))
    if view.by_chapter:
        rows = "\n".join(
            f"{escape(g.label)}: `{bar(g.voted, g.eligible)}` {g.voted:,}/{g.eligible:,}"
            for g in view.by_chapter
        )
        out.append(section(f"*Turnout by chapter*\n{rows}"))
    return f"Ballot #{view.id}: {view.voted:,} of {view.eligible:,} voted", out


def ballot_lines_blocks(ballots: tuple[views.BallotLine, ...]) -> list[Block]:
    return [
        section(
            f"*#{b.id}* {escape(b.question)}\n{b.status} · {b.when} · "
            f"`{bar(b.voted, b.eligible)}` {b.voted:,}/{b.eligible:,} voted"
        )
        for b in ballots[:45]
    ]


def ballot_list_blocks(view: views.BallotListView) -> tuple[str, list[Block]]:
    if not view.ballots:
        text = "No ballots yet: `vote add` makes one."
        return text, [section(text)]
    out = [header("Member votes"), *ballot_lines_blocks(view.ballots)]
    return f"{len(view.ballots)} ballots", out
