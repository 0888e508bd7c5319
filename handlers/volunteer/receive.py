"""The volunteer's side: every text a volunteer sends comes through `receive_text`.

One text, one transaction: the inbound row, whatever the text changed (consent, profile,
commitments) and the effects it caused (a promoted volunteer's text, posts for the organizers) all
commit together. The inbound row is unique by message id, so a webhook Twilio retries, even two
copies arriving at once, is acted on once: the copy that loses the race rolls back whatever it did
and answers with the reply stored by the one that won.

Consent comes first. HELP always answers. The STOP family opts out at once and gets one
confirmation; after that the number gets nothing (its texts are still kept and shown to the
organizers) until it opts in again with START, JOIN or a bare YES, as carriers treat it. When
Twilio's Advanced Opt-Out has already answered a STOP, START or HELP (`OptOutType`), Muster
records the change and stays silent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import Update, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload
from sqlalchemy.orm.attributes import set_committed_value

from handlers import geo, shifts, sms_text
from handlers.config import OrgConfig
from handlers.consent import record_opt_in, record_opt_out
from handlers.keywords import Intent, Parsed, parse, parse_interests, parse_name
from handlers.messages import InboundText
from handlers.phones import masked, zone_from_number
from handlers.ports import Clock
from handlers.results import InboxPost, OutboundSms, Result
from handlers.segments import count_segments
from handlers.shifts import CommitStatus, DropStatus
from storage.db import is_database_away
from storage.models import (
    Broadcast,
    Commitment,
    CommitmentStatus,
    CtaResponse,
    Delivery,
    DeliveryStatus,
    InboundMessage,
    OnboardingStep,
    Volunteer,
    VolunteerStatus,
    VolunteerTag,
)
from storage.outbox import enqueue_posts, enqueue_sms, record_effects
from storage.uow import UnitOfWork

ACK_INTERVAL = timedelta(hours=1)
ZIP_TRIES = 3  # the first ask and at most two more; then the question is skipped
INTEREST_TRIES = 2
MAX_SEGMENTS = 3
# Built once: the lookup every text starts with (tags are loaded only when onboarding needs them).
_BY_PHONE = select(Volunteer).where(Volunteer.phone == bindparam("phone")).options(lazyload("*"))
_BY_PHONES = (
    select(Volunteer)
    .where(Volunteer.phone.in_(bindparam("phones", expanding=True)))
    .options(lazyload("*"))
)
_INSERT_INBOUND = insert(InboundMessage.__table__)
# Deliveries a volunteer has (or may have) received: what a bare YES/NO can be answering.
_RECEIVED = (
    DeliveryStatus.CLAIMED,
    DeliveryStatus.QUEUED,
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
)


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


def receive_text(msg: InboundText, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    """Record the text once (by its message id) and answer it. A repeat gets the same answer."""
    for attempt in range(2):
        try:
            with uow:
                result = _Turn(uow.session, msg, org, now=msg.received_at or clock.now()).run()
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
                    _Turn(
                        uow.session, msg, org, now=msg.received_at or clock.now(), batch=batch
                    ).run()
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
    _open: list[shifts.OpenShift] | None = None
    _open_at: datetime | None = None
    # nearest_first of the open shifts for a ZIP, while none of them has started
    _nearest: dict[str | None, list[shifts.OpenShift]] = field(default_factory=dict)

    @classmethod
    def reading(cls, session: Session, msgs: Sequence[InboundText]) -> _Batch:
        phones = sorted({m.phone for m in msgs})
        found = {v.phone: v for v in session.scalars(_BY_PHONES, {"phones": phones})}
        return cls({phone: found.get(phone) for phone in phones})

    def nearest_open_shifts(
        self, session: Session, now: datetime, near_zip: str | None
    ) -> list[shifts.OpenShift]:
        """`shifts.nearest_first(shifts.open_shifts(...))`, the open shifts read once for the
        batch and kept up to date by `seat_taken` / `seat_freed`."""
        if self._open is None or self._open_at is None or now < self._open_at:
            self._open, self._open_at = shifts.open_shifts(session, now=now), now
            self._nearest = {}
        if any(s.starts_at <= now for s in self._open):  # one has started since: not cached
            return shifts.nearest_first(self._open, now=now, near_zip=near_zip)
        found = self._nearest.get(near_zip)
        if found is None:
            found = self._nearest[near_zip] = shifts.nearest_first(
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
                if len(self._open) < shifts.CANDIDATES:
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


@dataclass
class _Turn:
    """One inbound text being answered, inside its transaction (maybe one of a batch's)."""

    session: Session
    msg: InboundText
    org: OrgConfig
    now: datetime
    volunteer: Volunteer | None = None
    parsed: Parsed = field(default_factory=lambda: parse(""))
    lang: str = "en"
    posts: list[InboxPost] = field(default_factory=list)
    sms: list[OutboundSms] = field(default_factory=list)
    flagged: bool = False
    cta: CtaResponse | None = None  # a YES/NO answer, linked to the inbound row once stored
    batch: _Batch | None = None
    changes: dict[str, object] = field(default_factory=dict)  # the volunteer's columns (`_set`)

    # --- the turn ---------------------------------------------------------------------------

    def run(self) -> Result:
        s = self.session
        if self.batch is not None and self.msg.phone in self.batch.volunteers:
            self.volunteer = self.batch.volunteers[self.msg.phone]
        else:
            self.volunteer = s.scalars(_BY_PHONE, {"phone": self.msg.phone}).first()
        self.parsed = parse(self.msg.text)
        self.lang = self.parsed.language or (self.volunteer.language if self.volunteer else "en")
        if self.volunteer is not None and self.volunteer.language != self.lang:
            self._set(language=self.lang)

        reply, intent = self._answer()
        reply = sms_text.fit(reply, MAX_SEGMENTS) if reply else None
        if self.changes:
            assert self.volunteer is not None
            if self.batch is not None:
                self.batch.changes.setdefault(self.volunteer.id, {}).update(self.changes)
            else:
                update_volunteers(s, {self.volunteer.id: self.changes})
        s.flush()  # the volunteer row (maybe new) before the inbound row that names it
        inbound = {
            "message_sid": self.msg.message_id,
            "channel": str(self.msg.channel),
            "from_phone": self.msg.phone,
            "to_phone": self.msg.to,
            "body": _storable(self.msg.text),
            "volunteer_id": self.volunteer.id if self.volunteer is not None else None,
            "intent": intent,
            "reply": reply,
            "opt_out_type": self.msg.opt_out_type,
            "flagged": self.flagged,
            "received_at": self.now,
        }
        result = Result(reply=reply, sms=tuple(self.sms), posts=tuple(self.posts), intent=intent)
        if self.batch is not None and self.cta is None:
            self.batch.inbound.append(inbound)
            self.batch.posts.extend(result.posts)
            enqueue_sms(s, result.sms)
            return result
        if self.batch is not None:
            self.batch.write(s)  # the batch's earlier rows first, in the order texts came
        # One plain INSERT; the unique message id is checked here, so a duplicate's work is
        # rolled back before its effects are written.
        inbound_id = s.execute(_INSERT_INBOUND, inbound).inserted_primary_key[0]
        if self.cta is not None:
            self.cta.inbound_id = inbound_id
            s.add(self.cta)
        record_effects(s, result)
        return result

    def _set(self, **values: object) -> None:
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

    def _answer(self) -> tuple[str | None, str]:
        p, v = self.parsed, self.volunteer
        if self.msg.opt_out_type:
            return self._advanced_opt_out(self.msg.opt_out_type.strip().upper())
        if p.intent == Intent.HELP:
            return self._help(), "help"
        if p.intent == Intent.OPT_OUT:
            return self._opt_out()
        if v is not None and v.status == VolunteerStatus.OPTED_OUT:
            if p.intent in (Intent.OPT_IN, Intent.YES):
                return self._opt_back_in()
            self._post("inbox", "(opted out; texts to this number are not sent)")
            return None, "opted_out_text"
        # A number we do not know, or one on file without consent (imported without evidence of
        # it, or once found unreachable), subscribes with JOIN, START or a bare YES.
        unsubscribed = v is None or v.status == VolunteerStatus.UNREACHABLE
        if p.intent == Intent.OPT_IN or (unsubscribed and p.intent == Intent.YES):
            return self._join()
        if v is None:
            return self._stranger()
        if v.onboarding_step != OnboardingStep.DONE:
            answered = self._onboarding()
            if answered is not None:
                return answered
        return self._keyword()

    # --- consent ----------------------------------------------------------------------------

    def _keyword_for_ledger(self) -> str:
        """The keyword when the text was exactly one, else the text itself (the evidence)."""
        p = self.parsed
        if p.keyword and p.normalized == p.keyword.lower():
            return p.keyword
        return _storable(self.msg.text.strip())[:160] or (p.keyword or "")

    def _consent(
        self, record: Callable[..., object], volunteer: Volunteer, detail: str | None = None
    ) -> None:
        """`record_opt_out` / `record_opt_in` for this text, with its keyword and message id."""
        record(
            self.session,
            phone=self.msg.phone,
            volunteer=volunteer,
            keyword=self._keyword_for_ledger(),
            channel="sms",
            now=self.now,
            message_sid=self.msg.message_id,
            detail=detail,
        )

    def _advanced_opt_out(self, kind: str) -> tuple[None, str]:
        """Twilio already answered this STOP/START/HELP: record it, send nothing more."""
        v = self.volunteer
        if kind == "STOP":
            v = v or self._new_volunteer(status=VolunteerStatus.OPTED_OUT)
            self._consent(record_opt_out, v, detail="Twilio Advanced Opt-Out (OptOutType=STOP)")
            return None, "opt_out"
        if kind == "START":
            new = v is None
            v = v or self._new_volunteer()
            if new or v.status != VolunteerStatus.ACTIVE:
                self._consent(record_opt_in, v, detail="Twilio Advanced Opt-Out (OptOutType=START)")
            if new:
                self._post("signup", "joined by text (Twilio answered START)")
            return None, "opt_in"
        return None, "help"

    def _opt_out(self) -> tuple[str | None, str]:
        v = self.volunteer
        already = v is not None and v.status == VolunteerStatus.OPTED_OUT
        v = v or self._new_volunteer(status=VolunteerStatus.OPTED_OUT)
        plain = not (self.parsed.keyword and self.parsed.normalized == self.parsed.keyword.lower())
        detail = "plain-language request" if plain else None
        self._consent(record_opt_out, v, detail=detail)
        if already:
            return None, "opt_out"  # one confirmation only, ever
        if plain:
            self._post("optout", "opted out in their own words")
        return self.say("opted_out", org=self.org.org_name), "opt_out"

    def _opt_back_in(self) -> tuple[str, str]:
        v = self.volunteer
        assert v is not None
        self._consent(record_opt_in, v)
        reply = self.say("welcome_back", org=self.org.org_name)
        question = self._current_question()
        return (f"{reply} {question}" if question else reply), "opt_in"

    def _join(self) -> tuple[str, str]:
        v = self.volunteer
        if v is not None and v.status == VolunteerStatus.UNREACHABLE:
            self._consent(record_opt_in, v)
            self._post("signup", "subscribed by text (was on file without consent)")
            question = self._current_question()
            reply = self.say("subscribed", org=self.org.org_name)
            return (f"{reply} {question}" if question else reply), "opt_in"
        if v is not None:
            question = self._current_question()
            reply = self.say("already_joined", org=self.org.org_name)
            return (f"{reply} {question}" if question else reply), "opt_in"
        v = self._new_volunteer()
        self._consent(record_opt_in, v)
        self._post("signup", "joined by text")
        return self.say("welcome", org=self.org.org_name), "opt_in"

    def _new_volunteer(self, status: VolunteerStatus = VolunteerStatus.ACTIVE) -> Volunteer:
        v = Volunteer(
            phone=self.msg.phone,
            language=self.lang,
            timezone=zone_from_number(self.msg.phone),
            status=status,
            onboarding_step=OnboardingStep.NAME,
            zip_attempts=0,
            source="sms",
            created_at=self.now,
            updated_at=self.now,
        )
        v.tags = []
        self.session.add(v)
        self.session.flush()
        self.volunteer = v
        if self.batch is not None:
            self.batch.volunteers[v.phone] = v
        return v

    def _stranger(self) -> tuple[str | None, str]:
        """A number we do not know texted something other than JOIN, STOP or HELP."""
        if self.parsed.intent == Intent.MAYBE_OPT_OUT:
            self.flagged = True
            self._post("flagged", "may want to opt out (not a volunteer)")
            return self.say("maybe_opt_out", org=self.org.org_name), "maybe_opt_out"
        self._post("inbox", "(not signed up)")
        if self.batch is not None:
            self.batch.write(self.session)  # this number's earlier texts in the batch count too
        recent = self.session.scalar(
            select(func.count())
            .select_from(InboundMessage)
            .where(
                InboundMessage.from_phone == self.msg.phone,
                InboundMessage.reply.is_not(None),
                InboundMessage.received_at > self.now - ACK_INTERVAL,
            )
        )
        if recent:
            return None, "other"
        return self.say("join_first", org=self.org.org_name), "other"

    def _help(self) -> str:
        return sms_text.help_reply(self.lang, org=self.org.org_name, contact=self.org.org_contact)

    # --- onboarding -------------------------------------------------------------------------

    def _current_question(self) -> str | None:
        v = self.volunteer
        assert v is not None
        if v.onboarding_step == OnboardingStep.NAME:
            return self.say("ask_name")
        if v.onboarding_step == OnboardingStep.ZIP:
            return self.say("ask_zip")
        if v.onboarding_step == OnboardingStep.INTERESTS:
            return self.say("ask_interests")
        return None

    def _onboarding(self) -> tuple[str | None, str] | None:
        """The answer to the pending onboarding question, or None when the text is a keyword or
        not an answer (then it is handled as any other text)."""
        v, p = self.volunteer, self.parsed
        assert v is not None
        if p.intent not in (Intent.OTHER, Intent.SKIP):
            return None  # a keyword in the middle of onboarding is obeyed, not taken as a name
        skip = p.intent == Intent.SKIP
        if v.onboarding_step == OnboardingStep.NAME:
            name = None if skip else parse_name(self.msg.text)
            if name is None and not skip:
                return None
            self._set(
                first_name=name or v.first_name, onboarding_step=OnboardingStep.ZIP, zip_attempts=0
            )
            return self._ask_zip(), "onboarding_name"
        if v.onboarding_step == OnboardingStep.ZIP:
            if skip:
                return self._to_interests(), "onboarding_zip"
            info = geo.zip_info(self.msg.text.strip())
            if info is None:
                self._set(zip_attempts=v.zip_attempts + 1)
                if v.zip_attempts >= ZIP_TRIES:
                    skipped = self.say("zip_skipped")
                    return f"{skipped} {self._to_interests()}", "onboarding_zip"
                return self.say("bad_zip", zip=_shown(self.msg.text)), "onboarding_zip"
            self._set_zip(info)
            return self._to_interests(), "onboarding_zip"
        if v.onboarding_step == OnboardingStep.INTERESTS:
            tags = [] if skip else parse_interests(self.msg.text)
            if tags is None:
                self._set(zip_attempts=v.zip_attempts + 1)
                if v.zip_attempts < INTEREST_TRIES:
                    return self.say("ask_interests"), "onboarding_interests"
                self._finish_onboarding()
                return None  # not an answer: handled as any other text
            self._set_tags(tags)
            self._finish_onboarding()
            name = f", {v.first_name}" if v.first_name else ""
            return self.say("onboarded", name=name), "onboarding_interests"
        return None

    def _ask_zip(self) -> str:
        v = self.volunteer
        assert v is not None
        thanks = self.say("thanks_name", name=v.first_name) if v.first_name else self.say("thanks")
        return f"{thanks} {self.say('ask_zip')}"

    def _to_interests(self) -> str:
        v = self.volunteer
        assert v is not None
        # (zip_attempts from here on: attempts at the interests question)
        self._set(onboarding_step=OnboardingStep.INTERESTS, zip_attempts=0)
        return self.say("ask_interests")

    def _finish_onboarding(self) -> None:
        v = self.volunteer
        assert v is not None
        self._set(onboarding_step=OnboardingStep.DONE, zip_attempts=0)
        place = _place(v.zip) if v.zip else "no ZIP"
        interests = ", ".join(v.tag_names) or "no interests given"
        self._post("signup", f"finished sign-up: {place}; {interests}")

    def _set_zip(self, info: geo.ZipInfo) -> None:
        v = self.volunteer
        assert v is not None
        self._set(
            zip=info.zip,
            state=info.state or v.state,
            timezone=info.timezone or v.timezone,
            zip_attempts=0,
        )

    def _set_tags(self, tags: list[str]) -> None:
        v = self.volunteer
        assert v is not None
        have = {t.tag for t in v.tags}
        for tag in tags:
            if tag not in have:
                v.tags.append(VolunteerTag(tag=tag))

    # --- keywords of an active volunteer ----------------------------------------------------

    def _keyword(self) -> tuple[str | None, str]:
        p = self.parsed
        handlers = {
            Intent.SHIFTS: self._shifts,
            Intent.COMMIT: self._commit,
            Intent.DROP: self._drop,
            Intent.MY: self._my,
            Intent.CONFIRM: self._confirm,
            Intent.NAME: self._name,
            Intent.ZIP: self._zip,
            Intent.YES: self._yes_no,
            Intent.NO: self._yes_no,
            Intent.MAYBE_OPT_OUT: self._maybe_opt_out,
        }
        handler = handlers.get(p.intent)
        if handler is not None:
            answered = handler()
            if answered is not None:
                return answered
        return self._free_text()

    @property
    def zone(self) -> str:
        v = self.volunteer
        return (v.timezone if v is not None and v.timezone else None) or self.org.default_timezone

    def _shifts(self) -> tuple[str, str]:
        v = self.volunteer
        assert v is not None
        if self.batch is not None:
            found = self.batch.nearest_open_shifts(self.session, self.now, v.zip)
        else:
            found = shifts.list_open_shifts(self.session, now=self.now, near_zip=v.zip)
        if not found:
            return self.say("no_shifts"), "shifts"
        lines = [
            f"{sms_text.shift_line(s, self.zone, self.lang)} "
            f"({self.say('spots_left', k=s.spots_left)})"
            for s in found
        ]
        head, foot = self.say("shifts_header"), self.say("shifts_footer", n=found[0].id)
        return sms_text.fit_list(head, lines, foot, MAX_SEGMENTS), "shifts"

    def _commit(self) -> tuple[str, str]:
        v, n = self.volunteer, self.parsed.number
        assert v is not None
        if n is None:
            return self.say("which_shift", word="YES"), "commit"
        out = shifts.commit_to_shift(
            self.session, volunteer=v, shift_id=n, now=self.now, channel=str(self.msg.channel)
        )
        if out.status == CommitStatus.COMMITTED:
            assert out.shift is not None
            if self.batch is not None:
                self.batch.seat_taken(out.shift.id)
            line = sms_text.shift_line(out.shift, self.zone, self.lang)
            return self.say("committed", shift=line, n=n), "commit"
        if out.status == CommitStatus.WAITLISTED:
            assert out.commitment is not None
            rank = shifts.waitlist_rank(self.session, out.commitment)
            return self.say("waitlisted", n=n, rank=rank), "waitlist"
        if out.status == CommitStatus.ALREADY:
            assert out.commitment is not None
            if out.commitment.status == CommitmentStatus.WAITLISTED:
                rank = shifts.waitlist_rank(self.session, out.commitment)
                return self.say("already_waitlisted", n=n, rank=rank), "commit_already"
            return self.say("already_committed", n=n), "commit_already"
        key = {
            CommitStatus.PAST: "past_shift",
            CommitStatus.CANCELLED: "cancelled_shift",
        }.get(out.status, "unknown_shift")
        return self.say(key, n=n), f"commit_{out.status}"

    def _drop(self) -> tuple[str, str]:
        v, n = self.volunteer, self.parsed.number
        assert v is not None
        if n is None:
            return self.say("which_shift", word="DROP"), "drop"
        out = shifts.drop_commitment(
            self.session, volunteer=v, shift_id=n, now=self.now, org_name=self.org.org_name
        )
        if out.status == DropStatus.UNKNOWN:
            return self.say("unknown_shift", n=n), "drop_unknown"
        if out.status == DropStatus.NOT_SIGNED_UP:
            return self.say("drop_not_signed_up", n=n), "drop_not_signed_up"
        if out.status == DropStatus.PAST:
            return self.say("drop_past", n=n), "drop_past"
        self.sms.extend(out.sms)
        assert out.shift is not None
        if self.batch is not None and out.was in shifts.SEATED and out.promoted is None:
            self.batch.seat_freed(out.shift.id)
        if out.was == CommitmentStatus.WAITLISTED:
            return self.say("dropped_waitlist", n=n), "drop"
        title = sms_text.shift_line(out.shift, self.org.default_timezone, "en")
        note = f"dropped {title}"
        if out.promoted is not None:
            who = out.promoted.volunteer
            note += f"; {_who(who)} moved up from the waitlist"
        self._post("drop", note)
        return self.say("dropped", n=n), "drop"

    def _my(self) -> tuple[str, str]:
        v = self.volunteer
        assert v is not None
        mine = shifts.my_commitments(self.session, volunteer=v, now=self.now)
        if not mine:
            return self.say("my_none"), "my"
        lines = []
        for c in mine:
            line = sms_text.shift_line(c.shift, self.zone, self.lang)
            if c.status == CommitmentStatus.WAITLISTED:
                rank = shifts.waitlist_rank(self.session, c)
                line += f" ({self.say('my_waitlist', rank=rank)})"
            elif c.status == CommitmentStatus.CONFIRMED:
                line += f" ({self.say('my_confirmed')})"
            lines.append(line)
        return sms_text.fit_list(self.say("my_header"), lines, "", MAX_SEGMENTS), "my"

    def _confirm(self) -> tuple[str, str]:
        v = self.volunteer
        assert v is not None
        c = shifts.confirm_next_reminded(self.session, volunteer=v, now=self.now)
        if c is None:
            return self.say("nothing_to_confirm"), "confirm_none"
        line = sms_text.shift_line(c.shift, self.zone, self.lang)
        return self.say("confirmed", shift=line), "confirm"

    def _name(self) -> tuple[str, str]:
        v = self.volunteer
        assert v is not None
        name = parse_name(self.parsed.arg or "")
        if name is None:
            return self.say("name_usage"), "name_usage"
        if v.onboarding_step == OnboardingStep.NAME:
            self._set(first_name=name, onboarding_step=OnboardingStep.ZIP)
            return self._ask_zip(), "name"
        self._set(first_name=name)
        return self.say("name_set", name=name), "name"

    def _zip(self) -> tuple[str, str]:
        v = self.volunteer
        assert v is not None
        if not self.parsed.arg:
            return self.say("zip_usage"), "zip_usage"
        info = geo.zip_info(self.parsed.arg)
        if info is None:
            return self.say("bad_zip", zip=_shown(self.parsed.arg)), "zip_invalid"
        self._set_zip(info)
        reply = self.say("zip_set", zip=info.zip, place=f"{info.city.title()}, {info.state}")
        if v.onboarding_step == OnboardingStep.ZIP:
            reply = f"{reply} {self._to_interests()}"
        return reply, "zip"

    def _yes_no(self) -> tuple[str, str] | None:
        """A bare YES/NO answers the latest call to action or check-in this volunteer received."""
        v = self.volunteer
        assert v is not None
        yes = self.parsed.intent == Intent.YES
        latest = self.session.execute(
            select(Delivery.broadcast_id, Delivery.commitment_id, Delivery.kind)
            .outerjoin(Broadcast, Broadcast.id == Delivery.broadcast_id)
            .where(
                Delivery.volunteer_id == v.id,
                Delivery.status.in_(_RECEIVED),
                or_(
                    and_(Delivery.kind == "checkin", Delivery.commitment_id.is_not(None)),
                    and_(Delivery.broadcast_id.is_not(None), Broadcast.is_call_to_action),
                ),
            )
            .order_by(func.coalesce(Delivery.sent_at, Delivery.created_at).desc())
            .order_by(Delivery.id.desc())
            .limit(1)
        ).first()
        if latest is None:
            return (self.say("yes_without_question"), "yes") if yes else None
        if latest.kind == "checkin" and latest.commitment_id is not None:
            c = self.session.get(Commitment, latest.commitment_id)
            if c is not None:
                shifts.record_check_in(c, attended=yes, now=self.now)
                if yes:
                    title = sms_text.short_title(c.shift.title)
                    return self.say("checkin_yes", title=title), "checkin_yes"
                return self.say("checkin_no"), "checkin_no"
        if latest.broadcast_id is None:
            return None
        answer = "yes" if yes else "no"
        cta = self.session.scalars(
            select(CtaResponse).where(
                CtaResponse.broadcast_id == latest.broadcast_id,
                CtaResponse.volunteer_id == v.id,
            )
        ).first() or CtaResponse(broadcast_id=latest.broadcast_id, volunteer_id=v.id)
        cta.answer, cta.answered_at = answer, self.now  # the latest answer counts
        self.cta = cta
        return self.say("cta_yes" if yes else "cta_no"), f"cta_{answer}"

    def _maybe_opt_out(self) -> tuple[str, str]:
        self.flagged = True
        self._post("flagged", "may want to opt out; please check")
        reply = self.say("maybe_opt_out", org=self.org.org_name)
        if self.parsed.number is not None:
            reply = self.say("maybe_drop", n=self.parsed.number)
        return reply, "maybe_opt_out"

    def _free_text(self) -> tuple[str | None, str]:
        """Kept and shown to the organizers; one short acknowledgment an hour at most (and the
        pending onboarding question, so a volunteer mid-sign-up knows what we still need)."""
        v = self.volunteer
        assert v is not None
        self._post("inbox", "")
        question = self._current_question()
        if v.last_ack_at is not None and self.now - v.last_ack_at < ACK_INTERVAL:
            return question, "other"
        self._set(last_ack_at=self.now)
        ack = self.say("ack", org=self.org.org_name)
        return (f"{ack} {question}" if question else ack), "other"

    # --- posts for the organizers -----------------------------------------------------------

    def _post(self, kind: str, note: str) -> None:
        """A post for the organizers' inbox: who (name and masked number), what, and the text."""
        v = self.volunteer
        who = _who(v) if v is not None else f"Unknown number {masked(self.msg.phone)}"
        body = _storable(self.msg.text.strip())
        lines = [f"{who}: {note}" if note else f"{who}:"]
        if body and kind in ("inbox", "flagged", "optout"):
            lines.append("> " + body.replace("\n", "\n> "))
        self.posts.append(
            InboxPost(kind=kind, text="\n".join(lines), volunteer_id=v.id if v else None)
        )


def _storable(text: str) -> str:
    """PostgreSQL text cannot hold NUL; keep a visible mark of it instead of failing."""
    return text.replace("\x00", "\ufffd")


def _who(v: Volunteer) -> str:
    name = v.first_name or "New volunteer"
    return f"{name} ({masked(v.phone)})"


def _place(zip5: str) -> str:
    info = geo.zip_info(zip5)
    return f"{zip5} {info.city.title()}, {info.state}" if info else zip5


def _shown(text: str) -> str:
    """A wrong ZIP echoed back, kept short and plain."""
    text = " ".join(text.split())
    return text if len(text) <= 12 and count_segments(text).encoding == "gsm7" else "that"
