"""What organizers type: each command's usage line and help line, and the readers every
command shares (key=value pairs, a number, a local time), which answer a malformed command
with a `UsageError` naming the problem and the exact usage line.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from handlers.errors import UsageError
from handlers.messages import OrganizerCommand
from handlers.schedule_times import local_to_utc

COMMAND = "/muster"
AUDIENCES = (
    "all, tag:NAME, zip:PREFIX, near:ZIP:MILES, state:XX, shift:N, district:ID, targets, "
    "chapter:SLUG, members, ballot:N[:voted|:waiting]; "
    "join with + for and (targets+tag:canvass)"
)
USAGE: dict[str, str] = {
    "help": f"{COMMAND} help",
    "shift add": (
        f'{COMMAND} shift add title="..." start="YYYY-MM-DD HH:MM" end="YYYY-MM-DD HH:MM" '
        'capacity=N zip=NNNNN location="..." tags=a,b [district=ID] [action_network_event=ID]'
    ),
    "shift edit": (
        f'{COMMAND} shift edit N [title="..."] [start="YYYY-MM-DD HH:MM"] [end="YYYY-MM-DD HH:MM"] '
        '[capacity=N] [zip=NNNNN] [location="..."] [tags=a,b]'
    ),
    "shift cancel": f"{COMMAND} shift cancel N",
    "shifts": f"{COMMAND} shifts",
    "roster": f"{COMMAND} roster N",
    "signup": f"{COMMAND} signup N PHONE",
    "find": f"{COMMAND} find QUERY  (a phone number, a name, a ZIP prefix or tag:NAME)",
    "broadcast": (
        f'{COMMAND} broadcast to=AUDIENCE [at="YYYY-MM-DD HH:MM"] [every="CRON"] '
        '[deadline="YYYY-MM-DD HH:MM" | valid=2h] [quiet_hours=override] message="..." '
        '[on_yes="..."] [on_no="..."]  (fields: {first_name|friend}, {rep}, {rep_phone} ...)'
    ),
    "scheduled": f"{COMMAND} scheduled",
    "unschedule": f"{COMMAND} unschedule ID",
    "stats": f"{COMMAND} stats",
    "export": f"{COMMAND} export volunteers|roster N|vote N|broadcast N",
    "districts": f"{COMMAND} districts [STATE]",
    "target add": f'{COMMAND} target add DISTRICT [goal=N] [reason="..."]',
    "target remove": f"{COMMAND} target remove DISTRICT",
    "targets": f"{COMMAND} targets",
    "sync": f"{COMMAND} sync",
    "chapter add": (
        f'{COMMAND} chapter add SLUG name="..." zips=02492,02494 [leaders=U123,U456] [channel=C123]'
    ),
    "chapters": f"{COMMAND} chapters",
    "chapter": f"{COMMAND} chapter SLUG [move=PHONE,PHONE]",
    "member": f"{COMMAND} member PHONE since=YYYY-MM-DD|none",
    "vote add": (
        f'{COMMAND} vote add question="..." options="A|B|No endorsement" [to=AUDIENCE] '
        '[opens="YYYY-MM-DD HH:MM"] closes="YYYY-MM-DD HH:MM" [threshold=2/3] [quorum=25%] '
        "[abstentions=counted]"
    ),
    "votes": f"{COMMAND} votes",
    "vote": f"{COMMAND} vote N",
    "vote close": f"{COMMAND} vote close N",
    "vote remind": f"{COMMAND} vote remind N",
}
DESCRIPTIONS: dict[str, str] = {
    "help": "this list",
    "shift add": "add a shift (a form; or everything inline as shown)",
    "shift edit": "change shift N (its volunteers are told of a new time or place)",
    "shift cancel": "cancel shift N (its volunteers are told)",
    "shifts": "upcoming shifts and how full they are",
    "roster": "who is coming to shift N, the waitlist, and attendance after the shift",
    "signup": "sign a volunteer up for shift N (say, one who phoned in); they get a text",
    "find": "look a volunteer up",
    "broadcast": "text an audience (a form; or inline), after a preview you confirm; "
    "`broadcast N`: sent, delivered, YES, NO, DONE of broadcast N, by district and chapter",
    "scheduled": "broadcasts planned ahead, and those still going out (with Stop sending)",
    "unschedule": "cancel scheduled broadcast ID",
    "stats": "the drive at a glance",
    "export": "a CSV in a direct message to you",
    "districts": "volunteers per district, target districts first, with this week's shifts",
    "target add": "make a district a target (e.g. ma/sldl:10th_bristol goal=40)",
    "target remove": "a district is no longer a target",
    "targets": "the target districts and their gap to goal",
    "sync": "when Mobilize and Action Network last synced, what changed, the last error",
    "chapter add": "add a chapter (or change one): its ZIPs, its leaders, its own channel",
    "chapters": "the chapters, their volunteers and leaders",
    "chapter": "one chapter; move= places volunteers in it by hand",
    "member": "make a volunteer a member (who may vote) from a day, or none to end it",
    "vote add": "a member vote by text (an option named Abstain is an abstention), previewed",
    "votes": "open and recent ballots, with turnout",
    "vote": "ballot N's live tally, turnout and turnout by district",
    "vote close": "close ballot N now and post its result",
    "vote remind": "text the eligible members who have not voted on N (previewed)",
}
SMART_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'"})
_WHEN = "%Y-%m-%d %H:%M"


def parse_pairs(
    args: str, *, usage_of: str, allowed: Iterable[str], required: Iterable[str] = ()
) -> dict[str, str]:
    """`key=value key="two words"` -> dict. Anything else is a UsageError naming the problem."""
    usage = USAGE[usage_of]
    try:
        tokens = shlex.split(args.translate(SMART_QUOTES))
    except ValueError:
        raise usage_error(usage, "a quote is not closed") from None
    allowed = set(allowed)
    values: dict[str, str] = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        key = key.strip().lower()
        if not sep or not key:
            raise usage_error(usage, f"`{token}` is not key=value")
        if key not in allowed:
            raise usage_error(usage, f"`{key}` is not one of {', '.join(sorted(allowed))}")
        if key in values:
            raise usage_error(usage, f"`{key}` is given twice")
        values[key] = value.strip()
    missing = [k for k in required if not values.get(k)]
    if missing:
        raise usage_error(usage, f"missing {', '.join(missing)}")
    return values


def usage_error(usage: str, reason: str | None = None) -> UsageError:
    return UsageError(f"{reason}.\nUsage: {usage}" if reason else f"Usage: {usage}")


def one_number(args: str, usage_of: str, what: str = "N") -> int:
    text = args.strip().lstrip("#")
    if not text.isdigit() or int(text) <= 0 or len(text) > 9:
        raise usage_error(
            USAGE[usage_of], f"{what} must be a number" if text else f"missing {what}"
        )
    return int(text)


def no_args(cmd: OrganizerCommand) -> None:
    if cmd.args.strip():
        raise usage_error(USAGE[cmd.name], f"`{cmd.name}` takes nothing after it")


def parse_local_time(text: str, zone: ZoneInfo) -> datetime:
    """`YYYY-MM-DD HH:MM` in the organizers' zone -> UTC. ValueError when it cannot be read;
    UsageError for a wall-clock time the clocks skip that night (schedule_times.local_to_utc)."""
    return local_to_utc(datetime.strptime(" ".join(text.split()), _WHEN), zone)
