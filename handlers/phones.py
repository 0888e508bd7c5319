"""Phone numbers: E.164 with the phonenumbers library, and a time-zone guess from the number."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from phonenumbers import timezone as pn_timezone


def to_e164(raw: str | None, region: str = "US") -> str | None:
    """The number in E.164 (+16175551234), or None when it is not a valid phone number."""
    if not raw:
        return None
    return _to_e164(raw, region)


@lru_cache(maxsize=32768)
def _to_e164(raw: str, region: str) -> str | None:
    """(Remembered: parsing is a tenth of a millisecond, and every text's From repeats the same
    few thousand numbers.)"""
    try:
        number = phonenumbers.parse(raw.strip(), region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def zone_from_number(e164: str) -> str | None:
    """The IANA zone of the number's area, when it names exactly one (617 -> America/New_York)."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
    zones = [z for z in pn_timezone.time_zones_for_number(number) if z != "Etc/Unknown"]
    return zones[0] if len(zones) == 1 else None


def display(e164: str | None) -> str:
    """A number as organizers read it: (617) 555-1234 for NANP numbers, E.164 otherwise."""
    if not e164:
        return "-"
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    fmt = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if number.country_code == 1
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, fmt)


def masked(e164: str | None) -> str:
    """Last four digits only: how numbers appear in logs and shared places."""
    if not e164:
        return "-"
    return f"***-***-{e164[-4:]}"
