"""The whole volunteer experience through the real `POST /twilio/sms` route: signed requests in,
TwiML out, and what the database holds afterwards (on SQLite or PostgreSQL)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from starlette.testclient import TestClient

from bot.bootstrap import Container, bootstrap
from bot.web import create_app
from handlers.messages import Channel, InboundText
from handlers.ports import FixedClock
from handlers.segments import count_segments
from handlers.volunteer.receive import receive_text
from storage.models import (
    Broadcast,
    Commitment,
    CommitmentStatus,
    ConsentEvent,
    CtaResponse,
    Delivery,
    DeliveryStatus,
    InboundMessage,
    OnboardingStep,
    Shift,
    SlackPost,
    Volunteer,
    VolunteerStatus,
)
from tests.adapters.sms_phone import ACCOUNT_SID, AUTH_TOKEN, Phone, new_sid, twiml_messages
from tests.at_once import all_at_once
from tests.builders import make_shift, make_volunteer, random_phone
from tests.conftest import T0, make_settings

ORG = "Mass Forward"
INTERESTS_PROMPT = (
    "Reply with numbers: 1 phonebank, 2 canvass, 3 text bank, 4 testify or lobby, 5 host an event"
)


@pytest.fixture
def app_container(db_url: str, engine, clock: FixedClock) -> Iterator[Container]:
    s = make_settings(db_url, twilio_auth_token=AUTH_TOKEN, twilio_account_sid=ACCOUNT_SID)
    yield bootstrap(s, clock=clock, engine=engine)


@pytest.fixture
def client(app_container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(app_container)) as c:
        yield c


@pytest.fixture
def phone_for(client: TestClient, app_container: Container):
    def make(number: str | None = None) -> Phone:
        return Phone(client, number or random_phone(), public_url=app_container.settings.public_url)

    return make


@pytest.fixture
def db(app_container: Container):
    """A short-lived session to look at (and arrange) the database between texts."""

    class Db:
        def __enter__(self):
            self.session = app_container.session_factory()
            return self.session

        def __exit__(self, *exc):
            self.session.commit()
            self.session.close()

    return Db


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


@pytest.fixture
def volunteer(db, phone_for):
    """A volunteer who finished sign-up, and their phone."""

    def make(**fields) -> Phone:
        p = phone_for(fields.pop("phone", None))
        with db() as s:
            make_volunteer(s, phone=p.number, **fields)
        return p

    return make


# --- signatures and replays ---------------------------------------------------------------------


@pytest.mark.parametrize("signature", [None, "forged", "dGVzdA=="])
def test_a_missing_or_wrong_signature_is_refused_and_nothing_is_stored(
    phone_for, db, signature
) -> None:
    phone = phone_for()
    answer = phone.post(phone.params("JOIN"), signature=signature)
    assert answer.status == 403
    with db() as s:
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 0
        assert s.scalar(select(func.count()).select_from(Volunteer)) == 0


def test_a_signature_for_other_parameters_is_refused(phone_for, db) -> None:
    phone = phone_for()
    params = phone.params("JOIN")
    from twilio.request_validator import RequestValidator

    signature = RequestValidator(AUTH_TOKEN).compute_signature(phone.url, params)
    params["Body"] = "STOP"
    assert phone.post(params, signature=signature).status == 403
    assert volunteer_of(db, phone) is None


def test_a_replayed_message_sid_is_answered_the_same_and_acted_on_once(
    volunteer, db, phone_for
) -> None:
    phone = volunteer()
    with db() as s:
        shift = make_shift(s, starts_at=T0 + timedelta(days=2), capacity=5)
    params = phone.params(f"YES {shift.id}")
    first = phone.post(params)
    again = phone.post(params)
    assert first.status == again.status == 200
    assert again.reply == first.reply and "signed up" in first.reply
    with db() as s:
        assert s.scalar(select(func.count()).select_from(Commitment)) == 1
        assert s.get(Shift, shift.id).committed_count == 1
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 1


def test_identical_webhooks_arriving_at_once_are_acted_on_once(app_container, db) -> None:
    number = random_phone()
    with db() as s:
        v = make_volunteer(s, phone=number)
        shift = make_shift(s, starts_at=T0 + timedelta(days=2), capacity=5)
    msg = InboundText(Channel.SMS, number, f"YES {shift.id}", T0, new_sid())

    def deliver() -> str | None:
        uow, org, clock = app_container.uow(), app_container.org, app_container.clock
        return receive_text(msg, uow=uow, org=org, clock=clock).reply

    replies = all_at_once([deliver] * 4)
    assert len(replies) == 4 and len(set(replies)) == 1 and "signed up" in replies[0]
    with db() as s:
        assert s.scalars(select(Commitment.volunteer_id)).all() == [v.id]
        assert s.get(Shift, shift.id).committed_count == 1


def test_a_hundred_yes_texts_at_once_through_the_route_fill_exactly_the_capacity(
    volunteer, db
) -> None:
    """Through the real route, the desk's batches (SQLite) or its parallel threads (PostgreSQL)
    alike: 10 seats, 100 volunteers texting YES at the same moment."""
    phones = [volunteer() for _ in range(100)]
    with db() as s:
        n = make_shift(s, starts_at=T0 + timedelta(days=2), capacity=10).id
    replies = [
        r or ""
        for r in all_at_once([functools.partial(phone.text, f"YES {n}") for phone in phones])
    ]
    assert sum("signed up" in r for r in replies) == 10
    assert sum("waitlist" in r for r in replies) == 90
    with db() as s:
        assert s.get(Shift, n).committed_count == 10
        waiting = s.scalars(
            select(Commitment.waitlist_position).where(
                Commitment.status == CommitmentStatus.WAITLISTED
            )
        ).all()
        assert sorted(waiting) == list(range(1, 91))
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 100


# --- onboarding ---------------------------------------------------------------------------------


def test_the_full_onboarding(phone_for, db) -> None:
    phone = phone_for(random_phone("312"))  # a Chicago number
    welcome = phone.text("JOIN")
    assert ORG in welcome and "Msg & data rates may apply" in welcome
    assert "HELP" in welcome and "STOP" in welcome and "first name" in welcome
    v = volunteer_of(db, phone)
    assert v.status == VolunteerStatus.ACTIVE and v.timezone == "America/Chicago"
    assert [p.kind for p in posts(db)] == ["signup"]
    assert phone.number not in posts(db)[0].text  # masked, never the whole number

    assert phone.text("Maria") == "Thanks, Maria! What's your 5-digit ZIP code? (or SKIP)"
    interests = phone.text("02124")
    assert INTERESTS_PROMPT in interests and "SKIP" in interests
    done = phone.text("2, 3 and 5")
    assert "all set, Maria" in done

    v = volunteer_of(db, phone)
    assert (v.first_name, v.zip, v.state) == ("Maria", "02124", "MA")
    assert v.timezone == "America/New_York"  # the ZIP says more than the area code
    assert v.tag_names == ["canvass", "host", "textbank"]
    assert v.onboarding_step == OnboardingStep.DONE
    assert ledger(db, phone) == [("opt_in", "JOIN")]
    signups = posts(db, "signup")
    assert len(signups) == 2 and "Maria" in signups[1].text and "canvass" in signups[1].text


def test_wrong_zips_are_asked_again_twice_then_skipped(phone_for, db) -> None:
    phone = phone_for(random_phone("808"))
    phone.text("JOIN")
    phone.text("Kai")
    assert "isn't a US ZIP code" in phone.text("00000")
    assert "isn't a US ZIP code" in phone.text("1234")
    skipped = phone.text("99999")
    assert "skip the ZIP" in skipped and INTERESTS_PROMPT in skipped
    v = volunteer_of(db, phone)
    assert v.zip is None and v.timezone == "Pacific/Honolulu"
    assert "all set" in phone.text("SKIP")
    assert volunteer_of(db, phone).tag_names == []
    # Later, a ZIP by keyword moves the zone too.
    assert "60601" in phone.text("ZIP 60601")
    v = volunteer_of(db, phone)
    assert (v.zip, v.state, v.timezone) == ("60601", "IL", "America/Chicago")


def test_keywords_in_the_middle_of_onboarding_are_obeyed_not_taken_as_a_name(phone_for, db) -> None:
    phone = phone_for()
    phone.text("JOIN")
    assert "Reply STOP to opt out" in phone.text("HELP")
    assert phone.text("SHIFTS").startswith("No open shifts")
    assert volunteer_of(db, phone).first_name is None
    # A sentence is not a name: it is kept for the organizers and the question asked again.
    reply = phone.text("when is the next canvass?")
    assert "first name" in reply
    assert volunteer_of(db, phone).first_name is None
    assert "when is the next canvass?" in posts(db, "inbox")[-1].text
    assert "ZIP" in phone.text("Ana")
    phone.text("STOP")
    v = volunteer_of(db, phone)
    assert v.status == VolunteerStatus.OPTED_OUT and v.first_name == "Ana"


def test_name_and_zip_keywords_update_the_profile(volunteer, db) -> None:
    phone = volunteer(first_name="Alex")
    assert phone.text("NAME maria josé") == "Thanks, Maria José! Your name is updated."
    assert phone.text("zip 02124-3301") == "Got it: ZIP 02124 (Dorchester Center, MA)."
    assert "isn't a US ZIP code" in phone.text("ZIP 00000")
    assert phone.text("NAME") == "Send NAME and your first name, e.g. NAME Maria."
    v = volunteer_of(db, phone)
    assert (v.first_name, v.zip) == ("Maria José", "02124")


def test_zip_plus_four_after_the_keyword_sets_the_zip_and_a_bad_one_is_refused(
    volunteer, db
) -> None:
    phone = volunteer(zip=None, state=None)
    assert phone.text("ZIP 60614-1234") == "Got it: ZIP 60614 (Chicago, IL)."
    assert (volunteer_of(db, phone).zip, volunteer_of(db, phone).state) == ("60614", "IL")
    assert phone.text("zip: 02124") == "Got it: ZIP 02124 (Dorchester Center, MA)."
    assert phone.text("ZIP 0212-43301").startswith("Sorry, 0212-43301 isn't a US ZIP code.")
    assert volunteer_of(db, phone).zip == "02124"


@pytest.mark.parametrize(
    ("text", "reply", "name"),
    [
        ("Name is Maria", "Thanks, Maria! Your name is updated.", "Maria"),
        ("NAME my name is Maria", "Thanks, Maria! Your name is updated.", "Maria"),
        ("nombre es María", "¡Gracias, María! Actualizamos tu nombre.", "María"),
        ("NAME me llamo José", "Thanks, José! Your name is updated.", "José"),
    ],
)
def test_the_name_keyword_takes_the_name_not_the_words_before_it(
    volunteer, db, text, reply, name
) -> None:
    phone = volunteer(first_name="Alex")
    assert phone.text(text) == reply
    assert volunteer_of(db, phone).first_name == name


# --- consent --------------------------------------------------------------------------------------

STOP_WORDS = [
    "STOP",
    "stop",
    " stop. ",
    "Stop!!!",
    "STOP 🛑",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "end",
    "QUIT",
    "OPTOUT",
    "opt out",
    "REVOKE",
    "ALTO",
    "PARAR",
    "stop please",
    "stop texting me",
    "Please stop texting me!",
    "remove me from this list",
    "Remove me from your list",
    "take me off your list",
    "unsubscribe me",
    "don't text me anymore",
    "no more texts please",
    "no me manden más mensajes",
    "Sáquenme de la lista",
    "quiero darme de baja",
    "dejen de mandarme mensajes",
]


@pytest.mark.parametrize("text", STOP_WORDS)
def test_every_stop_word_and_plain_request_opts_out_at_once(volunteer, db, text) -> None:
    phone = volunteer()
    reply = phone.text(text)
    assert reply is not None and ("unsubscribed" in reply or "te diste de baja" in reply)
    assert volunteer_of(db, phone).status == VolunteerStatus.OPTED_OUT
    assert [a for a, _ in ledger(db, phone)] == ["opt_out"]
    # One confirmation, and nothing after it.
    assert phone.text("STOP") is None
    assert phone.text("SHIFTS") is None
    assert phone.text("hello?") is None


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Please STOP", "en"),
        ("please stop", "en"),
        ("STOP STOP", "en"),
        ("pls stop", "en"),
        ("ok stop", "en"),
        ("por favor ALTO", "es"),
        ("alto por favor", "es"),
    ],
)
def test_courtesy_before_a_stop_word_or_the_word_twice_opts_out(volunteer, db, text, language):
    phone = volunteer()
    confirmation = {
        "en": f"{ORG}: you're unsubscribed and will get no more texts from us. Reply START to "
        "resubscribe.",
        # accents dropped to keep it in one segment
        "es": f"{ORG}: te diste de baja y no recibiras mas mensajes nuestros. Responde UNIRSE "
        "para volver.",
    }
    assert phone.text(text) == confirmation[language]
    v = volunteer_of(db, phone)
    assert (v.status, v.language) == (VolunteerStatus.OPTED_OUT, language)
    assert ledger(db, phone) == [("opt_out", text)]  # not a bare keyword: the text is the proof
    assert posts(db, "flagged") == []
    assert phone.text("SHIFTS") is None


@pytest.mark.parametrize(
    "text",
    [
        "can I stop by the office?",
        "who is this?",
        "wrong number",
        "CANCEL 12",
        "please don't stop the canvass",
    ],
)
def test_messages_that_might_be_opt_outs_are_flagged_not_acted_on(volunteer, db, text) -> None:
    phone = volunteer()
    reply = phone.text(text)
    assert "reply STOP" in reply
    assert volunteer_of(db, phone).status == VolunteerStatus.ACTIVE
    flagged = posts(db, "flagged")
    assert len(flagged) == 1 and text in flagged[0].text
    with db() as s:
        assert s.scalars(select(InboundMessage.flagged)).all() == [True]
    if text == "CANCEL 12":
        assert "DROP 12" in reply


def test_stop_start_stop_in_the_consent_ledger(volunteer, db) -> None:
    phone = volunteer()
    assert "unsubscribed" in phone.text("STOP")
    assert phone.text("HELP") is not None  # HELP always answers, opted out or not
    assert phone.text("YES 3") is None
    back = phone.text("START")
    assert "subscribed again" in back and "Msg & data rates may apply" in back
    assert volunteer_of(db, phone).status == VolunteerStatus.ACTIVE
    assert "unsubscribed" in phone.text("cancel")
    assert "subscribed again" in phone.text("yes")  # a bare YES opts back in, as carriers do
    assert ledger(db, phone) == [
        ("opt_out", "STOP"),
        ("opt_in", "START"),
        ("opt_out", "CANCEL"),
        ("opt_in", "YES"),
    ]


def test_join_after_stop_opts_back_in_and_resumes_onboarding(phone_for, db) -> None:
    phone = phone_for()
    phone.text("JOIN")
    phone.text("STOP")
    back = phone.text("JOIN")
    assert "subscribed again" in back and "first name" in back
    assert [a for a, _ in ledger(db, phone)] == ["opt_in", "opt_out", "opt_in"]


@pytest.mark.parametrize("word", ["JOIN", "START", "YES"])
def test_a_volunteer_on_file_without_consent_subscribes_by_texting_join(
    volunteer, db, word
) -> None:
    """Imported without consent evidence (or once marked unreachable): kept on file, never
    texted, until the volunteer opts in themselves; then the ledger has it and they are active."""
    phone = volunteer(status=VolunteerStatus.UNREACHABLE)
    answer = phone.text(word)
    assert "subscribed" in answer and "Msg & data rates may apply" in answer
    assert "already signed up" not in answer
    assert volunteer_of(db, phone).status == VolunteerStatus.ACTIVE
    assert ledger(db, phone) == [("opt_in", word)]
    assert "already signed up" in phone.text("JOIN")  # and now they are
    assert ledger(db, phone) == [("opt_in", word)]


def test_a_stranger_who_texts_stop_is_remembered_as_opted_out(phone_for, db) -> None:
    phone = phone_for()
    assert "unsubscribed" in phone.text("STOP")
    assert volunteer_of(db, phone).status == VolunteerStatus.OPTED_OUT
    assert phone.text("hi there") is None


@pytest.mark.parametrize(("opt_out_type", "body"), [("STOP", "STOP"), ("STOP", "stopall")])
def test_advanced_opt_out_stop_is_recorded_without_a_second_reply(
    volunteer, db, opt_out_type, body
) -> None:
    phone = volunteer()
    assert phone.text(body, OptOutType=opt_out_type) is None
    assert volunteer_of(db, phone).status == VolunteerStatus.OPTED_OUT
    with db() as s:
        event = s.scalars(select(ConsentEvent)).one()
        assert "Advanced Opt-Out" in event.detail and event.message_sid
    assert phone.text("START", OptOutType="START") is None
    assert volunteer_of(db, phone).status == VolunteerStatus.ACTIVE
    assert phone.text("HELP", OptOutType="HELP") is None
    assert [a for a, _ in ledger(db, phone)] == ["opt_out", "opt_in"]


def test_stop_then_a_broadcast_to_everyone_leaves_the_number_out(volunteer, db) -> None:
    from handlers.audiences import parse_audience
    from handlers.broadcasts import confirm_broadcast, create_draft

    leaving, staying = volunteer(), volunteer()
    with db() as s:
        pending = make_volunteer(s)
        s.add(Delivery(idempotency_key="held", to_phone=leaving.number, body="x", kind="reminder"))
    assert "unsubscribed" in leaving.text("STOP")
    with db() as s:
        draft = create_draft(
            s, body="Canvass Saturday!", audience=parse_audience("all"), created_by="U1", now=T0
        )
        assert confirm_broadcast(s, broadcast_id=draft.id, user_id="U1", now=T0) == 2
        sent_to = set(s.scalars(select(Delivery.to_phone).where(Delivery.broadcast_id == draft.id)))
        assert sent_to == {staying.number, pending.phone}
        held = s.scalars(select(Delivery).where(Delivery.idempotency_key == "held")).one()
        assert held.status == DeliveryStatus.SKIPPED  # queued before the STOP: not sent either


# --- help, Spanish ------------------------------------------------------------------------------


def test_help_names_the_org_and_contact_and_fits_one_segment(volunteer) -> None:
    phone = volunteer()
    for word in ("HELP", "help!", "INFO"):
        reply = phone.text(word)
        assert ORG in reply and "help@massforward.org" in reply and "STOP" in reply
        assert count_segments(reply).segments == 1


def test_spanish_keywords_answer_in_spanish_and_the_language_is_kept(phone_for, db) -> None:
    phone = phone_for()
    welcome = phone.text("HOLA")
    assert "gracias por unirte" in welcome and "ALTO" in welcome and "AYUDA" in welcome
    assert "tarifas" in welcome and ORG in welcome
    assert volunteer_of(db, phone).language == "es"
    assert "código postal" in phone.text("María")
    phone.text("02124")
    assert "Listo" in phone.text("1 2")
    assert phone.text("SHIFTS").startswith("No hay turnos")  # an English keyword, Spanish answer
    assert "Ayuda" in phone.text("AYUDA")
    assert "te diste de baja" in phone.text("ALTO")
    assert ledger(db, phone)[-1] == ("opt_out", "ALTO")


# --- shifts by text -----------------------------------------------------------------------------


def test_shifts_lists_open_ones_nearest_first_in_the_volunteers_zone(volunteer, db) -> None:
    phone = volunteer(zip="02124", timezone="America/Chicago")
    with db() as s:
        far = make_shift(s, starts_at=T0 + timedelta(days=1), zip="01608", title="Worcester doors")
        near = make_shift(s, starts_at=T0 + timedelta(days=2), zip="02125", title="Dot phonebank")
        make_shift(s, starts_at=T0 + timedelta(days=1), capacity=0, title="Full one")
        for i in range(6):
            make_shift(s, starts_at=T0 + timedelta(days=3 + i), zip="90210", title=f"LA {i}")
    reply = phone.text("shifts")
    lines = reply.splitlines()
    assert lines[0] == "Open shifts:"
    assert lines[1] == f"#{near.id} Wed 11/18 9am Dot phonebank (10 left)"  # 15:00 UTC in Chicago
    assert lines[2].startswith(f"#{far.id} Tue 11/17 9am Worcester doors")
    assert "Full one" not in reply and len(lines) == 1 + 5 + 1
    assert lines[-1] == f"Reply YES + number to sign up, e.g. YES {near.id}"
    assert count_segments(reply).segments <= 3


def test_sign_up_waitlist_drop_promotion_my_and_confirm(volunteer, db) -> None:
    first, second = volunteer(first_name="Ana"), volunteer(first_name="Bo")
    with db() as s:
        shift = make_shift(s, starts_at=T0 + timedelta(days=1), capacity=1, title="Canvass")
        past = make_shift(s, starts_at=T0 - timedelta(hours=2))
    n = shift.id
    assert first.text(f"Yes {n}!") == (
        f"You're signed up: #{n} Tue 11/17 10am Canvass. Reply DROP {n} if you can't make it."
    )
    assert "already signed up" in first.text(f"SIGNUP {n}")
    waitlisted = second.text(f"y {n}")
    assert "is full" in waitlisted and "#1 on its waitlist" in waitlisted
    assert "already on the waitlist" in second.text(f"YES #{n}")
    assert second.text("MY") == f"Your shifts:\n#{n} Tue 11/17 10am Canvass (waitlist #1)"
    assert first.text("YES 99999") == "There's no shift 99999. Reply SHIFTS to see open shifts."
    assert "no shift" in first.text("YES 123456789012345678901234567890")
    assert "no shift" in first.text("DROP 0")
    assert "already started" in first.text(f"YES {past.id}")
    assert "not signed up" in second.text(f"DROP {past.id}")
    assert "Which shift?" in first.text("DROP")

    assert first.text(f"DROP {n}") == f"You're off shift {n}. Thanks for letting us know!"
    with db() as s:
        promo = s.scalars(select(Delivery).where(Delivery.kind == "promotion")).one()
        assert promo.to_phone == second.number and f"DROP {n}" in promo.body
        assert s.get(Shift, n).committed_count == 1
    assert "Bo" in posts(db, "drop")[0].text
    assert second.text("my") == f"Your shifts:\n#{n} Tue 11/17 10am Canvass"
    assert "no reminded shift" in second.text("C")
    with db() as s:
        c = s.scalars(select(Commitment).where(Commitment.status == "committed")).one()
        c.reminded_at = T0
    assert (
        second.text("CONFIRM")
        == "Thanks! You're confirmed: #" + f"{n} Tue 11/17 10am Canvass. See you there!"
    )
    assert "(confirmed)" in second.text("MY")


# --- calls to action, check-ins, free text ------------------------------------------------------


def test_a_bare_yes_answers_the_latest_call_to_action(volunteer, db) -> None:
    phone = volunteer()
    with db() as s:
        v = s.scalars(select(Volunteer).where(Volunteer.phone == phone.number)).one()
        older = Broadcast(body="Rally?", audience="all", status="sent", is_call_to_action=True)
        newer = Broadcast(body="Testify?", audience="all", status="sent", is_call_to_action=True)
        s.add_all([older, newer])
        s.flush()
        for b, at in ((older, T0 - timedelta(days=2)), (newer, T0 - timedelta(hours=1))):
            s.add(
                Delivery(
                    idempotency_key=f"bc:{b.id}:{v.id}",
                    broadcast_id=b.id,
                    volunteer_id=v.id,
                    to_phone=phone.number,
                    body=b.body,
                    kind="broadcast",
                    status=DeliveryStatus.DELIVERED,
                    created_at=at,
                    sent_at=at,
                )
            )
    assert "got your YES" in phone.text("Yes!")
    assert phone.text("no") == "Thanks for letting us know."
    with db() as s:
        answers = s.execute(select(CtaResponse.broadcast_id, CtaResponse.answer)).all()
        assert answers == [(newer.id, "no")]


@pytest.mark.parametrize(("answer", "status"), [("Y", "attended"), ("N", "no_show")])
def test_y_or_n_to_a_check_in_records_attendance(volunteer, db, answer, status) -> None:
    phone = volunteer()
    with db() as s:
        v = s.scalars(select(Volunteer).where(Volunteer.phone == phone.number)).one()
        shift = make_shift(s, starts_at=T0 - timedelta(hours=3))
        c = Commitment(volunteer_id=v.id, shift_id=shift.id, status=CommitmentStatus.COMMITTED)
        s.add(c)
        s.flush()
        s.add(
            Delivery(
                idempotency_key=f"rem:{c.id}:checkin",
                volunteer_id=v.id,
                commitment_id=c.id,
                to_phone=phone.number,
                body="Did you make it?",
                kind="checkin",
                status=DeliveryStatus.SENT,
                sent_at=T0 - timedelta(minutes=5),
            )
        )
    assert phone.text(answer) is not None
    with db() as s:
        assert s.get(Commitment, c.id).status == status


def test_anything_else_is_kept_posted_and_acknowledged_once_an_hour(
    volunteer, db, app_container
) -> None:
    phone = volunteer(first_name="Rosa")
    assert "An organizer will read it" in phone.text("Can I bring my kid to the canvass?")
    assert phone.text("She is 12") is None
    app_container.clock.advance(timedelta(minutes=61))
    assert phone.text("thanks!") is not None
    inbox = posts(db, "inbox")
    assert [p.text.splitlines()[1] for p in inbox] == [
        "> Can I bring my kid to the canvass?",
        "> She is 12",
        "> thanks!",
    ]
    assert all("Rosa" in p.text and phone.number not in p.text for p in inbox)
    with db() as s:
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 3


def test_a_stranger_is_told_how_to_join(phone_for, db) -> None:
    phone = phone_for()
    assert "reply JOIN" in phone.text("what is this?")
    assert phone.text("hello??") is None  # once an hour, not once a message
    assert volunteer_of(db, phone) is None
    assert len(posts(db, "inbox")) == 2


# --- any text at all ----------------------------------------------------------------------------


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=st.text(max_size=1600), onboarding=st.booleans())
@example(body="f\x1eùN", onboarding=True)  # a control character inside a name: once a bad TwiML
@example(body="\x00", onboarding=False)  # PostgreSQL text cannot hold NUL
@example(body="a;b&c=d+e%20f ✊🏽", onboarding=False)  # what a form parser could split or decode
def test_any_body_gives_well_formed_twiml_never_an_error(phone_for, body, onboarding) -> None:
    phone = phone_for()
    if onboarding:
        phone.text("JOIN")
    answer = phone.post(phone.params(body))
    assert answer.status == 200, answer.body
    messages = twiml_messages(answer.body)
    assert len(messages) <= 1
    for m in messages:
        assert count_segments(m).segments <= 3


# --- every alias, one row each --------------------------------------------------------------------

ALIASES = [
    # (text, a phrase the reply contains)
    ("INFO", "Reply STOP to opt out"),
    ("ayuda", "ALTO para salir"),
    ("shift", "Open shifts:"),
    ("Turnos", "Turnos abiertos:"),
    ("MY SHIFTS", "no upcoming shifts"),
    ("mine", "no upcoming shifts"),
    ("mis turnos", "No tienes turnos"),
    ("YES {n}", "You're signed up"),
    ("Y {n}", "You're signed up"),
    ("SIGNUP {n}", "You're signed up"),
    ("sign up #{n}", "You're signed up"),
    ("Sí {n}", "inscrito: #"),
    ("c", "no reminded shift"),
    ("CONFIRM", "no reminded shift"),
    ("confirmar", "No tienes un turno por confirmar"),
    ("nombre Ana", "Actualizamos tu nombre"),
    ("DROP {n}", "not signed up"),
    ("JOIN", "already signed up"),
    ("start", "already signed up"),
    ("UNSTOP", "already signed up"),
    ("Subscribe", "already signed up"),
    ("UNIRSE", "TURNOS para ver turnos"),
]


@pytest.mark.parametrize(("text", "expected"), ALIASES)
def test_every_alias_through_the_webhook(volunteer, db, text, expected) -> None:
    phone = volunteer()
    with db() as s:
        shift = make_shift(s, starts_at=T0 + timedelta(days=1))
    assert expected in phone.text(text.format(n=shift.id))


@pytest.mark.parametrize("word", ["JOIN", "START", "UNSTOP", "SUBSCRIBE", "UNIRSE", "HOLA", "YES"])
def test_every_opt_in_word_signs_a_new_number_up(phone_for, db, word) -> None:
    phone = phone_for()
    reply = phone.text(word)
    assert ORG in reply and ("Msg & data rates may apply" in reply or "tarifas" in reply)
    assert volunteer_of(db, phone).status == VolunteerStatus.ACTIVE
    assert [a for a, _ in ledger(db, phone)] == ["opt_in"]
