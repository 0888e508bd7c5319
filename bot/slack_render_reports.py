"""Block Kit for the drive's numbers: the dashboard (`stats_blocks`) as `/muster stats` answers
and as the App Home shows it (`home_view`, a whole view for `views.publish`, with the open
ballots), volunteers by district and the target districts, and the chapters.
`bot/slack_render.py` registers the replies.
"""

from __future__ import annotations

from typing import Any

from bot import slack_votes
from bot.slack_render_kit import Block, bar, context, escape, header, section
from bot.slack_render_shifts import shift_text
from handlers import views


def dashboard_blocks(view: views.StatsView) -> tuple[str, list[Block]]:
    """`/muster stats`: the dashboard (`stats_blocks`), with its fallback text."""
    return "Muster: the drive at a glance", stats_blocks(view)


def districts_blocks(view: views.DistrictsView) -> tuple[str, list[Block]]:
    title = "Target districts" if view.targets_only else "Volunteers by district"
    title += f" in {view.state}" if view.state else ""
    if not view.rows:
        empty = "No target districts yet: `target add DISTRICT goal=N`." if view.targets_only else (
            "No volunteer has a district yet.")  # fmt: skip
        return title, [header(title), section(empty)]
    out: list[Block] = [header(title)]
    for r in view.rows:
        head = f"*{escape(r.label)}* `{r.district}`" + (" · target" if r.target else "")
        goal = (
            f"\n[{bar(r.living, r.goal)}] {r.living:,}/{r.goal:,} · gap {r.gap:,}" if r.goal else ""
        )
        why = f"\n_{escape(r.reason)}_" if r.reason else ""
        out.append(section(
            f"{head}\n{r.living:,} living there · {r.active:,} active in 30 days · "
            f"{r.committed_this_week:,} committed to its shifts this week{goal}{why}"
        ))  # fmt: skip
    return f"{title}: {len(view.rows)} districts", out


def chapters_blocks(view: views.ChaptersView) -> tuple[str, list[Block]]:
    out: list[Block] = [section(escape(view.note))] if view.note else []
    if not view.rows:
        empty = 'No chapters yet: `chapter add SLUG name="..." zips=02492,02494`.'
        return "No chapters yet", [*out, section(empty)]
    if not view.detail:
        out.append(header("Chapters"))
    for c in view.rows:
        leaders = ", ".join(f"<@{u}>" for u in c.leaders) or "none"
        channel = f"<#{c.channel}>" if c.channel else "the inbox channel"
        zips = ", ".join(c.zips[:40]) + (
            f" and {len(c.zips) - 40} more" if len(c.zips) > 40 else ""
        )
        out.append(section(
            f"*{escape(c.name)}* `chapter:{c.slug}`\n{views.volunteers(c.volunteers)} · "
            f"{c.active:,} active in 30 days · leaders {leaders} · texts go to {channel}"
            + (f"\nZIPs: {zips or 'none'}" if view.detail else f" · {len(c.zips)} ZIPs")
        ))  # fmt: skip
    return view.note or f"{len(view.rows)} chapters", out


def stats_blocks(view: views.StatsView) -> list[Block]:
    out: list[Block] = [
        header("The drive at a glance"),
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
        section("*Next shifts*"),
    ]
    out += [section(shift_text(s)) for s in view.next_shifts] or [context("No upcoming shifts.")]
    out += [{"type": "divider"}, section("*Last broadcasts*")]
    for b in view.last_broadcasts:
        body = b.body if len(b.body) <= 80 else b.body[:79] + "…"
        counts = f"{b.recipients:,} recipients"
        if b.sent is not None:
            counts += (
                f" · {b.sent:,} sent · {b.delivered or 0:,} delivered · {b.replied or 0:,} replied"
            )
        out.append(
            section(
                f"*#{b.id}* {b.when} → `{escape(b.audience)}` ({b.status})\n"
                f"{counts}\n>{escape(body)}"
            )
        )
    if not view.last_broadcasts:
        out.append(context("No broadcasts yet."))
    if (c := view.last_call) is not None:
        body = c.body if len(c.body) <= 120 else c.body[:119] + "…"
        out += [
            {"type": "divider"},
            section(
                f"*Last call to action* #{c.id} {c.when} → `{escape(c.audience)}`\n"
                f"{c.sent:,} sent · {c.delivered:,} delivered · YES {c.yes:,} · NO {c.no:,}"
                f" · DONE {c.done:,}\n>{escape(body)}"
            ),
            context(f"`/muster broadcast {c.id}` for districts and chapters"),
        ]
    top = max((w.count for w in view.signups_by_week), default=0)
    chart = "\n".join(
        f"`{w.label:>6}` `{bar(w.count, top, 20)}` {w.count}" for w in view.signups_by_week
    )
    out += [{"type": "divider"}, section(f"*Shift sign-ups, last 8 weeks*\n{chart}")]
    if view.targets:
        out += [{"type": "divider"}, section("*Target districts: volunteers living there*")]
        out += [section(_target_bar(r)) for r in view.targets[:20]]
    out.append(context(f"As of {view.as_of}"))
    return out


def _target_bar(r: views.DistrictLine) -> str:
    if r.goal:
        return (
            f"`{bar(r.living, r.goal, 20)}` *{escape(r.label)}* {r.living:,}/{r.goal:,}"
            f" · gap {r.gap:,} · {r.committed_this_week:,} committed this week"
        )
    return f"*{escape(r.label)}* {r.living:,} living there (no goal set)"


def home_view(
    view: views.StatsView | None, ballots: tuple[views.BallotLine, ...] = ()
) -> dict[str, Any]:
    """The App Home tab (with the open ballots); someone who is not an organizer sees no
    numbers."""
    if view is None:
        body = [
            section(
                "*Muster* helps the organizers of this drive reach volunteers by text.\n"
                "The dashboard is for organizers only."
            )
        ]
    else:
        body = stats_blocks(view)
        if ballots:
            body = [header("Open ballots"), *slack_votes.ballot_lines_blocks(ballots)[:10], *body]
    return {"type": "home", "blocks": body[:100]}
