"""Plain text for Muster's typed views (the console's organizer pane, the command line).

The same views Slack shows as Block Kit (`bot/slack_render.py`), as lines of text. Buttons become
the instruction that does the same thing where there are no buttons.
"""

from __future__ import annotations

from functools import singledispatch

from bot.slack_render_broadcasts import quiet_words
from bot.slack_render_kit import bar
from handlers import views
from handlers.results import Result


def render_text(result: Result) -> str:
    """A handler's answer as text: its view if it has one, else its reply."""
    if result.view is not None:
        return text(result.view)
    return result.reply or ""


def shift_line(line: views.ShiftLine) -> str:
    where = ", ".join(p for p in (line.location, line.zip) if p)
    wait = f", {line.waitlisted} waiting" if line.waitlisted else ""
    source = (
        f" (from Mobilize: {line.mobilize_url or 'edit it there'})" if line.from_mobilize else ""
    )
    cancelled = " (CANCELLED)" if line.cancelled else ""
    return (
        f"#{line.id} {line.title}{cancelled}{source}\n  {line.when}"
        + (f" - {where}" if where else "")
        + f"\n  [{bar(line.filled, line.capacity)}] {line.filled}/{line.capacity} filled{wait}"
    )


@singledispatch
def text(view: object) -> str:
    raise TypeError(f"no text rendering for {type(view).__name__}")


@text.register
def _(view: views.NoticeView) -> str:
    return view.text


@text.register
def _(view: views.HelpView) -> str:
    lines = [f"{c.usage}\n    {c.description}" for c in view.commands]
    return (
        "Muster commands (organizers only):\n" + "\n".join(lines) + f"\nAudiences: {view.audiences}"
    )


@text.register
def _(view: views.ShiftFormView) -> str:
    return f"Add a shift with:\n{view.usage}\n(times in {view.timezone})"


@text.register
def _(view: views.BroadcastFormView) -> str:
    return f"Broadcast with:\n{view.usage}\nAudiences: {view.audiences}"


@text.register
def _(view: views.ShiftCreatedView) -> str:
    return "Added:\n" + shift_line(view.shift)


@text.register
def _(view: views.ShiftListView) -> str:
    if not view.shifts:
        return "No upcoming shifts."
    out = "Upcoming shifts:\n" + "\n".join(shift_line(s) for s in view.shifts)
    return out + (f"\n...and {view.more} more" if view.more else "")


@text.register
def _(view: views.RosterView) -> str:
    c = view.counts
    lines = [shift_line(view.shift)]
    coming = c.get("committed", 0) + c.get("confirmed", 0)
    lines.append(
        f"{coming} coming ({c.get('confirmed', 0)} confirmed), {c.get('waitlisted', 0)} "
        f"waitlisted, {c.get('dropped', 0)} dropped"
    )
    for e in view.entries:
        pos = f" #{e.waitlist_position}" if e.waitlist_position else ""
        lines.append(f"  {e.name:<20} {e.phone:<16} {e.status}{pos}")
    if not view.entries:
        lines.append("  nobody yet")
    if view.more:
        lines.append(f"...and {view.more} more (export roster {view.shift.id})")
    return "\n".join(lines)


@text.register
def _(view: views.AttendanceView) -> str:
    return f"Recorded: {view.name} {view.status.replace('_', '-')} (shift #{view.shift_id})."


@text.register
def _(view: views.FindView) -> str:
    if not view.volunteers:
        return f"No volunteer matches {view.query} ({view.how})."
    lines = [f"Matching {view.query!r} by {view.how}:"]
    for v in view.volunteers:
        tags = f" [{', '.join(v.tags)}]" if v.tags else ""
        lines.append(
            f"  {v.name} {v.phone} ZIP {v.zip or '-'} {v.status}{tags}, "
            f"{v.upcoming} upcoming, joined {v.joined}"
        )
    if view.more:
        lines.append(f"...and {view.more} more")
    return "\n".join(lines)


@text.register
def _(view: views.BroadcastPreviewView) -> str:
    lines = [
        "Preview (nothing is sent until you confirm):",
        f"To: {view.audience} - {views.volunteers(view.recipients)}",
        f"When: {view.when or 'now'}",
        *([f"Deadline: {view.deadline}"] if view.deadline else []),
        f"Message ({view.segments} segment(s), {view.encoding}, about {view.estimated_cost}):",
        f"  {view.body}",
        f"First recipients: {', '.join(view.first_names) or '-'}",
    ]
    lines += [f"As sent: {sample}" for sample in view.samples]
    if view.on_yes:
        lines.append(f"If YES: {view.on_yes}")
    if view.on_no:
        lines.append(f"If NO: {view.on_no}")
    if view.left_out:
        lines.append(view.left_out_text)
    if view.nobody:
        lines.append(view.nobody)
    quiet = quiet_words(view)
    if quiet:
        lines.append(quiet)
    return "\n".join(lines)


@text.register
def _(view: views.BroadcastDoneView) -> str:
    return view.text


