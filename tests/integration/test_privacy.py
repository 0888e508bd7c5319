"""`muster forget PHONE`: personal data erased everywhere, the consent ledger's proof kept."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from bot.bootstrap import Container
from bot.cli import main
from bot.csv_import import import_volunteers_from
from handlers.phones import masked
from handlers.privacy import ERASED, forget_volunteer
from storage.db import make_session_factory
from storage.models import (
    AuditEntry,
    Commitment,
    CommitmentStatus,
    ConsentAction,
    ConsentEvent,
    Delivery,
    DeliveryStatus,
    InboundMessage,
    SlackPost,
    Volunteer,
    VolunteerStatus,
    VolunteerTag,
)
from tests.builders import make_shift, make_volunteer, random_phone
from tests.conftest import T0


def _world(engine: Engine) -> dict[str, object]:
    """Maria (to be forgotten) with everything Muster can hold about her, and Sam (to be kept)."""
    with make_session_factory(engine)() as s:
        maria = make_volunteer(
            s,
            first_name="Maria",
            zip="02124",
            email="maria@example.org",
            tags=["canvass", "phonebank"],
        )
        sam = make_volunteer(s, first_name="Sam", tags=["canvass"])
        shift = make_shift(s, starts_at=T0 + timedelta(days=2), committed_count=1)
        s.add(
            Commitment(volunteer_id=maria.id, shift_id=shift.id, status=CommitmentStatus.COMMITTED)
        )
        s.add(
            ConsentEvent(
                phone=maria.phone,
                volunteer_id=maria.id,
                action=ConsentAction.OPT_IN,
                keyword="JOIN",
                channel="sms",
                message_sid="SMjoin",
                occurred_at=T0 - timedelta(days=3),
            )
        )
        for n, (who, body) in enumerate(
            [(maria, "JOIN"), (maria, "Maria here, I live on Elm St"), (sam, "JOIN")]
        ):
            s.add(
                InboundMessage(
                    message_sid=f"SM{n}",
                    from_phone=who.phone,
                    body=body,
                    volunteer_id=who.id,
                    reply=f"Thanks {who.first_name}!",
                    received_at=T0,
                )
            )
        for key, who, status in [
            ("m-sent", maria, DeliveryStatus.DELIVERED),
            ("m-pending", maria, DeliveryStatus.PENDING),
            ("s-pending", sam, DeliveryStatus.PENDING),
        ]:
            s.add(
                Delivery(
                    idempotency_key=key,
                    volunteer_id=who.id,
                    to_phone=who.phone,
                    body=f"Hi {who.first_name}, canvass Saturday?",
                    kind="broadcast",
                    status=status,
                )
            )
        s.add(SlackPost(kind="inbox", volunteer_id=maria.id, text="Maria: I live on Elm St"))
        s.commit()
        return {"maria": maria.phone, "maria_id": maria.id, "sam": sam.phone, "sam_id": sam.id}


def test_forget_erases_personal_data_and_keeps_the_consent_proof(
    engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    world = _world(engine)
    monkeypatch.setenv("DATABASE_URL", db_url)
    # The operator types the number the way people write it.
    maria_phone = str(world["maria"])
    typed = f"({maria_phone[2:5]}) {maria_phone[5:8]}-{maria_phone[8:]}"

    assert main(["forget", typed]) == 0
    out = capsys.readouterr().out
    assert masked(maria_phone) in out and maria_phone not in out

    with make_session_factory(engine)() as s:
        maria = s.get(Volunteer, world["maria_id"])
        assert maria.phone is None and maria.first_name is None and maria.zip is None
        assert maria.email is None
        assert maria.status == VolunteerStatus.OPTED_OUT and maria.forgotten_at is not None
        assert (
            s.scalars(select(VolunteerTag).where(VolunteerTag.volunteer_id == maria.id)).all() == []
        )
        # Her commitment stays, anonymous, so rosters and counts still add up.
        assert s.scalar(select(Commitment).where(Commitment.volunteer_id == maria.id)) is not None

        texts = s.scalars(
            select(InboundMessage).where(InboundMessage.volunteer_id == maria.id)
        ).all()
        assert len(texts) == 2
        assert all(t.body is None and t.from_phone is None and t.reply is None for t in texts)
        sent = {d.idempotency_key: d for d in s.scalars(select(Delivery))}
        assert sent["m-sent"].body == ERASED and sent["m-sent"].to_phone != maria_phone
        assert sent["m-sent"].status == DeliveryStatus.DELIVERED  # the record of what happened
        assert sent["m-pending"].status == DeliveryStatus.SKIPPED  # never sent now
        assert s.scalar(select(SlackPost.text)) == ERASED

        # The ledger keeps the phone: the opt-in she gave, and the opt-out her request amounts to.
        ledger = s.scalars(select(ConsentEvent).order_by(ConsentEvent.id)).all()
        assert [(e.phone, e.action) for e in ledger] == [
            (maria_phone, ConsentAction.OPT_IN),
            (maria_phone, ConsentAction.OPT_OUT),
        ]
        assert ledger[1].channel == "cli"

        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "volunteer.forget"))
        assert entry.actor == "cli" and entry.target == masked(maria_phone)
        assert maria_phone not in str(entry.detail)

        # Nobody else was touched.
        sam = s.get(Volunteer, world["sam_id"])
        assert (
            sam.phone == world["sam"] and sam.first_name == "Sam" and sam.tag_names == ["canvass"]
        )
        assert sent["s-pending"].status == DeliveryStatus.PENDING
        assert sent["s-pending"].body.startswith("Hi Sam")
        sams = s.scalar(select(InboundMessage).where(InboundMessage.volunteer_id == sam.id))
        assert sams.body == "JOIN" and sams.from_phone == world["sam"]

        # The full number survives nowhere but the ledger.
        for model, columns in [
            (Volunteer, ["phone"]),
            (InboundMessage, ["from_phone", "body"]),
            (Delivery, ["to_phone", "body"]),
            (SlackPost, ["text"]),
        ]:
            for column in columns:
                values = s.scalars(select(getattr(model, column))).all()
                assert all(maria_phone not in (v or "") for v in values), (model, column)


def test_forget_twice_and_unknown_numbers(
    engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    world = _world(engine)
    monkeypatch.setenv("DATABASE_URL", db_url)
    assert main(["forget", str(world["maria"])]) == 0
    assert main(["forget", str(world["maria"])]) == 1  # nothing left to erase, and it says so
    assert "No volunteer, text or delivery is held" in capsys.readouterr().out
    # A number with nothing on file: its opt-out is recorded all the same (exit 0), once.
    unknown = random_phone()
    assert main(["forget", unknown]) == 0
    assert "opt-out is recorded in the consent ledger" in capsys.readouterr().out
    assert main(["forget", unknown]) == 1
    assert main(["forget", "not-a-number"]) == 2
    assert "not a valid phone number" in capsys.readouterr().err


def test_forget_a_number_that_only_texted_and_an_opted_out_volunteer(uow, clock) -> None:
    """A number that texted without ever joining, and a volunteer who had already opted out:
    their texts are erased; the stranger's erasure is recorded as its opt-out (no volunteer on
    file), and no second opt-out is written over the existing proof."""
    stranger = random_phone()
    with uow:
        gone = make_volunteer(uow.session, status=VolunteerStatus.OPTED_OUT)
        uow.session.add(
            ConsentEvent(
                phone=gone.phone,
                volunteer_id=gone.id,
                action=ConsentAction.OPT_OUT,
                keyword="STOP",
                channel="sms",
                occurred_at=T0,
            )
        )
        uow.session.add(InboundMessage(message_sid="SMx", from_phone=stranger, body="who is this?"))
        uow.commit()
        gone_phone = gone.phone

    with uow:
        outcome = forget_volunteer(
            uow.session, phone=stranger, actor="U0ORGANIZER", channel="slack", now=clock.now()
        )
        assert not outcome.volunteer_found and outcome.inbound_erased == 1
        outcome = forget_volunteer(
            uow.session, phone=gone_phone, actor="U0ORGANIZER", channel="slack", now=clock.now()
        )
        assert outcome.volunteer_found and not outcome.opted_out_now
        uow.commit()

    with uow:
        assert uow.session.scalar(select(InboundMessage.body)) is None
        ledger = uow.session.scalars(select(ConsentEvent)).all()
        assert sorted((e.phone, e.keyword or "", e.action) for e in ledger) == sorted(
            [(gone_phone, "STOP", ConsentAction.OPT_OUT), (stranger, "", ConsentAction.OPT_OUT)]
        )
        actors = uow.session.scalars(select(AuditEntry.actor)).all()
        assert actors == ["U0ORGANIZER", "U0ORGANIZER"]


def test_forgetting_a_volunteer_who_is_not_active_records_the_opt_out_too(
    container: Container,
) -> None:
    """Imported without consent, or unreachable after a carrier error: erasure is still a request
    to stop texting, so a later import with consent evidence cannot sign the number up again.
    A number whose latest record is an opt-out already gets no second one."""
    with container.uow() as uow:
        s = uow.session
        imported = make_volunteer(s, status=VolunteerStatus.UNREACHABLE, opted_in_at=None)
        bounced = make_volunteer(s, status=VolunteerStatus.UNREACHABLE)
        stopped = make_volunteer(s, status=VolunteerStatus.UNREACHABLE)
        for v, action, keyword, days_ago in (
            (bounced, ConsentAction.OPT_IN, "JOIN", 10),
            (stopped, ConsentAction.OPT_OUT, "STOP", 5),
        ):
            s.add(
                ConsentEvent(
                    phone=v.phone,
                    volunteer_id=v.id,
                    action=action,
                    keyword=keyword,
                    channel="sms",
                    occurred_at=T0 - timedelta(days=days_ago),
                )
            )
        uow.commit()
        phones = [imported.phone, bounced.phone, stopped.phone]

    with container.uow() as uow:
        outcomes = [
            forget_volunteer(uow.session, phone=p, actor="cli", channel="cli", now=T0)
            for p in phones
        ]
        uow.commit()
    assert [o.opted_out_now for o in outcomes] == [True, True, False]
    with container.read_uow() as uow:
        ledger = uow.session.scalars(select(ConsentEvent).order_by(ConsentEvent.id)).all()
        assert [(e.phone, e.action, e.channel) for e in ledger if e.occurred_at == T0] == [
            (phones[0], ConsentAction.OPT_OUT, "cli"),
            (phones[1], ConsentAction.OPT_OUT, "cli"),
        ]
        assert len(ledger) == 4

    # A list that still has them, with consent evidence, is refused for every one.
    text = "phone,name,opted_in_at\n" + "".join(f"{p},Again,2026-11-01\n" for p in phones)
    rejects = io.StringIO()
    report = import_volunteers_from(container, io.StringIO(text), rejects=rejects)
    assert (report.created, report.subscribed, report.rejected) == (0, 0, 3)
    assert all(
        r["reason"].startswith("opted out:")
        for r in csv.DictReader(io.StringIO(rejects.getvalue()))
    )
