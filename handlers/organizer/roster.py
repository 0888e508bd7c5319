"""`/muster roster N` (who is coming, the waitlist, attendance buttons) and `/muster signup N
PHONE` (an organizer signs a volunteer up).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select

from handlers import shifts, sms_text, views
from handlers.config import OrgConfig
from handlers.errors import MusterError, UnknownShift, UsageError
from handlers.messages import OrganizerAction, OrganizerCommand
from handlers.organizer.display import volunteer_name
from handlers.organizer.parsing import USAGE, one_number, usage_error
from handlers.organizer.rights import scope_for
from handlers.organizer.shifts import shift_lines
from handlers.phones import display, masked, to_e164
from handlers.ports import Clock
from handlers.results import OutboundSms, Result
from handlers.sending import record_effects
from handlers.shifts import CommitStatus, record_check_in
from storage.audit import audit
from storage.models import Commitment, CommitmentStatus, Shift, Volunteer, VolunteerStatus
from storage.uow import UnitOfWork

ROSTER_LIMIT = 40  # Block Kit allows 50 blocks a message; the rest is in the export

_COMING = (
    CommitmentStatus.COMMITTED,
    CommitmentStatus.CONFIRMED,
    CommitmentStatus.ATTENDED,
    CommitmentStatus.NO_SHOW,
)


def show_roster(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    shift_id = one_number(cmd.args, "roster")
    scope = scope_for(cmd.user_id, uow=uow, org=org)  # a chapter leader sees their chapter's
    with uow:
        shift = uow.session.get(Shift, shift_id)
        if shift is None:
            raise UnknownShift(shift_id)
        counts = {
            str(status): n
            for status, n in uow.session.execute(
                select(Commitment.status, func.count())
                .join(Volunteer, Volunteer.id == Commitment.volunteer_id)
                .where(Commitment.shift_id == shift_id, scope.volunteers())
                .group_by(Commitment.status)
            )
        }
        order = (
            Commitment.status == CommitmentStatus.WAITLISTED,
            Commitment.waitlist_position,
            Commitment.committed_at,
            Commitment.id,
        )
        rows = uow.session.execute(
            select(Commitment.id, Commitment.status, shifts.place_in_line(), Volunteer)
            .join(Volunteer, Volunteer.id == Commitment.volunteer_id)
            .where(
                Commitment.shift_id == shift_id,
                Commitment.status != CommitmentStatus.DROPPED,
                scope.volunteers(),
            )
            .order_by(*order)
            .limit(ROSTER_LIMIT)
        ).all()
        entries = tuple(
            views.RosterEntry(
                commitment_id=cid,
                name=volunteer_name(vol),
                phone=masked(vol.phone),
                status=str(status),
                waitlist_position=place if status == CommitmentStatus.WAITLISTED else None,
            )
            for cid, status, place, vol in rows
        )
        listed = sum(n for s, n in counts.items() if s != CommitmentStatus.DROPPED)
        view = views.RosterView(
            shift=shift_lines(uow.session, [shift], org)[0],
            entries=entries,
            counts=counts,
            attendance_open=clock.now() >= shift.starts_at,
            more=max(listed - len(entries), 0),
        )
    return Result(view=view, intent="roster")


def mark_attendance(attended: bool) -> Callable[..., Result]:
    def handler(
        action: OrganizerAction, *, uow: UnitOfWork, org: OrgConfig, clock: Clock
    ) -> Result:
        raw = action.values.get("commitment_id", "")
        if not raw.isdigit():
            raise UsageError("That button is out of date; run the roster again.")
        now = clock.now()
        with uow:
            commitment = uow.session.get(Commitment, int(raw))
            if commitment is None or commitment.status not in _COMING:
                raise MusterError("That volunteer is no longer on this shift's roster.")
            if now < commitment.shift.starts_at:
                raise MusterError("Attendance can be recorded once the shift has started.")
            before = str(commitment.status)
            record_check_in(commitment, attended=attended, now=now)
            status = str(commitment.status)
            audit(
                uow.session,
                actor=action.user_id,
                action=f"roster.{status}",
                target=f"commitment:{commitment.id}",
                detail={"shift_id": commitment.shift_id, "was": before},
                at=now,
            )
            view = views.AttendanceView(
                shift_id=commitment.shift_id,
                name=volunteer_name(commitment.volunteer),
                status=status,
            )
            uow.commit()
        return Result(view=view, intent=f"roster.{status}")

    return handler


# --- signup: an organizer signs a volunteer up ------------------------------------------------


def sign_up(cmd: OrganizerCommand, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    """The same sign-up as a volunteer's `YES N`, through `shifts.commit_to_shift`; the volunteer
    is told by text (the words the SMS side uses), through the outbox."""
    words = cmd.args.split(None, 1)
    if len(words) != 2:
        raise usage_error(USAGE["signup"], "give the shift number and the volunteer's phone number")
    shift_id = one_number(words[0], "signup")
    phone = to_e164(words[1])
    if phone is None:
        raise usage_error(USAGE["signup"], f"{words[1]} is not a valid phone number")
    now = clock.now()
    with uow:
        volunteer = uow.session.scalar(select(Volunteer).where(Volunteer.phone == phone))
        if volunteer is None:
            raise MusterError(
                f"No volunteer has the number {display(phone)}. They can text JOIN to sign up "
                "(Muster texts only people who asked for it)."
            )
        out = shifts.commit_to_shift(
            uow.session, volunteer=volunteer, shift_id=shift_id, now=now, channel="slack"
        )
        if out.status == CommitStatus.UNKNOWN:
            raise UnknownShift(shift_id)
        if out.status in (CommitStatus.PAST, CommitStatus.CANCELLED):
            state = "has already started" if out.status == CommitStatus.PAST else "was cancelled"
            raise MusterError(f"Shift {shift_id} {state}; nobody can sign up for it.")
        name = volunteer_name(volunteer)
        if out.status == CommitStatus.ALREADY:
            assert out.commitment is not None
            text = f"{name} is already on shift #{shift_id} ({out.commitment.status})."
            return Result(view=views.NoticeView(text), intent="signup.already")
        assert out.shift is not None and out.commitment is not None
        lang, zone = volunteer.language, volunteer.timezone or org.default_timezone
        if out.status == CommitStatus.COMMITTED:
            line = sms_text.shift_line(out.shift, zone, lang)
            words_sent = sms_text.say("committed", lang, shift=line, n=shift_id)
            text = f"{name} is signed up for shift #{shift_id}"
        else:
            rank = shifts.waitlist_rank(uow.session, out.commitment)
            words_sent = sms_text.say("waitlisted", lang, n=shift_id, rank=rank)
            text = f"Shift #{shift_id} is full: {name} is #{rank} on its waitlist"
        sms: tuple[OutboundSms, ...] = ()
        if volunteer.status == VolunteerStatus.ACTIVE:
            sms = (
                OutboundSms(
                    phone=phone,
                    body=f"{org.org_name}: {words_sent}",
                    kind="confirmation",
                    idempotency_key=f"signup:{out.commitment.id}:{now.timestamp():.0f}",
                    volunteer_id=volunteer.id,
                ),
            )
            text += " and will get a text."
        else:
            text += f"; they are {str(volunteer.status).replace('_', ' ')}, so no text was sent."
        audit(
            uow.session,
            actor=cmd.user_id,
            action="shift.signup",
            target=f"commitment:{out.commitment.id}",
            detail={"shift_id": shift_id, "status": out.status},
            at=now,
        )
        result = record_effects(uow.session, Result(sms=sms, view=views.NoticeView(text)))
        uow.commit()
    return Result(view=result.view, sms=result.sms, intent=f"signup.{out.status}")
