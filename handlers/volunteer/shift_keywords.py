"""The shift keywords: SHIFTS (the open shifts, nearest first), YES N (sign up, or join the
waitlist), DROP N, MY (my shifts) and C (confirm the shift a reminder asked about). YES and DROP
take up to five numbers at once ("YES 1, 2"): each is done as if texted alone, and the answer is
a line for each."""

from __future__ import annotations

from collections.abc import Callable

from handlers import (
    action_network_writes,
    mobilize_writes,
    shift_lists,
    shifts,
    sms_fitting,
    sms_text,
)
from handlers.shifts import CommitStatus, DropStatus
from handlers.volunteer.turn import MAX_SEGMENTS, Answer, Turn, who
from storage.models import Commitment, CommitmentStatus, Shift, ShiftSource, Volunteer


def list_shifts(t: Turn) -> Answer:
    v = t.volunteer
    assert v is not None
    nearest = t.batch.nearest_open_shifts(t.session, t.now, v.zip)
    own = shift_lists.open_shifts_in_districts(
        t.session, now=t.now, districts=list(t.batch.districts_of(t.session, v.id).values())
    )
    # The volunteer's own districts' shifts first, then the nearest (five in all).
    seen = {s.id for s in own}
    found = (own + [s for s in nearest if s.id not in seen])[: max(len(nearest), len(own))]
    if not found:
        return t.say("no_shifts"), "shifts"
    lines = [
        f"{sms_text.shift_line(s, t.zone, t.lang)} ({t.say('spots_left', k=s.spots_left)})"
        for s in found
    ]
    head, foot = t.say("shifts_header"), t.say("shifts_footer", n=found[0].id)
    if not v.zip:  # soonest first: their ZIP would put the nearest first
        foot += t.say("shifts_zip_hint")
    return sms_fitting.fit_list(head, lines, foot, MAX_SEGMENTS), "shifts"


def commit(t: Turn) -> Answer:
    v, numbers = t.volunteer, t.parsed.numbers
    assert v is not None
    if not numbers:
        return t.say("which_shift", word="YES"), "commit"
    return _each(t, v, numbers, _commit_one, footer="many_commit_footer", intent="commit_many")


def _each(
    t: Turn,
    v: Volunteer,
    numbers: tuple[int, ...],
    one: Callable[..., tuple[str, str]],
    *,
    footer: str,
    intent: str,
) -> Answer:
    """YES / DROP for each number, in order: one number's own answer, or a line for each."""
    if len(numbers) == 1:
        return one(t, v, numbers[0], many=False)
    lines = [one(t, v, n, many=True)[0] for n in numbers]
    return sms_fitting.fit_list(t.say("many_header"), lines, t.say(footer), MAX_SEGMENTS), intent


def _say(t: Turn, key: str, many: bool, **values: object) -> str:
    """A shift keyword's answer, or (`many`) its line among several numbers' (`many_` + key)."""
    return t.say(f"many_{key}" if many else key, **values)


def _commit_one(t: Turn, v: Volunteer, n: int, *, many: bool) -> tuple[str, str]:
    """Sign up for shift n: the reply (or, for one of several numbers, its line) and intent."""
    out = shifts.commit_to_shift(
        t.session, volunteer=v, shift_id=n, now=t.now, channel=str(t.msg.channel)
    )
    if out.status == CommitStatus.COMMITTED:
        assert out.shift is not None
        t.batch.seat_taken(out.shift.id)
        _attend(t, out.shift, out.commitment, v)
        line = sms_text.shift_line(out.shift, t.zone, t.lang)
        return _say(t, "committed", many, shift=line, n=n), "commit"
    if out.status == CommitStatus.WAITLISTED:
        assert out.commitment is not None
        rank = shifts.waitlist_rank(t.session, out.commitment)
        return _say(t, "waitlisted", many, n=n, rank=rank), "waitlist"
    if out.status == CommitStatus.ALREADY:
        assert out.commitment is not None
        if out.commitment.status == CommitmentStatus.WAITLISTED:
            rank = shifts.waitlist_rank(t.session, out.commitment)
            return _say(t, "already_waitlisted", many, n=n, rank=rank), "commit_already"
        return _say(t, "already_committed", many, n=n), "commit_already"
    key = {
        CommitStatus.PAST: "past_shift",
        CommitStatus.CANCELLED: "cancelled_shift",
    }.get(out.status, "unknown_shift")
    return _say(t, key, many, n=n), f"commit_{out.status}"


