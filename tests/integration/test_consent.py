"""Consent: status and ledger change together; an opt-out stops what was already queued."""

from __future__ import annotations

from sqlalchemy import select

from handlers.consent import is_opted_out, record_opt_in, record_opt_out
from storage.models import (
    ConsentAction,
    ConsentEvent,
    Delivery,
    DeliveryStatus,
    VolunteerStatus,
)
from tests.builders import make_volunteer, random_phone
from tests.conftest import T0


def test_opt_out_then_in_updates_the_volunteer_and_appends_to_the_ledger(uow) -> None:
    with uow:
        s = uow.session
        v = make_volunteer(s)
        other = make_volunteer(s)
        for who, key in ((v, "a"), (v, "b"), (other, "c")):
            s.add(Delivery(idempotency_key=key, to_phone=who.phone, body="hi", kind="broadcast"))
        s.flush()
        record_opt_out(
            s, phone=v.phone, volunteer=v, keyword="STOP", channel="sms", now=T0, message_sid="SM1"
        )
        assert is_opted_out(v) and v.opted_out_at == T0
        statuses = dict(s.execute(select(Delivery.idempotency_key, Delivery.status)).all())
        assert statuses == {
            "a": DeliveryStatus.SKIPPED,
            "b": DeliveryStatus.SKIPPED,
            "c": DeliveryStatus.PENDING,
        }
        record_opt_in(s, phone=v.phone, volunteer=v, keyword="START", channel="sms", now=T0)
        assert v.status == VolunteerStatus.ACTIVE
        uow.commit()
    with uow:
        ledger = uow.session.scalars(select(ConsentEvent).order_by(ConsentEvent.id)).all()
        assert [(e.action, e.keyword, e.message_sid) for e in ledger] == [
            (ConsentAction.OPT_OUT, "STOP", "SM1"),
            (ConsentAction.OPT_IN, "START", None),
        ]
        assert {e.volunteer_id for e in ledger} == {v.id}


def test_an_unknown_number_opting_out_is_still_recorded(uow) -> None:
    phone = random_phone()
    with uow:
        record_opt_out(
            uow.session, phone=phone, volunteer=None, keyword="CANCEL", channel="sms", now=T0
        )
        uow.commit()
    with uow:
        event = uow.session.scalars(select(ConsentEvent)).one()
        assert (event.phone, event.action, event.volunteer_id) == (phone, "opt_out", None)
