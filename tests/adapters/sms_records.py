"""What the SMS route tests read back between texts (the `db` fixture of tests/adapters/conftest.py
is their session): a number's volunteer, its consent ledger, the posts for the organizers; and the
organization's name, which the replies carry."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import ConsentEvent, SlackPost, Volunteer
from tests.adapters.sms_phone import Phone

ORG = "Mass Forward"


def volunteer_of(db, phone: Phone) -> Volunteer | None:
    with db() as s:
        v = s.scalars(select(Volunteer).where(Volunteer.phone == phone.number)).first()
        if v is not None:
            _ = v.tag_names
        return v


def ledger(db, phone: Phone) -> list[tuple[str, str | None]]:
    with db() as s:
        rows = s.scalars(
            select(ConsentEvent).where(ConsentEvent.phone == phone.number).order_by(ConsentEvent.id)
        ).all()
        return [(str(e.action), e.keyword) for e in rows]


def posts(db, kind: str | None = None) -> list[SlackPost]:
    with db() as s:
        q = select(SlackPost).order_by(SlackPost.id)
        if kind:
            q = q.where(SlackPost.kind == kind)
        return list(s.scalars(q))
