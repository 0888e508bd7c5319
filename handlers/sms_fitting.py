"""How a text Muster sends is fitted into SMS segments: in as few as it can take, cut to a limit.

Accents are kept unless dropping them saves a segment (`gsm_folded` spells what GSM-7 lacks in
GSM-7 where it can: á -> a, ’ -> '); control characters, which no text should carry, are removed.
A reply is cut with "..." at `max_segments`; a list (SHIFTS, MY) keeps its head, as many whole
lines as fit and its foot. The words themselves are `handlers/sms_text.py`.
"""

from __future__ import annotations

import re
import unicodedata

from handlers.segments import count_segments, is_gsm7

# Look-alikes outside GSM-7 that have a GSM-7 spelling (the rest fold by dropping the accent).
_GSM_LOOKALIKES = str.maketrans(
    {"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "...", "\u00a0": " "}
)


def gsm_folded(text: str) -> str:
    """`text` with what GSM-7 lacks spelled in GSM-7 where it can be: á -> a, ’ -> ', … -> ..."""
    out = []
    for ch in text.translate(_GSM_LOOKALIKES):
        if is_gsm7(ch):
            out.append(ch)
            continue
        base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
        out.append(base if base and is_gsm7(base) else ch)
    return "".join(out)


def _cheapest(text: str) -> str:
    """Accents are kept unless dropping them saves a segment."""
    if is_gsm7(text):
        return text
    folded = gsm_folded(text)
    return folded if count_segments(folded).segments < count_segments(text).segments else text


# Characters no text should carry (and XML 1.0, hence TwiML, cannot): C0/C1 controls but newline.
_CONTROLS = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\ufffe\uffff]")


def fit(text: str, max_segments: int) -> str:
    """The text in as few segments as it can take, cut (with "...") to `max_segments`."""
    text = _CONTROLS.sub("", text)
    if len(text) <= 70 or (len(text) <= 160 and is_gsm7(text)):
        return text  # one segment whatever its encoding: nothing to gain
    text = _cheapest(text)
    if count_segments(text).segments <= max_segments:
        return text
    cut = text
    while cut and count_segments(cut + "...").segments > max_segments:
        cut = cut[: max(len(cut) - max(len(cut) // 20, 1), 0)]
    return cut.rstrip() + "..."


def fit_list(head: str, lines: list[str], foot: str, max_segments: int) -> str:
    """Head, as many whole lines as fit, and the foot, in at most `max_segments` segments."""
    for k in range(len(lines), 0, -1):
        text = _cheapest("\n".join(part for part in (head, *lines[:k], foot) if part))
        if count_segments(text).segments <= max_segments:
            return text
    return fit("\n".join(part for part in (head, *lines[:1]) if part), max_segments)
