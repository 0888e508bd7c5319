"""What a volunteer texts and is answered, through the real SMS route: onboarding (name, ZIP,
interests, keywords obeyed midway), NAME and ZIP updates, Spanish, SHIFTS, YES, DROP, MY and
CONFIRM with the waitlist and its promotion, answers to calls to action and check-ins, free text
kept for the organizers, and every keyword alias."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from handlers.segments import count_segments
from storage.models import (
    Broadcast,
    Commitment,
    CommitmentStatus,
    CtaResponse,
    Delivery,
    DeliveryStatus,
    InboundMessage,
    OnboardingStep,
    Shift,
    Volunteer,
    VolunteerStatus,
)
from tests.adapters.sms_records import ORG, ledger, posts, volunteer_of
from tests.builders import make_shift, random_phone
from tests.conftest import T0

INTERESTS_PROMPT = (
    "Reply with numbers: 1 phonebank, 2 canvass, 3 text bank, 4 testify or lobby, 5 host an event"
)


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


def test_a_greeting_or_a_thanks_during_onboarding_gets_the_question_again(phone_for, db) -> None:
    phone = phone_for()
    phone.text("JOIN")
    assert phone.text("hi") == "What's your first name?"  # not "Thanks, Hi!"
    assert phone.text("Hello there!") == "What's your first name?"
    assert phone.text("yes") == "What's your first name?"  # no call to action to answer yet
    assert phone.text("Maria").startswith("Thanks, Maria!")
    assert phone.text("ok thanks") == "What's your 5-digit ZIP code? (or SKIP)"
    assert "How would you like to help?" in phone.text("02124")
    v = volunteer_of(db, phone)
    assert (v.first_name, v.zip, v.zip_attempts) == ("Maria", "02124", 0)
    assert posts(db, "inbox") == []  # small talk is not put before the organizers


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
    assert phone.text("SHIFTS") == (  # no promise of a text that nothing would send
        "No open shifts right now. Reply SHIFTS again in a few days to see new ones."
    )
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


# --- Spanish ------------------------------------------------------------------------------------


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


def test_shifts_lists_open_ones_nearest_first_in_the_volunteers_zone_named(volunteer, db) -> None:
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
    # 15:00 UTC in Chicago, named: the shifts were set in Boston's zone, not the volunteer's
    assert lines[1] == f"#{near.id} Wed 11/18 9am CST Dot phonebank (10 left)"
    assert lines[2].startswith(f"#{far.id} Tue 11/17 9am CST Worcester doors")
    assert "Full one" not in reply and len(lines) == 1 + 5 + 1
    assert lines[-1] == f"Reply YES + number to sign up, e.g. YES {near.id}"
    assert "to see the nearest first" in volunteer(zip=None).text("SHIFTS")  # how to get it
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
    assert first.text("DROP") == (  # which one? their shifts, to pick from
        f"Which shift? You're signed up for:\n#{n} Tue 11/17 10am Canvass\n"
        f"Reply DROP and its number, e.g. DROP {n}."
    )
    assert "You have no upcoming shifts" in volunteer().text("DROP")

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


def test_several_shifts_in_one_text_and_courtesy_around_a_keyword(volunteer, db) -> None:
    ana, bo = volunteer(first_name="Ana"), volunteer(first_name="Bo")
    with db() as s:
        canvass = make_shift(s, starts_at=T0 + timedelta(days=1), capacity=1, title="Canvass")
        bank = make_shift(s, starts_at=T0 + timedelta(days=2), title="Phonebank")
    a, b = canvass.id, bank.id
    assert bo.text(f"yes {a} please") == (
        f"You're signed up: #{a} Tue 11/17 10am Canvass. Reply DROP {a} if you can't make it."
    )
    assert ana.text(f"YES {a}, {b} and 99999") == (
        f"Your shifts:\n#{a}: full, you're #1 on the waitlist\n"
        f"#{b} Wed 11/18 10am Phonebank: signed up\n#99999: no such shift\n"
        "Reply DROP and a number if you can't make one."
    )
    assert ana.text("MY") == (
        f"Your shifts:\n#{a} Tue 11/17 10am Canvass (waitlist #1)\n#{b} Wed 11/18 10am Phonebank"
    )
    assert ana.text(f"Sí {a} y {b}").startswith("Tus turnos:\n")  # already on both, in Spanish
    assert ana.text(f"drop {a} {b} thanks") == (  # accents folded to keep it one segment
        f"Tus turnos:\n#{a}: fuera de la lista de espera\n#{b}: ya no estas\n¡Gracias por avisar!"
    )
    with db() as s:
        mine = s.scalars(select(Commitment.status).where(Commitment.shift_id.in_((a, b))))
        assert sorted(mine) == ["committed", "dropped", "dropped"]  # Bo's seat is kept
    assert posts(db, "drop")  # the organizers hear of the seat freed on the phonebank


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


def test_a_question_at_the_zip_or_interests_step_reaches_the_organizers(phone_for, db) -> None:
    phone = phone_for()
    phone.text("JOIN")
    phone.text("Ana")
    asked = phone.text("when is the next canvass?")
    assert "isn't a US ZIP code" not in asked and "ZIP code? (or SKIP)" in asked
    assert "when is the next canvass?" in posts(db, "inbox")[-1].text
    v = volunteer_of(db, phone)
    assert (v.onboarding_step, v.zip_attempts) == (OnboardingStep.ZIP, 0)
    assert INTERESTS_PROMPT in phone.text("02124")
    assert INTERESTS_PROMPT in phone.text("Is there parking at the office?")
    assert "Is there parking at the office?" in posts(db, "inbox")[-1].text
    assert volunteer_of(db, phone).onboarding_step == OnboardingStep.INTERESTS
    assert "all set, Ana" in phone.text("1")
