"""Fields in messages: `{first_name}`, `{rep}`, `{rep_phone}` ... and fallbacks
(`{first_name|friend}`), filled in for each recipient.

A field is a name in braces, optionally with `|` and the words to use when the recipient has no
value; only names of the form `{word}` or `{word|...}` are fields, other braces are text. An
unknown name is refused (`check_fields`) with the list of known ones. `render` gives the text for
one recipient, or None when a field has no value and no fallback: that recipient is left out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from handlers.errors import InvalidInput

# Name -> what it is, in the order the known ones are listed.
FIELDS: dict[str, str] = {
    "first_name": "the volunteer's first name",
    "zip": "their ZIP code",
    "chapter": "their chapter's name",
    "rep": "their state representative",
    "rep_phone": "the state representative's office number",
    "senator": "their state senator",
    "senator_phone": "the state senator's office number",
    "us_rep": "their US representative",
    "us_rep_phone": "the US representative's office number",
}
# Fields that need the volunteer's district in a chamber (and the legislators directory).
CHAMBER_OF = {
    "rep": "sldl",
    "rep_phone": "sldl",
    "senator": "sldu",
    "senator_phone": "sldu",
    "us_rep": "cd",
    "us_rep_phone": "cd",
}
_FIELD = re.compile(r"\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\|([^{}]*))?\}")


@dataclass(frozen=True, slots=True)
class Template:
    """A message split into literal text and fields: (text, None, None) or ("", name, fallback)."""

    parts: tuple[tuple[str, str | None, str | None], ...]

    @property
    def names(self) -> frozenset[str]:
        return frozenset(name for _, name, _ in self.parts if name)

    @property
    def has_fields(self) -> bool:
        return bool(self.names)

    def render(self, values: Mapping[str, str | None]) -> str | None:
        out: list[str] = []
        for text, name, fallback in self.parts:
            if name is None:
                out.append(text)
                continue
            value = values.get(name)
            if not value:
                if fallback is None:
                    return None
                value = fallback
            out.append(value)
        return "".join(out)

    def missing(self, values: Mapping[str, str | None]) -> list[str]:
        """The fields without a value or fallback for these values."""
        return [n for _, n, f in self.parts if n and f is None and not values.get(n)]


@lru_cache(maxsize=256)
def template(text: str) -> Template:
    parts: list[tuple[str, str | None, str | None]] = []
    at = 0
    for m in _FIELD.finditer(text):
        if m.start() > at:
            parts.append((text[at : m.start()], None, None))
        fallback = m.group(2)
        parts.append(("", m.group(1).lower(), fallback.strip() if fallback is not None else None))
        at = m.end()
    if at < len(text):
        parts.append((text[at:], None, None))
    return Template(tuple(parts))


def has_fields(text: str | None) -> bool:
    return bool(text) and _FIELD.search(text or "") is not None


def known_fields() -> str:
    return ", ".join("{" + name + "}" for name in FIELDS)


def check_fields(text: str, *, key: str = "message") -> None:
    """InvalidInput (keyed by the form's field) for a field name Muster does not know."""
    unknown = sorted(template(text).names - set(FIELDS))
    if unknown:
        names = ", ".join("{" + n + "}" for n in unknown)
        word = "field" if len(unknown) == 1 else "fields"
        raise InvalidInput(
            {key: f"I don't know the {word} {names}. The fields are: {known_fields()}"}
        )


def render(text: str, values: Mapping[str, str | None]) -> str | None:
    return template(text).render(values)
