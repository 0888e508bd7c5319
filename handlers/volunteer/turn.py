"""One inbound text being answered: the `Turn` every keyword's function is given.

A keyword's function takes the turn and returns its `Answer` (the reply, or None for no reply,
and the intent the inbound row is stored with), or None when the text is not for it after all
(then it is handled as free text). It changes the volunteer's own columns with `Turn.update`,
leaves posts for the organizers with `Turn.post`, and texts for others in `Turn.sms`; how all
that is written, alone or in a batch, is `handlers.volunteer.receive`'s business.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from handlers import geo, shift_lists, sms_text
from handlers.config import OrgConfig
from handlers.keywords import Parsed, parse
from handlers.messages import InboundText
from handlers.phones import masked
from handlers.results import InboxPost, OutboundSms
from handlers.segments import count_segments
from storage.models import CtaResponse, Volunteer

Answer = tuple[str | None, str]  # (the reply or None, the intent stored with the text)
MAX_SEGMENTS = 3


class Batch(Protocol):
    """What answering a text asks of the texts answered with it (`receive._Batch`, or
    `receive._Alone` for a text on its own)."""

    def nearest_open_shifts(
        self, session: Session, now: datetime, near_zip: str | None
    ) -> list[shift_lists.OpenShift]: ...

    def districts_of(self, session: Session, volunteer_id: int) -> dict[str, str]:
        """`handlers.districts.districts_of`, for a turn that reads them before it changes them."""
        ...

    def seat_taken(self, shift_id: int) -> None: ...

    def seat_freed(self, shift_id: int) -> None: ...

    def joined(self, volunteer: Volunteer) -> None: ...

    def answered(self, volunteer: Volunteer | None) -> None: ...

    def write(self, session: Session) -> None: ...


@dataclass
class Turn:
    """One inbound text being answered, inside its transaction (maybe one of a batch's)."""

    session: Session
    msg: InboundText
    org: OrgConfig
    now: datetime
    batch: Batch
    volunteer: Volunteer | None = None
    parsed: Parsed = field(default_factory=lambda: parse(""))
    lang: str = "en"
    posts: list[InboxPost] = field(default_factory=list)
    sms: list[OutboundSms] = field(default_factory=list)
    flagged: bool = False
    cta: CtaResponse | None = None  # a YES/NO answer, linked to the inbound row once stored
    changes: dict[str, object] = field(default_factory=dict)  # the volunteer's columns (`update`)

    def update(self, **values: object) -> None:
        """Change the volunteer's own columns: at once on the object, and in the database by one
        Core UPDATE when the turn ends (for a batch, one per volunteer when the batch writes)
        rather than by a flush of the ORM's unit of work for each text, which costs five times
        as much."""
        v = self.volunteer
        assert v is not None and v.id is not None
        for key, value in values.items():
            set_committed_value(v, key, value)
        self.changes.update(values)

    def say(self, key: str, **values: object) -> str:
        return sms_text.say(key, self.lang, **values)

    @property
    def zone(self) -> str:
        v = self.volunteer
        return (v.timezone if v is not None and v.timezone else None) or self.org.default_timezone

    def post(self, kind: str, note: str) -> None:
        """A post for the organizers' inbox: who (name and masked number), what, and the text."""
        v = self.volunteer
        sender = who(v) if v is not None else f"Unknown number {masked(self.msg.phone)}"
        body = storable(self.msg.text.strip())
        lines = [f"{sender}: {note}" if note else f"{sender}:"]
        if body and kind in ("inbox", "flagged", "optout"):
            lines.append("> " + body.replace("\n", "\n> "))
        self.posts.append(
            InboxPost(kind=kind, text="\n".join(lines), volunteer_id=v.id if v else None)
        )


def storable(text: str) -> str:
    """PostgreSQL text cannot hold NUL; keep a visible mark of it instead of failing."""
    return text.replace("\x00", "\ufffd")


def who(v: Volunteer) -> str:
    name = v.first_name or "New volunteer"
    return f"{name} ({masked(v.phone)})"


def place(zip5: str) -> str:
    info = geo.zip_info(zip5)
    return f"{zip5} {info.city.title()}, {info.state}" if info else zip5


def shown(text: str) -> str:
    """A wrong ZIP echoed back, kept short and plain."""
    text = " ".join(text.split())
    return text if len(text) <= 12 and count_segments(text).encoding == "gsm7" else "that"
