"""The SMS keyword grammar (CONTRACT.md, "SMS keywords"): text in, a `Parsed` intent out.

Pure functions, no database: what a text means does not depend on who sent it. What to DO with it
(a bare YES from an opted-out number opts in; a plain word during onboarding is a name) is decided
in `handlers.volunteer.dispatch`.

Matching ignores case, accents, spaces, punctuation and emoji: "Yes 12!", " stop. ", "STOP 🛑",
"Sí 12" and "ayúda" all parse. Keywords in Spanish carry `language="es"`; distinctly English
words (JOIN, UNSUBSCRIBE, English sentences) carry "en"; the contract's keywords that a Spanish
speaker uses as they are (STOP, HELP, SHIFTS, YES 12, DROP 12) leave the volunteer's language
as it is.

Revoking consent "by any reasonable means" (FCC 24-24): besides the keywords, plain requests in
English and Spanish ("stop texting me", "remove me from this list", "no me manden más mensajes")
are opt-outs, and texts that only might be one (mentions of stopping, removing, a wrong number)
come back as `MAYBE_OPT_OUT`, for the organizers to look at; those words are
`handlers.opt_out_words`. YES and DROP take courtesy around them ("yes 12 please") and up to five
numbers ("YES 1, 2", "DROP 3 and 4").

The folding that matching works on is `handlers.text_folding`; answers that only the question
asked gives a meaning to (a first name, interests) are read by `handlers.onboarding_answers`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from handlers.opt_out_words import (
    FILLER,
    LEADING_FILLER,
    MAX_LEADING,
    MAYBE_OPT_OUT,
    OPT_OUT_PHRASES,
    SPANISH_HINT,
)
from handlers.text_folding import after_keyword, fold, strip_edges
from storage.models import StrEnum


class Intent(StrEnum):
    OPT_IN = "opt_in"
    OPT_OUT = "opt_out"
    MAYBE_OPT_OUT = "maybe_opt_out"
    HELP = "help"
    SHIFTS = "shifts"
    COMMIT = "commit"  # YES 12, Y 12, SIGNUP 12, SI 12
    DROP = "drop"
    MY = "my"
    CONFIRM = "confirm"
    NAME = "name"
    ZIP = "zip"
    ADDRESS = "address"  # ADDRESS 12 Main St: the street line, looked up for districts
    DISTRICTS = "districts"  # my districts, as far as known
    EMAIL = "email"  # EMAIL me@example.org (Mobilize needs it to hold a spot)
    CALL = "call"  # my legislators and their office numbers
    DONE = "done"  # I called: the latest call to action is done
    YES = "yes"  # bare: answers a call to action or a check-in
    NO = "no"
    SKIP = "skip"  # onboarding: skip this question
    NUMBER = "number"  # a bare 1-9: a vote on the ballot awaiting this volunteer, else as OTHER
    VOTE = "vote"  # VOTE N 2: a vote on ballot N (VOTE 2: on the ballot awaiting)
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Parsed:
    intent: Intent
    keyword: str | None = None  # the keyword as recognised, upper case (kept in the ledger)
    arg: str | None = None  # shift number, name or ZIP as typed (None when missing)
    language: str | None = None  # "es" / "en" when the words themselves say so
    normalized: str = ""  # folded text: lower case, no accents, punctuation or emoji

    @property
    def number(self) -> int | None:
        return int(self.arg) if self.arg and self.arg.isascii() and self.arg.isdigit() else None

    @property
    def numbers(self) -> tuple[int, ...]:
        """The shift numbers of `YES 1, 2` / `DROP 3 and 4` (one for `YES 12`), in order."""
        parts = (self.arg or "").split()
        if not parts or not all(p.isascii() and p.isdigit() for p in parts):
            return ()
        return tuple(dict.fromkeys(int(p) for p in parts))


# One word (after folding) -> (intent, language). Multi-word keywords are listed with a space.
_WORDS: dict[str, tuple[Intent, str | None]] = {
    # opt in
    "join": (Intent.OPT_IN, "en"),
    "subscribe": (Intent.OPT_IN, "en"),
    "start": (Intent.OPT_IN, None),
    "unstop": (Intent.OPT_IN, None),
    "unirse": (Intent.OPT_IN, "es"),
    "unirme": (Intent.OPT_IN, "es"),
    "hola": (Intent.OPT_IN, "es"),
    # opt out: the carriers' and Twilio's defaults, the contract's, and their Spanish
    "stop": (Intent.OPT_OUT, None),
    "stopall": (Intent.OPT_OUT, None),
    "stop all": (Intent.OPT_OUT, None),
    "unsubscribe": (Intent.OPT_OUT, "en"),
    "cancel": (Intent.OPT_OUT, None),
    "end": (Intent.OPT_OUT, None),
    "quit": (Intent.OPT_OUT, None),
    "optout": (Intent.OPT_OUT, None),
    "opt out": (Intent.OPT_OUT, None),
    "revoke": (Intent.OPT_OUT, None),
    "alto": (Intent.OPT_OUT, "es"),
    "parar": (Intent.OPT_OUT, "es"),
    "para": (Intent.OPT_OUT, "es"),
    "baja": (Intent.OPT_OUT, "es"),
    "cancelar": (Intent.OPT_OUT, "es"),
    "detener": (Intent.OPT_OUT, "es"),
    # help
    "help": (Intent.HELP, None),
    "info": (Intent.HELP, None),
    "ayuda": (Intent.HELP, "es"),
    # shifts
    "shifts": (Intent.SHIFTS, None),
    "districts": (Intent.DISTRICTS, "en"),
    "my districts": (Intent.DISTRICTS, "en"),
    "distritos": (Intent.DISTRICTS, "es"),
    "mis distritos": (Intent.DISTRICTS, "es"),
    # rapid response
    "call": (Intent.CALL, None),
    "call my rep": (Intent.CALL, "en"),
    "who do i call": (Intent.CALL, "en"),
    "llamar": (Intent.CALL, "es"),
    "done": (Intent.DONE, None),
    "i called": (Intent.DONE, "en"),
    "called": (Intent.DONE, "en"),
    "listo": (Intent.DONE, "es"),
    "ya llame": (Intent.DONE, "es"),
    "llame": (Intent.DONE, "es"),
    "shift": (Intent.SHIFTS, None),
    "turnos": (Intent.SHIFTS, "es"),
    "my": (Intent.MY, None),
    "my shifts": (Intent.MY, "en"),
    "mine": (Intent.MY, "en"),
    "mis": (Intent.MY, "es"),
    "mis turnos": (Intent.MY, "es"),
    "c": (Intent.CONFIRM, None),
    "confirm": (Intent.CONFIRM, None),
    "confirmar": (Intent.CONFIRM, "es"),
    "confirmo": (Intent.CONFIRM, "es"),
    # bare answers
    "yes": (Intent.YES, None),
    "y": (Intent.YES, None),
    "yeah": (Intent.YES, "en"),
    "yep": (Intent.YES, "en"),
    "yes please": (Intent.YES, "en"),
    "si": (Intent.YES, "es"),
    "no": (Intent.NO, None),
    "n": (Intent.NO, None),
    "nope": (Intent.NO, "en"),
    "skip": (Intent.SKIP, None),
    "saltar": (Intent.SKIP, "es"),
    "omitir": (Intent.SKIP, "es"),
}
# Keywords that take an argument: YES 12, DROP 12, NAME Maria, ZIP 02124.
_COMMIT_WORDS = {"yes": None, "y": None, "signup": "en", "sign up": "en", "si": "es"}
_DROP_WORDS = {"drop": None}
_NAME_WORDS = {"name": None, "nombre": "es"}
_EMAIL_WORDS = {"email": None, "e mail": None, "correo": "es"}
_ZIP_WORDS = {"zip": None, "zipcode": None, "zip code": None, "codigo postal": "es"}
_ADDRESS_WORDS = {"address": "en", "my address": "en", "direccion": "es", "mi direccion": "es"}

# What may join NAME to the name: "Name is Maria", "Name's Maria", "nombre es María", "NAME: Maria".
_NAME_LEAD_IN = re.compile(r"^[^\w'’]*(?:['’]s\b|(?:is|es)\b)?", re.IGNORECASE)


def _leading_filler(words: list[str]) -> int:
    """How many of the first words are courtesy before a keyword ("please", "ok", "por favor")."""
    n = 0
    while n < min(len(words), MAX_LEADING) and words[n] in LEADING_FILLER:
        n += 1
    return n


def _opt_out_word(words: list[str], start: int) -> str | None:
    """The opt-out keyword (one or two words) at `words[start]`, or None."""
    for size in (2, 1):
        head = " ".join(words[start : start + size])
        hit = _WORDS.get(head) if len(words) >= start + size else None
        if hit is not None and hit[0] == Intent.OPT_OUT:
            return head
    return None


def _only_filler(words: list[str]) -> bool:
    """True when `words` add nothing to an opt-out keyword: filler, or the keyword again."""
    i = 0
    while i < len(words):
        again = _opt_out_word(words, i)
        if again is None and words[i] not in FILLER:
            return False
        i += len(again.split()) if again else 1
    return True


def _bare_opt_out(words: list[str]) -> str | None:
    """The keyword of an opt-out keyword with only filler around it: "STOP please", "stop texting
    me now", "Please STOP", "ok stop", "por favor ALTO", "STOP STOP"."""
    start = _leading_filler(words)
    keyword = _opt_out_word(words, start)
    if keyword is None or not _only_filler(words[start + len(keyword.split()) :]):
        return None
    return keyword


