"""How the SMS keyword grammar reads a text: folded (lower case, no accents, anything but letters
and digits one space), so "Yes 12!", " stop. ", "STOP 🛑" and "ayúda" meet their keywords.

Arguments stay as typed, not folded: `after_keyword` finds the text after a keyword's words,
counted as `fold` counts them (an email address, a ZIP+4, a street line keep their case and
punctuation), and `strip_edges` trims the punctuation and emoji around a typed answer. Used by
`handlers.keywords` (the grammar) and `handlers.onboarding_answers`. The GSM-7 folding of the
texts Muster sends is another thing (`handlers.sms_fitting`).
"""

from __future__ import annotations

import re
import unicodedata

# A word as `fold` counts them: letters and digits, with the combining accents they carry.
_FOLDED_WORD = re.compile(
    r"(?:[^\W_][\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]*)+"
)
_EDGE_JUNK = re.compile(r"^[\W_]+|[\W_]+$")


def fold(text: str) -> str:
    """Lower case, accents removed, anything but letters and digits turned into single spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return " ".join(re.sub(r"[\W_]+", " ", stripped).split())


def strip_edges(text: str) -> str:
    return _EDGE_JUNK.sub("", text.strip())


def after_keyword(original: str, n_words: int) -> str:
    """The original text after its first `n_words` words, counted as `fold` counts them (so
    "ZIP:02124" and "zip-code 02124" have their keyword too), untrimmed."""
    ends = [m.end() for m in _FOLDED_WORD.finditer(original)]
    return original[ends[n_words - 1] :] if len(ends) >= n_words else ""
