"""Why a broadcast's (or a ballot's) preview reaches nobody, in words an organizer can act on.

A tag no volunteer has is most often a typo (`tag:phonebanking` for `tag:phonebank`): the
preview names the tags in use and the nearest one. It is a warning, not a refusal: a schedule
may be made ahead for a tag that volunteers will be given later.
"""

from __future__ import annotations

import difflib

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from handlers.audiences import Audience
from storage.models import Volunteer, VolunteerTag

SHOWN_TAGS = 12


def nobody_reason(session: Session, audience: Audience) -> str:
    """The warning for a preview with no recipient."""
    for part in audience.terms:
        if part.kind == "members" and not _any_member(session):
            return (
                "No volunteer is a member yet: `member PHONE since=YYYY-MM-DD` makes one, and a "
                "volunteers import takes a `member_since` column."
            )
        if part.kind != "tag" or _has_tag(session, part.value):
            continue
        in_use = _tags_in_use(session)
        if not in_use:
            return f"No volunteer has the tag {part.value!r}: no volunteer has any tag yet."
        near = difflib.get_close_matches(part.value, in_use, n=1, cutoff=0.6)
        mean = f" Did you mean tag:{near[0]}?" if near else ""
        shown = ", ".join(in_use[:SHOWN_TAGS]) + (", ..." if len(in_use) > SHOWN_TAGS else "")
        return f"No volunteer has the tag {part.value!r}.{mean} Tags in use: {shown}."
    return (
        f"Nobody in {audience} can be texted now: no volunteer matches, or those who do have "
        "opted out. Nothing would be sent."
    )


def _any_member(session: Session) -> bool:
    found = select(Volunteer.id).where(Volunteer.member_since.is_not(None)).limit(1)
    return session.scalar(found) is not None


def _has_tag(session: Session, tag: str) -> bool:
    found = select(VolunteerTag.volunteer_id).where(func.lower(VolunteerTag.tag) == tag).limit(1)
    return session.scalar(found) is not None


def _tags_in_use(session: Session) -> list[str]:
    """Every tag volunteers have, the most used first."""
    tag = func.lower(VolunteerTag.tag)
    rows = session.execute(
        select(tag, func.count()).group_by(tag).order_by(func.count().desc(), tag)
    ).all()
    return [name for name, _ in rows]
