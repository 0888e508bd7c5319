"""Where every text a volunteer sends comes in, one at a time (`receive_text`) or several in one
transaction (`receive_texts`), and the one door of the inbound path's performance code.

One text, one transaction: the inbound row, whatever the text changed (consent, profile,
commitments) and the effects it caused (a promoted volunteer's text, posts for the organizers) all
commit together. The inbound row is unique by message id, so a webhook Twilio retries, even two
copies arriving at once, is acted on once: the copy that loses the race rolls back whatever it did
and answers with the reply stored by the one that won. What a text is answered is
`handlers.volunteer.dispatch`'s business; this module reads the sender and writes what the answer
left.

**The promise.** A batch gives exactly the same answers, and leaves exactly the same database
state, as answering its texts one at a time in the order they came; when it cannot commit whole,
its texts are answered one at a time. It is pinned by `tests/integration/test_inbound_batches.py`
(the same answers and rows, seats taken and freed within a batch, a repeated message id, a text
that fails, the database away) and by `tests/adapters/test_sms_route.py` (a hundred YES texts at
once through the route fill exactly the capacity); `python -m bench inbound_sms` measures it.

What makes it fast, all here but for two lines it calls:
- the senders of a batch read in one query (`_BY_PHONES`), a lone text's by one built once;
- a volunteer's own columns changed on the object with `set_committed_value` (`Turn.update`) and
  written by one Core UPDATE (`update_volunteers`, one executemany per set of columns), never by
  a flush of the ORM's unit of work;
- the inbound rows and posts of a batch written in one statement each (`_Batch.write`), and
  written early only before a query that reads them (a stranger's recent texts, a YES/NO's
  answer, which links to its inbound row);
- the open shifts read once for a batch and kept current as its texts take and free seats
  (`_Batch.nearest_open_shifts`, `seat_taken`, `seat_freed`);
- the districts of a batch's senders read in one query at its first SHIFTS, each used only for
  its sender's first text in the batch (`_Batch.districts_of`);
- a new commitment written by one Core INSERT and made persistent with
  `make_transient_to_detached` (`handlers.shifts._insert_commitment`, which every sign-up shares,
  so it stays beside `commit_to_shift`).
The threads that feed `receive_texts` are `bot.inbound_desk`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache

from sqlalchemy import Update, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload

from handlers import districts, shift_lists
from handlers.config import OrgConfig
from handlers.messages import InboundText
from handlers.ports import Clock
from handlers.results import InboxPost, Result
from handlers.sending import enqueue_posts, enqueue_sms, record_effects
from handlers.volunteer import dispatch
from handlers.volunteer.turn import Batch, Turn, storable
from storage.db import is_database_away
from storage.models import InboundMessage, Volunteer
from storage.uow import UnitOfWork

# Built once: the lookup every text starts with (tags are loaded only when onboarding needs them).
_BY_PHONE = select(Volunteer).where(Volunteer.phone == bindparam("phone")).options(lazyload("*"))
_BY_PHONES = (
    select(Volunteer)
    .where(Volunteer.phone.in_(bindparam("phones", expanding=True)))
    .options(lazyload("*"))
)
_INSERT_INBOUND = insert(InboundMessage.__table__)


def receive_text(msg: InboundText, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    """Record the text once (by its message id) and answer it. A repeat gets the same answer."""
    for attempt in range(2):
        try:
            with uow:
                result = _answer(uow.session, msg, org, now=msg.received_at or clock.now())
                uow.commit()
                return result
        except IntegrityError:
            # Another copy of this message (a Twilio retry, maybe arriving at the same moment)
            # was stored first: this copy's work was rolled back; answer as the first one did.
            with uow:
                stored = uow.session.execute(
                    select(InboundMessage.reply).where(InboundMessage.message_sid == msg.message_id)
                ).first()
            if stored is not None:
                return Result(reply=stored.reply, intent="duplicate")
            if attempt:
                raise
            # Else two first texts from a new number raced to create the volunteer: once more.
    raise AssertionError("unreachable")


def receive_texts(
    msgs: Sequence[InboundText], *, uow: UnitOfWork, org: OrgConfig, clock: Clock
) -> list[Result | Exception]:
    """Several texts answered in one transaction, each exactly as `receive_text` would answer
    it in turn (a group commit: under load, the web process's one SQLite writer takes every text
    waiting and commits them together). Each outcome is the text's `Result`, or the exception it
    raised.

    When the batch cannot commit whole (a repeated message id, a text that fails, a conflict
    with another writer), all of it is rolled back and every text is answered on its own, so one
    bad text costs the others nothing. When the database is away, every text gets that error
    (for the caller to keep them in the spool).
    """
    if len(msgs) > 1:
        try:
            with uow:
                batch = _Batch.reading(uow.session, msgs)
                results: list[Result | Exception] = [
                    _answer(uow.session, msg, org, now=msg.received_at or clock.now(), batch=batch)
                    for msg in msgs
                ]
                batch.write(uow.session)
                uow.commit()
                return results
        except Exception as exc:
            if is_database_away(exc):
                return [exc] * len(msgs)
    outcomes: list[Result | Exception] = []
    for msg in msgs:
        try:
            outcomes.append(receive_text(msg, uow=uow, org=org, clock=clock))
        except Exception as exc:
            outcomes.append(exc)
    return outcomes


def _answer(
    s: Session, msg: InboundText, org: OrgConfig, *, now: datetime, batch: _Batch | None = None
) -> Result:
    """One text answered inside the transaction (maybe one of a batch's), its rows written."""
    if batch is not None and msg.phone in batch.volunteers:
        volunteer = batch.volunteers[msg.phone]
    else:
        volunteer = s.scalars(_BY_PHONE, {"phone": msg.phone}).first()
    t = Turn(s, msg, org, now, batch=_ALONE if batch is None else batch, volunteer=volunteer)
    reply, intent = dispatch.answer(t)
    t.batch.answered(volunteer)
    if t.changes:
        assert t.volunteer is not None
        if batch is not None:
            batch.changes.setdefault(t.volunteer.id, {}).update(t.changes)
        else:
            update_volunteers(s, {t.volunteer.id: t.changes})
    s.flush()  # the volunteer row (maybe new) before the inbound row that names it
    inbound = {
        "message_sid": msg.message_id,
        "channel": str(msg.channel),
        "from_phone": msg.phone,
        "to_phone": msg.to,
        "body": storable(msg.text),
        "volunteer_id": t.volunteer.id if t.volunteer is not None else None,
        "intent": intent,
        "reply": reply,
        "opt_out_type": msg.opt_out_type,
        "flagged": t.flagged,
        "received_at": now,
    }
    result = Result(reply=reply, sms=tuple(t.sms), posts=tuple(t.posts), intent=intent)
    if batch is not None and t.cta is None:
        batch.inbound.append(inbound)
        batch.posts.extend(result.posts)
        enqueue_sms(s, result.sms)
        return result
    if batch is not None:
        batch.write(s)  # the batch's earlier rows first, in the order texts came
    # One plain INSERT; the unique message id is checked here, so a duplicate's work is
    # rolled back before its effects are written.
    inbound_id = s.execute(_INSERT_INBOUND, inbound).inserted_primary_key[0]
    if t.cta is not None:
        t.cta.inbound_id = inbound_id
        s.add(t.cta)
    record_effects(s, result)
    return result


def update_volunteers(session: Session, changes: dict[int, dict[str, object]]) -> None:
    """Write volunteers' changed columns (id -> {column: value}): one UPDATE per volunteer,
    sent as one executemany for each set of columns."""
    by_columns: dict[tuple[str, ...], list[dict[str, object]]] = {}
    for volunteer_id, values in changes.items():
        row = {f"new_{key}": value for key, value in values.items()}
        row["volunteer_id"] = volunteer_id
        by_columns.setdefault(tuple(sorted(values)), []).append(row)
    for columns, rows in by_columns.items():
        session.execute(_volunteer_update(columns), rows)


@lru_cache(maxsize=64)
def _volunteer_update(columns: tuple[str, ...]) -> Update:
    table = Volunteer.__table__
    return (
        update(table)
        .where(table.c.id == bindparam("volunteer_id"))
        .values({column: bindparam(f"new_{column}") for column in columns})
    )


class _Alone:
    """A text answered on its own: nothing shared with other texts, nothing kept for later."""

    def nearest_open_shifts(
        self, session: Session, now: datetime, near_zip: str | None
    ) -> list[shift_lists.OpenShift]:
        return shift_lists.list_open_shifts(session, now=now, near_zip=near_zip)

    def districts_of(self, session: Session, volunteer_id: int) -> dict[str, str]:
        return districts.districts_of(session, volunteer_id)

    def seat_taken(self, shift_id: int) -> None:
        pass

    def seat_freed(self, shift_id: int) -> None:
        pass

    def joined(self, volunteer: Volunteer) -> None:
        pass

    def answered(self, volunteer: Volunteer | None) -> None:
        pass

    def write(self, session: Session) -> None:
        pass


_ALONE: Batch = _Alone()


@dataclass
class _Batch:
    """What the texts answered in one transaction share: their senders, read in one query, and
    the rows they leave (inbound messages, posts for the organizers), written in one statement
    each at the end. A duplicate message id then fails the batch's INSERT, and `receive_texts`
    answers every text on its own instead."""

    volunteers: dict[str, Volunteer | None]  # phone -> the volunteer (None: not one yet)
    changes: dict[int, dict[str, object]] = field(default_factory=dict)  # volunteer id -> columns
    inbound: list[dict[str, object]] = field(default_factory=list)
    posts: list[InboxPost] = field(default_factory=list)
    # Open shifts as the batch's first SHIFTS read them, until a text takes or frees a seat.
    _open: list[shift_lists.OpenShift] | None = None
    _open_at: datetime | None = None
    # nearest_first of the open shifts for a ZIP, while none of them has started
    _nearest: dict[str | None, list[shift_lists.OpenShift]] = field(default_factory=dict)
    # Senders none of whose texts has been answered yet, and their districts once read.
    _unanswered: set[int] = field(default_factory=set)
    _districts: dict[int, dict[str, str]] | None = None

    @classmethod
    def reading(cls, session: Session, msgs: Sequence[InboundText]) -> _Batch:
        phones = sorted({m.phone for m in msgs})
        found = {v.phone: v for v in session.scalars(_BY_PHONES, {"phones": phones})}
        return cls(
            {phone: found.get(phone) for phone in phones},
            _unanswered={v.id for v in found.values()},
        )

    def joined(self, volunteer: Volunteer) -> None:
        """A text in the batch made a new volunteer: the sender of its later texts."""
        self.volunteers[volunteer.phone] = volunteer

    def answered(self, volunteer: Volunteer | None) -> None:
        """A text of this sender's was answered: what it changed is theirs to read again."""
        if volunteer is not None:
            self._unanswered.discard(volunteer.id)

    def districts_of(self, session: Session, volunteer_id: int) -> dict[str, str]:
        """The districts of every sender in the batch without a text answered yet, read in one
        query at the first that asks; a sender whose earlier text in the batch may have changed
        theirs (a ZIP, an ADDRESS) is read on its own. Only their own texts change a
        volunteer's districts, so a sender's first text sees what it would see alone."""
        if volunteer_id not in self._unanswered:
            return districts.districts_of(session, volunteer_id)
        if self._districts is None:  # (the unanswered only grow fewer: each is in it)
            self._districts = districts.districts_of_many(session, self._unanswered)
        return self._districts[volunteer_id]

    def nearest_open_shifts(
        self, session: Session, now: datetime, near_zip: str | None
    ) -> list[shift_lists.OpenShift]:
        """`shift_lists.nearest_first(shift_lists.open_shifts(...))`, the open shifts read once for
        the batch and kept up to date by `seat_taken` / `seat_freed`."""
        if self._open is None or self._open_at is None or now < self._open_at:
            self._open, self._open_at = shift_lists.open_shifts(session, now=now), now
            self._nearest = {}
        if any(s.starts_at <= now for s in self._open):  # one has started since: not cached
            return shift_lists.nearest_first(self._open, now=now, near_zip=near_zip)
        found = self._nearest.get(near_zip)
        if found is None:
            found = self._nearest[near_zip] = shift_lists.nearest_first(
                self._open, now=now, near_zip=near_zip
            )
        return found

    def seat_taken(self, shift_id: int) -> None:
        self._seats(shift_id, -1)

    def seat_freed(self, shift_id: int) -> None:
        self._seats(shift_id, +1)

    def _seats(self, shift_id: int, change: int) -> None:
        """A text in the batch took or freed a seat: the batch's open shifts as the database
        now has them, or read again at the next SHIFTS when that cannot be told from them (a
        full shift that opened, a full list that lost one)."""
        if self._open is None:
            return
        self._nearest = {}
        for i, s in enumerate(self._open):
            if s.id == shift_id:
                left = s.spots_left + change
                if left > 0:
                    self._open[i] = replace(s, spots_left=left)
                    return
                if len(self._open) < shift_lists.CANDIDATES:
                    del self._open[i]
                    return
                break
        self._open = None

    def write(self, session: Session) -> None:
        """The rows kept so far (before a query that reads them, and at the end)."""
        if self.changes:
            update_volunteers(session, self.changes)
            self.changes = {}
        if self.inbound:
            session.execute(_INSERT_INBOUND, self.inbound)
            self.inbound = []
        if self.posts:
            enqueue_posts(session, self.posts)
            self.posts = []
