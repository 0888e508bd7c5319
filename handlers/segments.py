"""How many SMS segments a text costs: GSM-7 or UCS-2, with concatenation headers counted.

Carriers bill, and Twilio paces, per segment. A text that fits the GSM 03.38 alphabet (with its
extension table, whose characters take two septets: an escape and the character) is sent as
GSM-7: 160 septets in one segment, or 153 per segment once it has to be split (each part carries
a 6-byte User Data Header). One character outside that alphabet (an emoji, a curly quote, an
accented capital not in the table) sends the whole text as UCS-2: 70 UTF-16 code units alone, 67
per part. A part never splits an escape pair or a surrogate pair, so boundaries are counted the
way a handset packs them, not by dividing.
"""

from __future__ import annotations

from dataclasses import dataclass

# GSM 03.38 default alphabet (the escape character 0x1B itself is not a printable member).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each of these costs two septets (ESC + character).
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7 = GSM7_BASIC | GSM7_EXTENSION

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67
MAX_BODY_CHARS = 1600  # Twilio refuses longer bodies (and recommends at most 320)


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    encoding: str  # "gsm7" or "ucs2"
    segments: int  # 0 for an empty text
    chars: int  # characters as a person counts them
    units: int  # septets (gsm7) or UTF-16 code units (ucs2) on the wire, before splitting

    @property
    def per_segment(self) -> int:
        """How many units fit in one part of a text of this encoding and length."""
        if self.encoding == "gsm7":
            return GSM7_SINGLE if self.segments <= 1 else GSM7_PART
        return UCS2_SINGLE if self.segments <= 1 else UCS2_PART


def is_gsm7(body: str) -> bool:
    return GSM7.issuperset(body)


def _pack(widths: list[int], single: int, part: int) -> int:
    """Parts needed when items of these widths are packed without splitting one."""
    total = sum(widths)
    if total == 0:
        return 0
    if total <= single:
        return 1
    parts, used = 1, 0
    for width in widths:
        if used + width > part:
            parts, used = parts + 1, 0
        used += width
    return parts


def count_segments(body: str) -> SegmentInfo:
    """The encoding, the number of segments and the wire length of `body`."""
    chars = set(body)
    if GSM7.issuperset(chars):
        escaped = chars & GSM7_EXTENSION
        units = len(body) + sum(body.count(ch) for ch in escaped)
        if units <= GSM7_SINGLE:  # the common case: one part (or none), no packing to do
            return SegmentInfo("gsm7", 1 if units else 0, len(body), units)
        widths = [2 if ch in GSM7_EXTENSION else 1 for ch in body]
        return SegmentInfo("gsm7", _pack(widths, GSM7_SINGLE, GSM7_PART), len(body), units)
    widths = [2 if ord(ch) > 0xFFFF else 1 for ch in body]  # astral characters: surrogate pairs
    return SegmentInfo("ucs2", _pack(widths, UCS2_SINGLE, UCS2_PART), len(body), sum(widths))


def non_gsm_characters(body: str) -> list[str]:
    """The characters that force UCS-2, in order of first appearance (to tell the organizer)."""
    seen: list[str] = []
    for ch in body:
        if ch not in GSM7_BASIC and ch not in GSM7_EXTENSION and ch not in seen:
            seen.append(ch)
    return seen
