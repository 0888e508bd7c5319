"""How the organizers' views name things: local times and volunteers."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from storage.models import Volunteer


def local_when(start: datetime, end: datetime | None, zone: ZoneInfo) -> str:
    """`Sat Nov 21, 10:00-12:00 EST` (the end's date only when it is another day)."""
    s = start.astimezone(zone)
    text = f"{s:%a %b} {s.day}, {s:%H:%M}"
    if end is not None:
        e = end.astimezone(zone)
        text += f"-{e:%H:%M}" if e.date() == s.date() else f" to {e:%a %b} {e.day}, {e:%H:%M}"
    return f"{text} {s.tzname()}"


def volunteer_name(volunteer: Volunteer) -> str:
    if volunteer.forgotten_at is not None:
        return "(forgotten)"
    return volunteer.first_name or "(no name yet)"
