"""`/muster member PHONE since=YYYY-MM-DD|none`: make a volunteer a member (who may vote) from a
day, correct the day, or end the membership. Imports set it too (the `member_since` column)."""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import select

from handlers import views
from handlers.config import OrgConfig
from handlers.errors import MusterError
from handlers.messages import OrganizerCommand
from handlers.organizer.display import volunteer_name
from handlers.organizer.parsing import USAGE, parse_pairs, usage_error
from handlers.phones import display, masked, to_e164
from handlers.ports import Clock
from handlers.results import Result
from storage.audit import audit
from storage.models import Volunteer
from storage.uow import UnitOfWork


def parse_member_since(text: str) -> date | None:
    """`2025-03-01` -> that day; `none` (or empty) -> not a member. ValueError otherwise."""
    text = (text or "").strip()
    if text.lower() in ("", "none", "no", "-"):
        return None
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise ValueError(text)
    return date.fromisoformat(text)


def set_member(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    phone_text, _, rest = cmd.args.strip().partition(" ")
    phone = to_e164(phone_text)
    if phone is None:
        reason = f"{phone_text} is not a valid phone number" if phone_text else "missing PHONE"
        raise usage_error(USAGE["member"], reason)
    values = parse_pairs(rest, usage_of="member", allowed=("since",), required=("since",))
    try:
        since = parse_member_since(values["since"])
    except ValueError:
        raise usage_error(USAGE["member"], "since= takes YYYY-MM-DD, or none") from None
    now = clock.now()
    with uow:
        volunteer = uow.session.scalar(select(Volunteer).where(Volunteer.phone == phone))
        if volunteer is None:
            raise MusterError(f"No volunteer has the number {display(phone)}.")
        before = volunteer.member_since
        volunteer.member_since = since
        audit(
            uow.session,
            actor=cmd.user_id,
            action="member.set",
            target=masked(phone),
            detail={"from": before.isoformat() if before else None,
                    "to": since.isoformat() if since else None},
            at=now,
        )  # fmt: skip
        name = volunteer_name(volunteer)
        uow.commit()
    text = (
        f"{name} is a member since {since:%b %-d, %Y}; they may vote on ballots opening from then."
        if since
        else f"{name} is no longer a member (ballots already open keep their list of voters)."
    )
    return Result(view=views.NoticeView(text), intent="member.set")
