"""`/muster chapter add SLUG name="..." zips=... [leaders=...] [channel=...]`, `chapters`, and
`chapter SLUG [move=PHONE,PHONE]`: the chapters, who leads them, who is in them.

`chapter add` creates a chapter or changes an existing one (only what it is given); the
volunteers of its ZIPs who are in no chapter yet join it. `chapter SLUG move=...` places
volunteers in it by hand (an organizer's placement: their ZIP no longer moves them). Chapter
leaders may read `chapters` and their own `chapter SLUG`; changing chapters is for organizers.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from handlers import chapters, views
from handlers.audiences import reachable
from handlers.config import OrgConfig
from handlers.errors import MusterError, UsageError
from handlers.messages import OrganizerCommand
from handlers.organizer.parsing import SMART_QUOTES, USAGE, no_args, parse_pairs, usage_error
from handlers.organizer.rights import OutsideChapter, refuse, scope_for
from handlers.phones import display, to_e164
from handlers.ports import Clock
from handlers.results import Result
from storage.audit import audit
from storage.chapters import (
    Chapter,
    ChapterSource,
    VolunteerChapter,
    all_chapters,
    chapter_by_slug,
    chapter_leaders,
    chapter_zips,
)
from storage.models import Commitment, InboundMessage, Volunteer
from storage.uow import UnitOfWork

ACTIVE_DAYS = 30
MAX_ZIPS = 500
MAX_MOVES = 50
_MENTION = re.compile(r"<[@#]([A-Za-z0-9]+)(?:\|[^>]*)?>")


def add_chapter(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    slug_text, _, rest = cmd.args.strip().partition(" ")
    if not slug_text or "=" in slug_text:
        raise usage_error(USAGE["chapter add"], "start with the chapter's slug")
    try:
        slug = chapters.check_slug(slug_text)
    except UsageError as exc:
        raise usage_error(USAGE["chapter add"], exc.message.rstrip(".")) from None
    values = parse_pairs(
        rest, usage_of="chapter add", allowed=("name", "zips", "leaders", "channel")
    )
    spec = chapters.ChapterSpec(
        slug=slug,
        name=values.get("name") or None,
        zips=_zips(values["zips"]) if "zips" in values else None,
        leaders=_ids(values["leaders"], chapters.SLACK_USER, "leaders", "U123")
        if "leaders" in values
        else None,
        channel=_channel(values["channel"]) if "channel" in values else None,
    )
    now = clock.now()
    with uow:
        saved = chapters.save_chapter(uow.session, spec, by=cmd.user_id, now=now)
        audit(
            uow.session,
            actor=cmd.user_id,
            action="chapter.add" if saved.created else "chapter.change",
            target=f"chapter:{slug}",
            detail={k: v for k, v in values.items()},
            at=now,
        )
        uow.session.flush()
        line = _lines(uow.session, [saved.chapter], now=now)[0]
        uow.commit()
    did = "Added" if saved.created else "Changed"
    note = f"{did} chapter {line.name} (`chapter:{slug}`)."
    if saved.joined:
        note += f" {saved.joined:,} volunteers in its ZIPs joined it."
    if saved.left:
        note += f" {saved.left:,} who had joined by a ZIP it no longer covers left it."
    view = views.ChaptersView(rows=(line,), detail=True, note=note)
    return Result(view=view, intent="chapter.add")


def list_chapters(
    cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock
) -> Result:
    no_args(cmd)
    with uow:
        rows = _lines(uow.session, all_chapters(uow.session), now=clock.now())
    return Result(view=views.ChaptersView(rows=tuple(rows)), intent="chapters")


def show_chapter(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    """`chapter SLUG` shows it; `chapter SLUG move=PHONE,...` (organizers) places volunteers."""
    slug_text, _, rest = cmd.args.strip().partition(" ")
    if not slug_text:
        raise usage_error(USAGE["chapter"], "name the chapter")
    slug = chapters.check_slug(slug_text)
    moves = parse_pairs(rest, usage_of="chapter", allowed=("move",)).get("move")
    scope = scope_for(cmd.user_id, uow=uow, org=org)
    if not scope.whole and (moves is not None or slug not in scope.slugs):
        what = f"chapter {slug}" + (" move" if moves is not None else "")
        refuse(cmd.user_id, what, uow=uow, clock=clock)
        raise OutsideChapter(
            f"You lead {scope.names}: you can see your own chapter"
            + (", and organizers move volunteers between chapters." if moves else ".")
        )
    now = clock.now()
    with uow:
        chapter = chapter_by_slug(uow.session, slug)
        if chapter is None:
            known = ", ".join(c.slug for c in all_chapters(uow.session)) or "none yet"
            raise MusterError(f"There is no chapter {slug!r} (chapters: {known}).")
        note = None
        if moves is not None:
            note = _move(uow.session, chapter, moves, by=cmd.user_id, now=now)
        line = _lines(uow.session, [chapter], now=now)[0]
        uow.commit()
    view = views.ChaptersView(rows=(line,), detail=True, note=note)
    return Result(view=view, intent="chapter.move" if moves else "chapter")


def _move(session: Session, chapter: Chapter, moves: str, *, by: str, now: datetime) -> str:
    phones = [p for p in (x.strip() for x in moves.split(",")) if p]
    if not phones or len(phones) > MAX_MOVES:
        raise usage_error(USAGE["chapter"], f"move= takes 1 to {MAX_MOVES} phone numbers")
    moved, unknown = [], []
    for raw in phones:
        phone = to_e164(raw)
        if phone is None:
            raise usage_error(USAGE["chapter"], f"{raw} is not a valid phone number")
        volunteer_id = session.scalar(select(Volunteer.id).where(Volunteer.phone == phone))
        if volunteer_id is None:
            unknown.append(display(phone))
            continue
        if chapters.place(
            session, volunteer_id, chapter, source=ChapterSource.ORGANIZER, by=by, now=now
        ):
            audit(
                session,
                actor=by,
                action="chapter.move",
                target=f"volunteer:{volunteer_id}",
                detail={"chapter": chapter.slug},
                at=now,
            )
        moved.append(volunteer_id)
    note = f"{len(moved)} volunteer{'s' if len(moved) != 1 else ''} now in {chapter.name}."
    if unknown:
        note += f" No volunteer has the number {', '.join(unknown)}."
    return note


def _lines(session: Session, found: list[Chapter], *, now: datetime) -> list[views.ChapterLine]:
    ids = [c.id for c in found]
    if not ids:
        return []
    members = dict(
        session.execute(
            select(VolunteerChapter.chapter_id, func.count())
            .join(Volunteer, Volunteer.id == VolunteerChapter.volunteer_id)
            .where(VolunteerChapter.chapter_id.in_(ids), reachable())
            .group_by(VolunteerChapter.chapter_id)
        ).all()
    )
    since = now - timedelta(days=ACTIVE_DAYS)
    texted = select(InboundMessage.volunteer_id.label("vid")).where(
        InboundMessage.received_at >= since, InboundMessage.volunteer_id.is_not(None)
    )
    signed = select(Commitment.volunteer_id.label("vid")).where(Commitment.created_at >= since)
    recent = texted.union(signed).subquery()
    active = dict(
        session.execute(
            select(VolunteerChapter.chapter_id, func.count(distinct(VolunteerChapter.volunteer_id)))
            .join(recent, recent.c.vid == VolunteerChapter.volunteer_id)
            .join(Volunteer, Volunteer.id == VolunteerChapter.volunteer_id)
            .where(VolunteerChapter.chapter_id.in_(ids), reachable())
            .group_by(VolunteerChapter.chapter_id)
        ).all()
    )
    return [
        views.ChapterLine(
            slug=c.slug,
            name=c.name,
            zips=tuple(chapter_zips(session, c.id)),
            leaders=tuple(chapter_leaders(session, c.id)),
            channel=c.channel_id,
            volunteers=int(members.get(c.id, 0)),
            active=int(active.get(c.id, 0)),
        )
        for c in found
    ]


def _split(text: str) -> list[str]:
    return [p for p in (x.strip() for x in text.translate(SMART_QUOTES).split(",")) if p]


def _zips(text: str) -> tuple[str, ...]:
    zips = _split(text)
    bad = [z for z in zips if not (len(z) == 5 and z.isdigit())]
    if bad:
        raise usage_error(USAGE["chapter add"], f"{bad[0]} is not a 5-digit ZIP code")
    if len(zips) > MAX_ZIPS:
        raise usage_error(USAGE["chapter add"], f"at most {MAX_ZIPS} ZIPs a chapter")
    return tuple(dict.fromkeys(zips))


def _slack_id(text: str) -> str:
    """`U123`, or Slack's own mention forms `<@U123>`, `<@U123|ana>`, `<#C123|needham>`."""
    match = _MENTION.fullmatch(text.strip())
    return (match.group(1) if match else text.strip()).upper()


def _ids(text: str, pattern: re.Pattern[str], what: str, example: str) -> tuple[str, ...]:
    found = [_slack_id(x) for x in _split(text)]
    bad = [x for x in found if not pattern.match(x)]
    if bad:
        raise usage_error(
            USAGE["chapter add"], f"{what}: {bad[0]} is not a Slack id like {example}"
        )
    return tuple(dict.fromkeys(found))


def _channel(text: str) -> str:
    """A channel id (C123), or empty to take the chapter's channel away."""
    text = _slack_id(text) if text.strip() else ""
    if text and not chapters.SLACK_CHANNEL.match(text):
        raise usage_error(
            USAGE["chapter add"], f"channel: {text} is not a Slack channel id like C123"
        )
    return text
