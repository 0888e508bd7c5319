"""The `POST /twilio/sms` route as Twilio calls it: a missing, forged or mismatched signature
refused with nothing stored; a replayed or doubled message id answered the same and acted on once;
a hundred YES texts at once filling exactly the capacity; and any body at all answered with
well-formed TwiML, never an error."""

from __future__ import annotations

import functools
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from handlers.messages import Channel, InboundText
from handlers.segments import count_segments
from handlers.volunteer.receive import receive_text
from storage.models import Commitment, CommitmentStatus, InboundMessage, Shift, Volunteer
from tests.adapters.sms_phone import AUTH_TOKEN, new_sid, twiml_messages
from tests.adapters.sms_records import volunteer_of
from tests.at_once import all_at_once
from tests.builders import make_shift, make_volunteer, random_phone
from tests.conftest import T0

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


@pytest.mark.parametrize("contact", [None, "help@massforward.org"])
def test_a_real_number_without_org_contact_is_warned_about_at_start(
    db_url, engine, clock, caplog, contact
) -> None:
    import logging

    from starlette.testclient import TestClient

    from bot.bootstrap import bootstrap
    from bot.web import create_app
    from tests.adapters.sms_phone import ACCOUNT_SID
    from tests.conftest import make_settings

    s = make_settings(
        db_url, twilio_auth_token=AUTH_TOKEN, twilio_account_sid=ACCOUNT_SID, org_contact=contact
    )
    caplog.set_level(logging.WARNING, logger="bot.twilio_inbound")
    with TestClient(create_app(bootstrap(s, clock=clock, engine=engine))):
        pass  # started and stopped, its desk with it
    warned = [r for r in caplog.records if "ORG_CONTACT is not set" in r.getMessage()]
    assert len(warned) == (1 if contact is None else 0)
