"""Who may run organizer commands, and over whom.

Organizers (`org.organizer_ids`) run every command over the whole organization. A chapter's
leaders (`/muster chapter add SLUG leaders=U123`) are organizers for their own chapter only: they
may run the commands in `LEADER_COMMANDS` (and press the buttons in `LEADER_ACTIONS`), and what
those commands see, find, export or text is their chapters' volunteers (`Scope`). Anything else,
and any attempt at another chapter's volunteers, is refused with a clear line and audited.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import ColumnElement, exists, true
from sqlalchemy.orm import Session, aliased

from handlers.audiences import Audience
from handlers.config import OrgConfig
from handlers.errors import MusterError, NotAnOrganizer
from handlers.ports import Clock
from storage.audit import audit
from storage.chapters import VolunteerChapter, led_chapters
from storage.models import Volunteer
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

# What a chapter leader may run; every other command is the whole organization's business.
LEADER_COMMANDS = frozenset(
    {"", "help", "shifts", "roster", "find", "broadcast", "export", "chapters", "chapter"}
)
LEADER_ACTIONS = frozenset(
    {"broadcast.submit", "broadcast.confirm", "broadcast.cancel", "broadcast.stop", "inbox.reply"}
)


class OutsideChapter(MusterError):
    """A chapter leader reached past their chapter (the message says what they may do)."""


@dataclass(frozen=True, slots=True)
class Scope:
    """Over whom an organizer acts: everyone (`chapters` is None), or their chapters' volunteers."""

    user_id: str
    chapters: tuple[tuple[int, str, str], ...] | None = None  # (id, slug, name)

    @property
    def whole(self) -> bool:
        return self.chapters is None

    @property
    def slugs(self) -> tuple[str, ...]:
        return tuple(slug for _, slug, _ in self.chapters or ())

    @property
    def names(self) -> str:
        return ", ".join(name for _, _, name in self.chapters or ())

    def volunteers(self) -> ColumnElement[bool]:
        """The SQL condition over `volunteers` of who this scope may see."""
        if self.chapters is None:
            return true()
        member = aliased(VolunteerChapter)  # the caller's query may join volunteer_chapters too
        return exists().where(
            member.volunteer_id == Volunteer.id,
            member.chapter_id.in_([cid for cid, _, _ in self.chapters]),
        )

    def audience(self, audience: Audience) -> Audience:
        """A leader's audience, kept inside their chapter: one naming another chapter is
        refused; one naming none gets their chapter added (`tag:canvass` ->
        `tag:canvass+chapter:needham`)."""
        if self.chapters is None:
            return audience
        named = [t.value for t in audience.terms if t.kind == "chapter"]
        outside = [slug for slug in named if slug not in self.slugs]
        if outside:
            raise OutsideChapter(
                f"You lead {self.names}: you can text your chapter's volunteers only, "
                f"not chapter:{outside[0]}."
            )
        if named:
            return audience
        if len(self.slugs) > 1:
            raise OutsideChapter(
                "You lead several chapters: say which, e.g. "
                f"`to={audience}+chapter:{self.slugs[0]}`."
            )
        mine = Audience("chapter", self.slugs[0])
        parts = (*(t for t in audience.terms if t.kind != "all"), mine)
        return parts[0] if len(parts) == 1 else Audience("and", parts=parts)


def scope_of(session: Session, user_id: str, org: OrgConfig) -> Scope | None:
    """The scope of an organizer or a chapter leader; None for anyone else."""
    if org.is_organizer(user_id):
        return Scope(user_id)
    led = led_chapters(session, user_id)
    if not led:
        return None
    return Scope(user_id, tuple((c.id, c.slug, c.name) for c in led))


def require_organizer(
    user_id: str, what: str, *, uow: UnitOfWork, org: OrgConfig, clock: Clock, leaders: bool = False
) -> Scope:
    """The caller's scope, or a refusal (audited). `leaders`: a chapter leader may do `what`."""
    if org.is_organizer(user_id):
        return Scope(user_id)
    with uow:
        scope = scope_of(uow.session, user_id, org)
    if scope is not None and leaders:
        return scope
    log.warning("refused organizer command %r from %s", what, user_id)
    refuse(user_id, what, uow=uow, clock=clock)
    if scope is not None:
        raise OutsideChapter(
            f"You lead {scope.names}: `{what}` is for the organization's organizers. "
            "As a chapter leader you can use: shifts, roster, find, broadcast, export, chapter."
        )
    raise NotAnOrganizer(user_id)


def refuse(user_id: str, what: str, *, uow: UnitOfWork, clock: Clock) -> None:
    """Audit a refusal in a transaction of its own (the command changes nothing)."""
    with uow:
        audit(uow.session, actor=user_id, action="denied", target=what[:120], at=clock.now())
        uow.commit()


def scope_for(cmd_user: str, *, uow: UnitOfWork, org: OrgConfig) -> Scope:
    """The scope of a caller already let through (`require_organizer`)."""
    if org.is_organizer(cmd_user):
        return Scope(cmd_user)
    with uow:
        scope = scope_of(uow.session, cmd_user, org)
    return scope or Scope(cmd_user, ())