def _attend(t: Turn, shift: Shift, commitment: Commitment | None, volunteer: Volunteer) -> None:
    """A seat on a Mobilize shift is written back to Mobilize (by the clock, later); a volunteer
    without an email is asked once for one. A seat on a shift tied to an Action Network event is
    recorded there as an attendance."""
    if commitment is None:
        return
    if shift.action_network_event_id:
        action_network_writes.enqueue_attendance(
            t.session, volunteer=volunteer, shift=shift, commitment=commitment, now=t.now
        )
    if shift.source != ShiftSource.MOBILIZE:
        return
    t.sms.extend(
        mobilize_writes.enqueue_attendance(
            t.session, volunteer=volunteer, shift=shift, commitment=commitment, now=t.now
        )
    )


def drop(t: Turn) -> Answer:
    v, numbers = t.volunteer, t.parsed.numbers
    assert v is not None
    if not numbers:  # "DROP": which of their shifts? (listed, as MY does)
        mine = shifts.my_commitments(t.session, volunteer=v, now=t.now)
        if not mine:
            return t.say("my_none"), "drop"
        lines = [_my_line(t, c) for c in mine]
        foot = t.say("which_drop_footer", n=mine[0].shift_id)
        return sms_fitting.fit_list(t.say("which_drop_header"), lines, foot, MAX_SEGMENTS), "drop"
    return _each(t, v, numbers, _drop_one, footer="many_drop_footer", intent="drop_many")


def _drop_one(t: Turn, v: Volunteer, n: int, *, many: bool) -> tuple[str, str]:
    """Leave shift n: the reply (or, for one of several numbers, its line) and intent."""
    out = shifts.drop_commitment(
        t.session, volunteer=v, shift_id=n, now=t.now, org_name=t.org.org_name
    )
    if out.status == DropStatus.UNKNOWN:
        return _say(t, "unknown_shift", many, n=n), "drop_unknown"
    if out.status == DropStatus.NOT_SIGNED_UP:
        return _say(t, "drop_not_signed_up", many, n=n), "drop_not_signed_up"
    if out.status == DropStatus.PAST:
        return _say(t, "drop_past", many, n=n), "drop_past"
    t.sms.extend(out.sms)
    assert out.shift is not None and out.commitment is not None
    if out.shift.source == ShiftSource.MOBILIZE:
        mobilize_writes.enqueue_cancellation(t.session, commitment=out.commitment, now=t.now)
    if out.shift.action_network_event_id:
        action_network_writes.drop_attendance(t.session, commitment=out.commitment)
    if out.promoted is not None:
        _attend(t, out.shift, out.promoted, out.promoted.volunteer)
    if out.was in shifts.SEATED and out.promoted is None:
        t.batch.seat_freed(out.shift.id)
    if out.was == CommitmentStatus.WAITLISTED:
        return _say(t, "dropped_waitlist", many, n=n), "drop"
    title = sms_text.shift_line(out.shift, t.org.default_timezone, "en")
    note = f"dropped {title}"
    if out.promoted is not None:
        note += f"; {who(out.promoted.volunteer)} moved up from the waitlist"
    t.post("drop", note)
    return _say(t, "dropped", many, n=n), "drop"


def my_shifts(t: Turn) -> Answer:
    v = t.volunteer
    assert v is not None
    mine = shifts.my_commitments(t.session, volunteer=v, now=t.now)
    if not mine:
        return t.say("my_none"), "my"
    lines = [_my_line(t, c) for c in mine]
    return sms_fitting.fit_list(t.say("my_header"), lines, "", MAX_SEGMENTS), "my"


def _my_line(t: Turn, c: Commitment) -> str:
    """`#12 Sat 11/21 10am Canvass (waitlist #2)`: a commitment as MY lists it."""
    line = sms_text.shift_line(c.shift, t.zone, t.lang)
    if c.status == CommitmentStatus.WAITLISTED:
        rank = shifts.waitlist_rank(t.session, c)
        line += f" ({t.say('my_waitlist', rank=rank)})"
    elif c.status == CommitmentStatus.CONFIRMED:
        line += f" ({t.say('my_confirmed')})"
    return line


def confirm(t: Turn) -> Answer:
    v = t.volunteer
    assert v is not None
    c = shifts.confirm_next_reminded(t.session, volunteer=v, now=t.now)
    if c is None:
        return t.say("nothing_to_confirm"), "confirm_none"
    line = sms_text.shift_line(c.shift, t.zone, t.lang)
    return t.say("confirmed", shift=line), "confirm"
