"""The organizer command line and its views: parsing, and every view rendered both ways (Block Kit
for Slack, text for the console) within Slack's limits."""

from __future__ import annotations

import dataclasses
import json

import pytest

from bot import slack_modals, slack_render, slack_render_broadcasts, slack_render_reports
from bot.slack_app import slack_to_plain
from bot.text_render import render_text
from handlers import views
from handlers.errors import UsageError
from handlers.organizer.commands import COMMANDS, split_command
from handlers.organizer.parsing import DESCRIPTIONS, USAGE, parse_pairs
from handlers.results import Result


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ("", "")),
        ("  help ", ("help", "")),
        ("Shift Add title=x", ("shift add", "title=x")),
        ("shift", ("shift", "")),
        ("roster 12", ("roster", "12")),
        ("find  Maria  Lopez", ("find", "Maria  Lopez")),
        ("export roster 3", ("export", "roster 3")),
    ],
)
def test_split_command(text, expected):
    assert split_command(text) == expected


def test_parse_pairs_quotes_and_errors():
    values = parse_pairs(
        "title=“Door knock” location='1 Main St' capacity=5",
        usage_of="shift add",
        allowed=("title", "location", "capacity"),
    )
    assert values == {"title": "Door knock", "location": "1 Main St", "capacity": "5"}
    with pytest.raises(UsageError) as err:
        parse_pairs("title=a title=b", usage_of="shift add", allowed=("title",))
    assert "given twice" in err.value.message and USAGE["shift add"] in err.value.message


def test_help_lists_exactly_the_commands_that_run():
    """Every command in `/muster help` has a handler, and every handler a usage and help line."""
    assert list(COMMANDS) == list(USAGE) == list(DESCRIPTIONS)


LINE = views.ShiftLine(
    id=7,
    title="Phonebank <b>&",
    when="Sat Nov 21, 10:00-12:00 EST",
    location="1 Main St",
    zip="02124",
    capacity=10,
    filled=4,
    waitlisted=2,
    tags=("phonebank",),
)
SAMPLES = [
    views.NoticeView("Done."),
    views.HelpView("/muster", (views.CommandHelp("/muster help", "this list"),), "all"),
    views.ShiftFormView(timezone="America/New_York", usage=USAGE["shift add"]),
    views.BroadcastFormView(usage=USAGE["broadcast"], audiences="all"),
    views.ShiftCreatedView(LINE),
    views.ShiftListView((LINE,), more=3),
    views.RosterView(
        shift=LINE,
        entries=tuple(
            views.RosterEntry(i, f"V{i}", "***-***-0001", "committed") for i in range(60)
        ),
        counts={"committed": 60},
        attendance_open=True,
        more=5,
    ),
    views.AttendanceView(7, "Maria", "no_show"),
    views.FindView(
        "mar",
        "name or tag",
        (views.VolunteerLine(1, "Maria", "(617) 555-0123", "02124", "active", (), 1, "Nov 2"),),
    ),
    views.BroadcastPreviewView(
        token="b:1",
        audience="all",
        body="Hi <!channel>",
        recipients=100_000,
        segments=1,
        encoding="gsm7",
        estimated_cost="$830.00",
        in_quiet_hours=12,
        first_names=("Maria",),
        when="now",
        broadcast_id=1,
    ),
    views.BroadcastDoneView("queued", "On its way.", broadcast_id=1, stoppable=True),
    views.ScheduleListView(
        (views.ScheduleLine(1, "all", "Hi", "every `0 9 * * MON`", "U1"),),
        going_out=(
            views.GoingOutLine(2, "all", "Hi <!channel>", "Mon Nov 16, 10:00 EST", 5, 9, 1),
        ),
    ),
    views.StatsView(
        active=10,
        new_this_week=2,
        opted_out=1,
        unreachable=0,
        next_shifts=(LINE,),
        last_broadcasts=(views.BroadcastLine(1, "Hi", "all", "sent", "Mon", 10, 9, 8, 3),),
        signups_by_week=tuple(views.WeekBar(f"W{i}", i) for i in range(8)),
        as_of="Mon Nov 16, 10:00 EST",
        last_call=views.CallToActionLine(2, "Call <!channel>", "all", "Mon", 10, 9, 4, 1, 3),
    ),
    views.ExportView("volunteers.csv", "Volunteers", b"phone\n", 1),
    views.BallotView(
        id=3,
        question="Endorse <b> Ed Markey?",
        status="open",
        opens="Mon Nov 16, 10:00 EST",
        closes="Wed Nov 18, 10:00 EST",
        rule="at least 2/3 of the votes",
        eligible=40,
        voted=12,
        options=(
            views.BallotOptionLine(1, "Endorse <!channel>", 9, "75%", True),
            views.BallotOptionLine(2, "No endorsement", 3, "25%"),
            views.BallotOptionLine(3, "Abstain", 0, ""),
        ),
        verdict="Passing so far: Endorse",
        by_district=(views.BallotGroupLine("MA House 10th Bristol", 10, 4),),
        by_chapter=(views.BallotGroupLine("Needham", 8, 3),),
    ),
    views.BallotListView(
        (views.BallotLine(3, "Endorse?", "open", "closes Wed Nov 18, 10:00 EST", 40, 12),)
    ),
    views.DistrictsView(
        state="MA",
        rows=(
            views.DistrictLine(
                "ma/sldl:10th_bristol", "MA House 10th Bristol", True, 12, 5, 3, 40, 28, "open seat"
            ),
            views.DistrictLine("ma/cd:4", "US House MA-4", False, 80, 20, 0, None, None, None),
        ),
    ),
    views.ChaptersView(
        rows=(
            views.ChapterLine(
                "needham", "Progressive Needham", ("02492", "02494"), ("U1",), "C1", 40, 12
            ),
        ),
        detail=True,
        note="Added chapter Progressive Needham (`chapter:needham`).",
    ),
]


