"""Consent by text through the real SMS route: every STOP word and plain request opts out at
once, with one confirmation and silence after; texts that only might be opt-outs are flagged, not
acted on; START, JOIN and the other opt-in words subscribe, each change in the consent ledger;
Twilio's Advanced Opt-Out recorded without a second reply; an opted-out number left out of a
broadcast; and HELP, which always answers."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from handlers.segments import count_segments
from storage.models import ConsentEvent, Delivery, DeliveryStatus, InboundMessage, VolunteerStatus
from tests.adapters.sms_records import ORG, ledger, posts, volunteer_of
from tests.builders import make_volunteer
from tests.conftest import T0

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
        "cancel my shift",
        "I have to cancel my spot on saturday",
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
    if "cancel my" in text:  # a shift, with no number: how to leave one, and how to stop
        assert "to leave a shift, reply DROP and its number (MY lists yours)" in reply


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


# --- help ---------------------------------------------------------------------------------------


def test_help_names_the_org_and_contact_and_fits_one_segment(volunteer) -> None:
    phone = volunteer()
    for word in ("HELP", "help!", "INFO"):
        reply = phone.text(word)
        assert ORG in reply and "help@massforward.org" in reply and "STOP" in reply
        assert count_segments(reply).segments == 1


def test_help_tells_a_stranger_how_to_join_and_an_opted_out_number_how_to_come_back(
    volunteer, phone_for
) -> None:
    stranger = phone_for()
    told = stranger.text("HELP")
    assert "Reply JOIN to sign up" in told and "SHIFTS" not in told and ORG in told
    member = volunteer()
    assert "Reply SHIFTS for shifts" in member.text("HELP")
    member.text("STOP")
    back = member.text("HELP")
    assert "You're unsubscribed: reply START to get our texts again" in back
    assert "help@massforward.org" in back and count_segments(back).segments == 1
    assert "Responde HOLA para inscribirte" in phone_for().text("AYUDA")


# --- every opt-in word --------------------------------------------------------------------------


@pytest.mark.parametrize("word", ["JOIN", "START", "UNSTOP", "SUBSCRIBE", "UNIRSE", "HOLA", "YES"])
def test_every_opt_in_word_signs_a_new_number_up(phone_for, db, word) -> None:
    phone = phone_for()
    reply = phone.text(word)
    assert ORG in reply and ("Msg & data rates may apply" in reply or "tarifas" in reply)
    assert volunteer_of(db, phone).status == VolunteerStatus.ACTIVE
    assert [a for a, _ in ledger(db, phone)] == ["opt_in"]