# One shift number, or up to five joined by spaces, commas, "and", "&" or "y" (folded away but
# for the words): "1", "1 2", "1 and 2", "1 y 2".
_NUMBERS = r"[0-9]+(?:(?: and| y)? [0-9]+){0,4}"
# Courtesy that may follow YES 12 or DROP 12 without changing it ("yes 2 please", "drop 3 thanks").
_TRAILING_COURTESY = frozenset(
    ["please", "pls", "plz", "thanks", "thank", "you", "thx", "ty", "por", "favor", "gracias"]
)


def _courtesy_off(words: list[str]) -> str:
    """The words without the courtesy around them ("please YES 12 thank you" -> "yes 12")."""
    end = len(words)
    while end > 0 and words[end - 1] in _TRAILING_COURTESY:
        end -= 1
    return " ".join(words[_leading_filler(words[:end]) : end])


def _numbers_arg(numbers: str | None) -> str | None:
    """ "1 and 2" -> "1 2": the arg of a YES or DROP, shift numbers joined by spaces."""
    return " ".join(re.findall(r"[0-9]+", numbers)) if numbers else None


def _with_arg(folded: str, table: dict[str, str | None]) -> tuple[str, str | None, int] | None:
    """(keyword, language, words) when `folded` starts with one of `table`'s keywords."""
    for word, lang in sorted(table.items(), key=lambda kv: -len(kv[0])):
        if folded == word or folded.startswith(word + " "):
            return word, lang, len(word.split())
    return None


