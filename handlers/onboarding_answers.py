"""Answers whose meaning the question gives them (onboarding's "What's your first name?" and
"Which of these interest you?", and the name after NAME): a first name, interest tags.

Pure functions, no database, like `handlers.keywords`; what an answer is for, and when one is
asked, is `handlers.volunteer.onboarding` and `handlers.volunteer.profile`. `INTEREST_TAGS` are
also the tags an Action Network form may set (`handlers.action_network_people`).
"""

from __future__ import annotations

import re

from handlers.text_folding import fold, strip_edges

_NAME_PREFIX = re.compile(
    r"^\s*(?:(?:hi|hello|hey|hola)[\s,!.]+)?(?:my name is|my name['’]s|name is|name['’]s|i am|"
    r"i['’]m|im|it['’]s|its|this is|call me|me llamo|mi nombre es|nombre es|yo soy|soy)\s+",
    re.IGNORECASE,
)
_NAME_WORD = re.compile(r"^[^\W\d_](?:[\w'’.\-]*[^\W\d_])?\.?$")

INTEREST_TAGS = {
    "1": "phonebank",
    "2": "canvass",
    "3": "textbank",
    "4": "testify",
    "5": "host",
}
_INTEREST_WORDS = {
    "phonebank": "phonebank",
    "phone": "phonebank",
    "phones": "phonebank",
    "calls": "phonebank",
    "llamadas": "phonebank",
    "canvass": "canvass",
    "canvassing": "canvass",
    "doors": "canvass",
    "textbank": "textbank",
    "texting": "textbank",
    "mensajes": "textbank",
    "testify": "testify",
    "lobby": "testify",
    "testificar": "testify",
    "cabildear": "testify",
    "host": "host",
    "event": "host",
    "evento": "host",
}
_INTEREST_FILLER = frozenset(["and", "y", "or", "o", "bank", "text", "an", "a", "to"])


def parse_name(text: str) -> str | None:
    """A first name from an onboarding answer ("Maria", "I'm Ana Lucía 😊", "me llamo José"), or
    None when the text does not look like a name (a question, a sentence, digits)."""
    words = strip_edges(_NAME_PREFIX.sub("", text.strip())).split()
    candidate = " ".join(words)  # also turns tabs and control separators into plain spaces
    if not 1 <= len(words) <= 3 or len(candidate) > 40:
        return None
    if not all(_NAME_WORD.match(w) for w in words):
        return None
    if candidate.islower() or candidate.isupper():
        candidate = " ".join(w[:1].upper() + w[1:].lower() for w in words)
    return candidate


# Greetings and acknowledgements that answer no question ("hi", "ok thanks", "buenas tardes"):
# sent where onboarding asked for a name, a ZIP or interests, they get the question again.
# ("yes", "no" and "si" are keywords, read before this.)
_SMALL_TALK = frozenset(
    [
        "hi",
        "hello",
        "hey",
        "heya",
        "hiya",
        "hola",
        "buenas",
        "buenos",
        "ok",
        "okay",
        "kk",
        "sure",
        "cool",
        "great",
        "thanks",
        "thank",
        "you",
        "thx",
        "gracias",
        "yeah",
        "yep",
        "yup",
        "there",
        "good",
        "morning",
        "afternoon",
        "evening",
        "dias",
        "tardes",
        "noches",
    ]
)


def is_small_talk(folded: str) -> bool:
    """Whether a text (as `handlers.text_folding.fold` leaves it: the parser's `normalized`) is
    only a greeting or an acknowledgement, not a name, not a message."""
    words = folded.split()
    return bool(words) and all(w in _SMALL_TALK for w in words)


def is_a_message(text: str) -> bool:
    """Whether an onboarding text is said to us (a question, a sentence) rather than a try at the
    answer asked for: no digit in it, and a question mark or four words or more. Such a text is
    kept for the organizers and the question asked again, never refused as a bad answer."""
    if any(ch.isdigit() for ch in text):
        return False
    return "?" in text or len(text.split()) >= 4


def parse_interests(text: str) -> list[str] | None:
    """Tags from "1 3", "1,2,5", "135", "canvass and phones"; None when it is none of these."""
    folded = fold(text)
    if not folded:
        return None
    tags: list[str] = []
    for word in folded.split():
        if word.isdigit():
            if not all(d in INTEREST_TAGS for d in word):
                return None
            tags += [INTEREST_TAGS[d] for d in word]
        elif word in _INTEREST_WORDS:
            tags.append(_INTEREST_WORDS[word])
        elif word not in _INTEREST_FILLER:
            return None
    unique = list(dict.fromkeys(tags))
    return unique or None