@text.register
def _(view: views.ScheduleListView) -> str:
    if not view.schedules:
        out = "No broadcasts are scheduled."
    else:
        out = "Scheduled broadcasts:\n" + "\n".join(
            f"  #{s.id} {s.when} -> {s.audience}: {s.body}" for s in view.schedules
        )
    if view.going_out:
        out += "\nGoing out now:\n" + "\n".join(
            f"  broadcast #{g.id} {g.when} -> {g.audience}: {g.left:,} of {g.recipients:,} "
            f"not yet sent: {g.body}"
            for g in view.going_out
        )
    return out


@text.register
def _(view: views.StatsView) -> str:
    lines = [
        f"Volunteers: {view.active:,} active, {view.new_this_week:,} new this week, "
        f"{view.opted_out:,} opted out, {view.unreachable:,} unreachable",
        "Next shifts:",
    ]
    lines += [shift_line(s) for s in view.next_shifts] or ["  none"]
    lines.append("Last broadcasts:")
    for b in view.last_broadcasts:
        counts = f"{b.recipients:,} recipients"
        if b.sent is not None:
            counts += (
                f", {b.sent:,} sent, {b.delivered or 0:,} delivered, {b.replied or 0:,} replied"
            )
        lines.append(f"  #{b.id} {b.when} -> {b.audience} ({b.status}): {counts}")
    if not view.last_broadcasts:
        lines.append("  none")
    if (c := view.last_call) is not None:
        lines.append(
            f"Last call to action #{c.id} {c.when} -> {c.audience}: sent {c.sent:,}, delivered "
            f"{c.delivered:,}, YES {c.yes:,}, NO {c.no:,}, DONE {c.done:,}"
        )
    top = max((w.count for w in view.signups_by_week), default=0)
    lines.append("Shift sign-ups, last 8 weeks:")
    lines += [f"  {w.label:>6} {bar(w.count, top, 20)} {w.count}" for w in view.signups_by_week]
    if view.targets:
        lines.append("Target districts (volunteers living there / goal):")
    for r in view.targets:
        goal = f"{bar(r.living, r.goal, 20)} {r.living:,}/{r.goal:,}" if r.goal else f"{r.living:,}"
        lines.append(f"  {r.label}: {goal}")
    lines.append(f"As of {view.as_of}")
    return "\n".join(lines)


@text.register
def _(view: views.DistrictsView) -> str:
    title = "Target districts" if view.targets_only else "Volunteers by district"
    title += f" in {view.state}" if view.state else ""
    if not view.rows:
        return f"{title}: none yet."
    lines = [f"{title}:"]
    for r in view.rows:
        mark = " (target)" if r.target else ""
        lines.append(
            f"  {r.district} {r.label}{mark}: {r.living:,} living there, {r.active:,} active in "
            f"30 days, {r.committed_this_week:,} committed to its shifts this week"
        )
        if r.goal:
            lines.append(
                f"    [{bar(r.living, r.goal, 20)}] {r.living:,}/{r.goal:,}, gap {r.gap:,}"
            )
        if r.reason:
            lines.append(f"    why: {r.reason}")
    return "\n".join(lines)


@text.register
def _(view: views.ChaptersView) -> str:
    lines = [view.note] if view.note else []
    if not view.rows:
        return "\n".join([*lines, "No chapters yet."])
    if not lines:
        lines.append("Chapters:")
    for c in view.rows:
        leaders = ", ".join(c.leaders) or "none"
        lines.append(
            f"  chapter:{c.slug} {c.name}: {views.volunteers(c.volunteers)}, {c.active:,} active "
            f"in 30 days, leaders {leaders}, texts to {c.channel or 'the inbox channel'}"
        )
        if view.detail:
            lines.append(f"    ZIPs: {', '.join(c.zips) or 'none'}")
    return "\n".join(lines)


@text.register
def _(view: views.ExportView) -> str:
    return f"{view.title}: {view.rows:,} rows ({view.filename})."


@text.register
def _(view: views.BallotView) -> str:
    lines = [f"Ballot #{view.id} ({view.status}): {view.question}"]
    for o in view.options:
        share = f" ({o.share})" if o.share else ""
        lines.append(
            f"  {o.number}. {o.text}: {o.votes:,}{share}" + (" [passed]" if o.winner else "")
        )
    lines.append(
        f"Turnout [{bar(view.voted, view.eligible, 20)}] {view.voted:,} of {view.eligible:,}"
    )
    lines.append(view.verdict)
    lines.append(f"Opens {view.opens}, closes {view.closes}; passes with {view.rule}")
    lines += [f"  {g.label}: {g.voted:,}/{g.eligible:,}" for g in view.by_district]
    lines += [f"  {g.label} chapter: {g.voted:,}/{g.eligible:,}" for g in view.by_chapter]
    return "\n".join(lines)


@text.register
def _(view: views.BallotListView) -> str:
    if not view.ballots:
        return "No ballots yet: vote add makes one."
    return "\n".join(
        f"#{b.id} {b.question} ({b.status}, {b.when}): {b.voted:,}/{b.eligible:,} voted"
        for b in view.ballots
    )