def parse(text: str) -> Parsed:
    """What a volunteer's text means, before knowing who sent it."""
    folded = fold(text or "")
    if not folded:
        return Parsed(Intent.OTHER, normalized=folded)

    hit = _WORDS.get(folded)
    if hit is not None:
        intent, lang = hit
        return Parsed(intent, keyword=folded.upper(), language=lang, normalized=folded)

    words = folded.split()
    if re.fullmatch(r"[1-9]", folded):  # "2", "#2", "2."; onboarding may still read it
        return Parsed(Intent.NUMBER, None, folded, None, folded)
    m = re.fullmatch(r"(vote|votar|voto) ?([0-9]{1,9})?(?: ([0-9]{1,9}))?", folded)
    if m:
        arg = " ".join(g for g in m.groups()[1:] if g) or None
        return Parsed(Intent.VOTE, "VOTE", arg, "es" if m.group(1) != "vote" else None, folded)
    # YES 12 / Y 12 / SIGNUP 12 / SI 12 (also "YES #12", "yes12", "yes 12 please", "YES 1, 2")
    core = _courtesy_off(words)
    m = re.fullmatch(rf"(yes|y|signup|sign up|si) ?({_NUMBERS})", core)
    if m:
        lang = _COMMIT_WORDS[m.group(1)]
        return Parsed(Intent.COMMIT, m.group(1).upper(), _numbers_arg(m.group(2)), lang, folded)
    m = re.fullmatch(rf"drop ?({_NUMBERS})?", core)
    if m:
        return Parsed(Intent.DROP, "DROP", _numbers_arg(m.group(1)), None, folded)
    if folded in ("signup", "sign up"):
        return Parsed(Intent.COMMIT, folded.upper(), None, "en", folded)
    named = _with_arg(folded, _NAME_WORDS)
    if named is not None:
        word, lang, n = named
        name = strip_edges(_NAME_LEAD_IN.sub("", after_keyword(text, n), count=1))
        return Parsed(Intent.NAME, word.upper(), name or None, lang, folded)
    emailed = _with_arg(folded, _EMAIL_WORDS)
    if emailed is not None:
        word, lang, n = emailed
        address = after_keyword(text, n).strip().lstrip(":").strip()  # as typed, not folded
        return Parsed(Intent.EMAIL, "EMAIL", address or None, lang, folded)
    zipped = _with_arg(folded, _ZIP_WORDS)
    if zipped is not None:
        word, lang, n = zipped
        zip_code = strip_edges(after_keyword(text, n))  # "02124-3301" as typed, not folded
        return Parsed(Intent.ZIP, word.upper(), zip_code or None, lang, folded)
    addressed = _with_arg(folded, _ADDRESS_WORDS)
    if addressed is not None:
        word, lang, n = addressed
        street = after_keyword(text, n).strip(" \t:,-")  # as typed: "12 Main St, Boston"
        return Parsed(Intent.ADDRESS, word.upper(), street or None, lang, folded)

    # An opt-out keyword with only filler around it: "STOP please", "Please STOP", "STOP STOP".
    keyword = _bare_opt_out(words)
    if keyword is not None:
        lang = _WORDS[keyword][1] or ("es" if SPANISH_HINT.search(folded) else None)
        return Parsed(Intent.OPT_OUT, keyword.upper(), None, lang, folded)
    for phrase in OPT_OUT_PHRASES:
        if phrase.search(folded):
            lang = "es" if SPANISH_HINT.search(folded) else "en"
            return Parsed(Intent.OPT_OUT, None, None, lang, folded)
    # "CANCEL 12": probably meant DROP 12; not an opt-out, but ask and tell the organizers.
    core = " ".join(words[_leading_filler(words) :])  # "please cancel 12" too
    m = re.fullmatch(r"(cancel|cancelar|stop|quit|end) ?([0-9]+)", core)
    if m:
        return Parsed(Intent.MAYBE_OPT_OUT, m.group(1).upper(), m.group(2), None, folded)
    if MAYBE_OPT_OUT.search(folded):
        lang = "es" if SPANISH_HINT.search(folded) else None
        return Parsed(Intent.MAYBE_OPT_OUT, None, None, lang, folded)
    return Parsed(Intent.OTHER, normalized=folded)
