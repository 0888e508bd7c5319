"""The reminder ladder's texts, one per rung (`day_before_text`, `two_hours_text`, `checkin_text`),
each worded from one due rung: a `DueRung`, the plain row the sweep's queries return. Finding the
due rungs and queueing their texts is the work of `handlers/reminders.py`.

Each text is in the volunteer's language (`volunteers.language`, English or Spanish, worded like
`handlers/sms_text.py`) and kept within three segments (`sms_fitting.fit`). The replies they ask for
are understood in both languages: C (or CONFIRMAR), DROP N, Y/N or SÍ/NO.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from handlers.config import OrgConfig
from handlers.quiet_hours import zone
from handlers.sms_fitting import fit
from handlers.sms_text import lang_of, when


@dataclass(frozen=True, slots=True)
class DueRung:
    """One due rung for one commitment (plain columns, no ORM objects: sweeps stay cheap)."""

    commitment_id: int
    volunteer_id: int
    shift_id: int
    signed_up_at: datetime
    phone: str
    first_name: str | None
    volunteer_tz: str | None
    language: str | None
    title: str
    location: str | None
    zip: str | None
    starts_at: datetime
    ends_at: datetime
    shift_tz: str


# --- The texts (plain GSM-7 characters: one segment where the title allows) --------------------


def _when(moment: datetime, tz: ZoneInfo, shift_tz: ZoneInfo) -> str:
    local = moment.astimezone(tz)
    text = f"{local:%a %b} {local.day}, {clock_time(local)}"
    if tz.key != shift_tz.key:
        text += f" {local.tzname()}"
    return text


def clock_time(local: datetime) -> str:
    """ "9:05 AM": a local time as the texts write it."""
    hour = local.hour % 12 or 12
    return f"{hour}:{local:%M} {'AM' if local.hour < 12 else 'PM'}"


_DIAS = (
    "el lunes",
    "el martes",
    "el miércoles",
    "el jueves",
    "el viernes",
    "el sábado",
    "el domingo",
)
MAX_SEGMENTS = 3


def _day_word(moment: datetime, now: datetime, tz: ZoneInfo, language: str = "en") -> str:
    local = moment.astimezone(tz)
    delta = (local.date() - now.astimezone(tz).date()).days
    if language == "es":
        return {0: "hoy", 1: "mañana"}.get(delta, _DIAS[local.weekday()])
    return {0: "today", 1: "tomorrow"}.get(delta, f"on {local:%A}")


def _place(d: DueRung) -> str:
    if d.location:
        return d.location
    if lang_of(d.language) == "es":
        return f"código postal {d.zip}" if d.zip else "el lugar de tu inscripción"
    return f"ZIP {d.zip}" if d.zip else "the place in your sign-up"


def _zones(d: DueRung, org: OrgConfig) -> tuple[ZoneInfo, ZoneInfo]:
    return zone(d.volunteer_tz, org.default_timezone), zone(d.shift_tz, org.zone.key)


def _zone_suffix(moment: datetime, tz: ZoneInfo, shift_tz: ZoneInfo) -> str:
    """The zone's name when the volunteer's clock is not the shift's (`5:00 PM CST`)."""
    return f" {moment.astimezone(tz).tzname()}" if tz.key != shift_tz.key else ""


def day_before_text(d: DueRung, *, now: datetime, org: OrgConfig) -> str:
    tz, shift_tz = _zones(d, org)
    if lang_of(d.language) == "es":
        hello = f"¡Hola, {d.first_name}!" if d.first_name else "¡Hola!"
        text = (
            f"{org.org_name}: {hello} Recordatorio: {d.title} es "
            f"{_day_word(d.starts_at, now, tz, 'es')}, {when(d.starts_at, tz.key, 'es')}"
            f"{_zone_suffix(d.starts_at, tz, shift_tz)} en {_place(d)}. "
            f"Responde C para confirmar o DROP {d.shift_id} si no puedes ir."
        )
    else:
        hello = f"Hi {d.first_name}!" if d.first_name else "Hi!"
        text = (
            f"{org.org_name}: {hello} Reminder: {d.title} is {_day_word(d.starts_at, now, tz)}, "
            f"{_when(d.starts_at, tz, shift_tz)} at {_place(d)}. "
            f"Reply C to confirm, DROP {d.shift_id} if you can't make it."
        )
    return fit(text, MAX_SEGMENTS)


def two_hours_text(d: DueRung, *, now: datetime, org: OrgConfig) -> str:
    tz, shift_tz = _zones(d, org)
    local = d.starts_at.astimezone(tz)
    zone_name = _zone_suffix(d.starts_at, tz, shift_tz)
    if lang_of(d.language) == "es":
        text = (
            f"{org.org_name}: {d.title} empieza a las {local:%H:%M}{zone_name} "
            f"{_day_word(d.starts_at, now, tz, 'es')} en {_place(d)}. ¡Nos vemos! "
            f"DROP {d.shift_id} si no puedes ir."
        )
    else:
        text = (
            f"{org.org_name}: {d.title} starts at {clock_time(local)}{zone_name} "
            f"{_day_word(d.starts_at, now, tz)} at {_place(d)}. See you there! "
            f"DROP {d.shift_id} if you can't make it."
        )
    return fit(text, MAX_SEGMENTS)


def checkin_text(d: DueRung, *, now: datetime, org: OrgConfig) -> str:
    tz = zone(d.volunteer_tz, org.default_timezone)
    local = d.starts_at.astimezone(tz)
    if lang_of(d.language) == "es":
        day = when(d.starts_at, tz.key, "es").rsplit(" ", 1)[0]  # `sáb 21/11`, without the hour
        text = (
            f"{org.org_name}: Gracias por inscribirte en {d.title} el {day}. "
            "¿Pudiste ir? Responde SÍ o NO."
        )
    else:
        text = (
            f"{org.org_name}: Thanks for signing up for {d.title} on {local:%a %b} {local.day}. "
            "Did you make it? Reply Y or N."
        )
    return fit(text, MAX_SEGMENTS)
