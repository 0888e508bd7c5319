"""Typed views: what an organizer command answers with, before any rendering.

`bot/slack_render.py` turns these into Block Kit and `bot/text_render.py` into plain text (the
console's organizer pane), so the same command looks the same wherever it is typed. Views hold
only display-ready values (local times as text, masked numbers where a number is shown in a shared
place); nothing here knows about Slack.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def volunteers(n: int) -> str:
    """`1 volunteer`, `2,500 volunteers`."""
    return f"{n:,} volunteer{'' if n == 1 else 's'}"


@dataclass(frozen=True, slots=True)
class CommandHelp:
    usage: str
    description: str


@dataclass(frozen=True, slots=True)
class HelpView:
    command: str  # "/muster"
    commands: tuple[CommandHelp, ...]
    audiences: str


@dataclass(frozen=True, slots=True)
class ShiftLine:
    id: int
    title: str
    when: str  # "Sat Nov 21, 10:00-12:00 EST"
    location: str | None
    zip: str | None
    capacity: int
    filled: int
    waitlisted: int
    tags: tuple[str, ...] = ()
    mobilize_url: str | None = None  # set for a shift from Mobilize (edited there, not here)
    from_mobilize: bool = False
    cancelled: bool = False  # `shift cancel N` (its volunteers were told); kept for the record

    @property
    def spots_left(self) -> int:
        return max(self.capacity - self.filled, 0)


@dataclass(frozen=True, slots=True)
class ShiftFormView:
    """Ask for a new shift (the Slack modal; the console shows the inline form instead)."""

    timezone: str
    usage: str
    channel_id: str | None = None  # where the organizer asked, to answer there afterwards


@dataclass(frozen=True, slots=True)
class ShiftCreatedView:
    shift: ShiftLine


@dataclass(frozen=True, slots=True)
class ShiftListView:
    shifts: tuple[ShiftLine, ...]
    more: int = 0  # upcoming shifts not listed


@dataclass(frozen=True, slots=True)
class RosterEntry:
    commitment_id: int
    name: str
    phone: str  # masked
    status: str  # committed, confirmed, waitlisted, attended, no_show, dropped
    waitlist_position: int | None = None


@dataclass(frozen=True, slots=True)
class RosterView:
    shift: ShiftLine
    entries: tuple[RosterEntry, ...]
    counts: dict[str, int]
    attendance_open: bool  # the shift has started: attended / no-show can be recorded
    more: int = 0  # entries not shown (use export for the full roster)


@dataclass(frozen=True, slots=True)
class AttendanceView:
    shift_id: int
    name: str
    status: str


@dataclass(frozen=True, slots=True)
class VolunteerLine:
    id: int
    name: str
    phone: str  # full number for display: only ever shown to the organizer who asked
    zip: str | None
    status: str
    tags: tuple[str, ...]
    upcoming: int
    joined: str


@dataclass(frozen=True, slots=True)
class FindView:
    query: str
    how: str  # "phone", "ZIP prefix", "tag", "name or tag"
    volunteers: tuple[VolunteerLine, ...]
    more: int = 0


@dataclass(frozen=True, slots=True)
class BroadcastFormView:
    usage: str
    audiences: str
    channel_id: str | None = None


@dataclass(frozen=True, slots=True)
class BroadcastPreviewView:
    """What would be sent; nothing is sent until Confirm. `token` is what Confirm/Cancel carry."""

    token: str
    audience: str
    body: str
    recipients: int
    segments: int
    encoding: str
    estimated_cost: str
    in_quiet_hours: int
    first_names: tuple[str, ...]
    when: str | None = None  # "now", or the schedule in words
    broadcast_id: int | None = None
    deadline: str | None = None  # when its texts stop going out, in words
    quiet_hours_override: bool = False  # goes out in quiet hours too (an emergency)
    # A message with fields: three texts as rendered (segments: the longest's), and how many
    # recipients are left out for lacking a field without fallback (field -> how many lack it).
    samples: tuple[str, ...] = ()
    left_out: int = 0
    left_out_fields: tuple[tuple[str, int], ...] = ()
    on_yes: str | None = None
    on_no: str | None = None
    nobody: str = ""  # with no recipient: why (a tag no volunteer has, say)

    @property
    def left_out_text(self) -> str:
        if not self.left_out:
            return ""
        lacking = ", ".join(f"{{{name}}} {n:,}" for name, n in self.left_out_fields)
        return (
            f"{self.left_out:,} left out: they lack a field that has no fallback ({lacking}). "
            "Add one, e.g. {first_name|friend}, to reach them."
        )


@dataclass(frozen=True, slots=True)
class BroadcastDoneView:
    """The answer to Confirm, Cancel or Stop sending (also to a second click: `already`).

    `stoppable`: broadcast `broadcast_id` is still going out, so the answer offers Stop sending.
    """

    outcome: str  # queued, scheduled, cancelled, stopped, finished, already
    text: str
    broadcast_id: int | None = None
    stoppable: bool = False


@dataclass(frozen=True, slots=True)
class ScheduleLine:
    id: int
    audience: str
    body: str
    when: str
    created_by: str | None


@dataclass(frozen=True, slots=True)
class GoingOutLine:
    """A broadcast confirmed (or fired by the clock) with texts not yet handed to Twilio."""

    id: int  # the broadcast
    audience: str
    body: str
    when: str  # when it was confirmed or fired, local
    left: int  # texts not yet handed to Twilio (held for quiet hours included)
    recipients: int
    schedule_id: int | None = None


@dataclass(frozen=True, slots=True)
class ScheduleListView:
    schedules: tuple[ScheduleLine, ...]
    going_out: tuple[GoingOutLine, ...] = ()  # each with a Stop sending button


@dataclass(frozen=True, slots=True)
class BroadcastLine:
    id: int
    body: str
    audience: str
    status: str
    when: str
    recipients: int
    sent: int | None = None
    delivered: int | None = None
    replied: int | None = None


@dataclass(frozen=True, slots=True)
class CallToActionLine:
    """The last call to action on the App Home: its counts over all recipients, live."""

    id: int
    body: str
    audience: str
    when: str
    sent: int
    delivered: int
    yes: int
    no: int
    done: int


@dataclass(frozen=True, slots=True)
class WeekBar:
    label: str  # "Nov 9"
    count: int


@dataclass(frozen=True, slots=True)
class DistrictLine:
    district: str  # short OCD id
    label: str  # "MA House 10th Bristol"
    target: bool
    living: int  # reachable volunteers living in it
    active: int  # of them, active in the last 30 days
    committed_this_week: int  # commitments to its shifts starting in the next 7 days
    goal: int | None
    gap: int | None  # volunteers still wanted to reach the goal
    reason: str | None


@dataclass(frozen=True, slots=True)
class StatsView:
    """The state of the drive at a glance: `/muster stats` and the App Home tab."""

    active: int
    new_this_week: int
    opted_out: int
    unreachable: int
    next_shifts: tuple[ShiftLine, ...]
    last_broadcasts: tuple[BroadcastLine, ...]
    signups_by_week: tuple[WeekBar, ...]
    as_of: str
    targets: tuple[DistrictLine, ...] = ()  # target districts: volunteers living there vs goal
    last_call: CallToActionLine | None = None  # the latest call to action sent, with its counts


@dataclass(frozen=True, slots=True)
class DistrictsView:
    """`/muster districts [STATE]` and `targets`: target districts first, then the others."""

    state: str | None
    rows: tuple[DistrictLine, ...]
    targets_only: bool = False


@dataclass(frozen=True, slots=True)
class ChapterLine:
    slug: str
    name: str
    zips: tuple[str, ...]
    leaders: tuple[str, ...]  # Slack user ids
    channel: str | None  # its own Slack channel id
    volunteers: int  # reachable volunteers in it
    active: int  # of them, active in the last 30 days


@dataclass(frozen=True, slots=True)
class ChaptersView:
    """`/muster chapters` (every chapter) and `/muster chapter SLUG` (one, `detail`)."""

    rows: tuple[ChapterLine, ...]
    detail: bool = False
    note: str | None = None  # what a `chapter add` or a move just did


@dataclass(frozen=True, slots=True)
class BallotOptionLine:
    number: int
    text: str
    votes: int
    share: str  # "75%", or "" for abstentions that the rule does not count
    winner: bool = False


@dataclass(frozen=True, slots=True)
class BallotGroupLine:
    """Turnout in one district (or chapter): eligible members there, and how many voted."""

    label: str
    eligible: int
    voted: int


@dataclass(frozen=True, slots=True)
class BallotView:
    """`/muster vote N`: the live tally (or the result), turnout, by district."""

    id: int
    question: str
    status: str  # draft, scheduled, open, closed, cancelled
    opens: str
    closes: str
    rule: str
    eligible: int
    voted: int
    options: tuple[BallotOptionLine, ...]
    verdict: str  # "Leading: ..." while open, "PASSED: ..." / "NOT PASSED: ..." once closed
    by_district: tuple[BallotGroupLine, ...] = ()
    by_chapter: tuple[BallotGroupLine, ...] = ()


@dataclass(frozen=True, slots=True)
class BallotLine:
    id: int
    question: str
    status: str
    when: str  # "closes Wed Nov 18, 10:00 EST"
    eligible: int
    voted: int


@dataclass(frozen=True, slots=True)
class BallotListView:
    """`/muster votes`: open and recent ballots (also on the App Home)."""

    ballots: tuple[BallotLine, ...]


@dataclass(frozen=True, slots=True)
class ExportView:
    """A CSV for the organizer who asked (a DM in Slack, a download in the console)."""

    filename: str
    title: str
    content: bytes = field(repr=False)
    rows: int = 0


@dataclass(frozen=True, slots=True)
class NoticeView:
    """A plain answer (a reply texted, a repeated click, nothing to do)."""

    text: str


@dataclass(frozen=True, slots=True)
class InboxHeaderView:
    """The parent message of a volunteer's inbox thread (a shared channel: number masked)."""

    volunteer_id: int
    name: str
    phone: str  # masked
    zip: str | None
    status: str
    tags: tuple[str, ...]
    commitments: tuple[str, ...]  # "#12 Phonebank, Sat Nov 21, 10:00-12:00 EST (committed)"