def test_every_view_type_has_a_sample():
    defined = {
        obj
        for obj in vars(views).values()
        if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__name__.endswith("View")
    }
    assert defined - {type(v) for v in SAMPLES} == {views.InboxHeaderView}


@pytest.mark.parametrize("view", SAMPLES, ids=lambda v: type(v).__name__)
def test_every_view_renders_as_text_and_block_kit(view):
    assert render_text(Result(view=view)).strip()
    if isinstance(view, views.ShiftFormView):
        modal = slack_modals.shift_modal(view)
        assert len(modal["blocks"]) <= 100
        return
    if isinstance(view, views.BroadcastFormView):
        assert slack_modals.broadcast_modal(view)["callback_id"] == slack_modals.BROADCAST_MODAL
        return
    text, blocks = slack_render.blocks(view)
    assert text and len(blocks) <= 50
    for block in blocks:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000
    raw = json.dumps(blocks)
    assert "<!channel>" not in raw and "<b>" not in raw  # user text is escaped


def test_home_tab_for_organizers_and_others():
    stats = next(v for v in SAMPLES if isinstance(v, views.StatsView))
    home = slack_render_reports.home_view(stats)
    assert home["type"] == "home" and "W7" in json.dumps(home)
    assert "YES 4 · NO 1 · DONE 3" in json.dumps(home, ensure_ascii=False)
    assert "organizers only" in json.dumps(slack_render_reports.home_view(None))


@pytest.mark.parametrize(
    ("slack_text", "sms"),
    [
        ("See you &lt;3 &amp; thanks", "See you <3 & thanks"),
        ("<https://x.org/a|x.org/a>", "https://x.org/a"),
        ("<https://x.org/a|the form>", "the form (https://x.org/a)"),
        ("mail <mailto:a@b.org|a@b.org>", "mail a@b.org"),
        ("hi <@U123> <!here>", "hi"),
    ],
)
def test_slack_markup_becomes_plain_text_for_sms(slack_text, sms):
    assert slack_to_plain(slack_text) == sms


def stop_buttons(blocks: list[dict]) -> list[dict]:
    return [
        element
        for block in blocks
        for element in [*block.get("elements", []), block.get("accessory") or {}]
        if element.get("action_id") == slack_render_broadcasts.STOP
    ]


def test_stop_sending_is_a_danger_button_with_a_confirm_dialog_while_texts_are_going():
    _, going = slack_render.blocks(views.BroadcastDoneView("queued", "On its way.", 12, True))
    (button,) = stop_buttons(going)
    assert (button["value"], button["style"]) == ("b:12", "danger")
    assert button["confirm"]["style"] == "danger" and button["confirm"]["title"]["text"]
    for done in (
        views.BroadcastDoneView("queued", "On its way.", 12, stoppable=False),
        views.BroadcastDoneView("stopped", "Stopped.", 12),
        views.BroadcastDoneView("scheduled", "Scheduled as #1."),
    ):
        assert stop_buttons(slack_render.blocks(done)[1]) == []


def test_scheduled_with_broadcasts_going_out_stays_within_50_blocks():
    line = views.ScheduleLine(1, "all", "Hi", "every `0 9 * * MON`", "U1")
    going = tuple(
        views.GoingOutLine(i, "all", "Hi", "Mon Nov 16, 10:00 EST", 3, 3) for i in range(10)
    )
    _, blocks = slack_render.blocks(views.ScheduleListView((line,) * 60, going_out=going))
    assert len(blocks) <= 50 and len(stop_buttons(blocks)) == 10
    assert [b["value"] for b in stop_buttons(blocks)] == [f"b:{i}" for i in range(10)]
    nothing_planned = views.ScheduleListView((), going_out=going[:1])
    assert "Going out now" in render_text(Result(view=nothing_planned))
    assert len(stop_buttons(slack_render.blocks(nothing_planned)[1])) == 1


def test_the_console_offers_stop_sending_too():
    from bot.console_web import _answer

    queued = views.BroadcastDoneView("queued", "On its way.", 12, stoppable=True)
    (stop,) = _answer(lambda: Result(view=queued))["actions"]
    assert stop == {"label": "Stop sending", "name": "broadcast.stop", "values": {"token": "b:12"}}
    going = (views.GoingOutLine(7, "all", "Hi", "Mon Nov 16, 10:00 EST", 3, 3),)
    listed = _answer(lambda: Result(view=views.ScheduleListView((), going_out=going)))
    assert [a["values"] for a in listed["actions"]] == [{"token": "b:7"}]
    stopped = views.BroadcastDoneView("stopped", "Stopped.", 12)
    assert _answer(lambda: Result(view=stopped))["actions"] == []
