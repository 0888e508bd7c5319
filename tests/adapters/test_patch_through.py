"""Patch-through calls (TWILIO_VOICE=on) end to end: CALL's offer by the real SMS route, the call
placed through the twilio library's Calls API against the fake Twilio, and the call played out
by the fake against the real, signed `POST /twilio/voice` webhook: script, office dialled with the
volunteer's number, outcome recorded, DONE counted once; quiet hours, opt-outs and the digit rule
hold."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select, update
from starlette.testclient import TestClient

from bot import legislators_cli
from bot.bootstrap import Container, bootstrap
from bot.parts import caller_wiring
from bot.settings import SettingsError, load_settings
from bot.web import create_app
from handlers import votes
from handlers.broadcasts import confirm_broadcast, create_draft
from handlers.call_tally import call_tally, call_totals
from handlers.organizer.parsing import parse_local_time
from handlers.patch_calls import place_due
from handlers.ports import FixedClock
from storage.calls import CallStatus, PatchCall
from storage.districts import DistrictSource, set_district
from storage.legislators import CallReport
from storage.models import Delivery, DeliveryStatus, Volunteer, VolunteerStatus
from tests.adapters.sms_phone import ACCOUNT_SID, AUTH_TOKEN, Phone
from tests.adapters.test_sms_call import MA_CSV, US_CSV
from tests.builders import make_volunteer, random_phone
from tests.conftest import T0, make_settings
from tests.fakes.twilio_api import FakeTwilio
from tests.fakes.twilio_calls import Transcript

PUBLIC = "https://muster.example.org"
GROUP = "+16175550100"
ANA = {
    "sldl": "ma/sldl:5th_bristol",
    "sldu": "ma/sldu:1st_bristol_and_plymouth",
    "cd": "ma/cd:4",
}
OFFER_ANA = (
    "Or reply 1 to be connected to State Rep. Patricia Haddad now (2: State Sen. Marc Pacheco, "
    "3: US Rep. Jake Auchincloss)."
)


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as server:
        yield server


def _container(db_url: str, engine: Engine, clock: FixedClock, fake: FakeTwilio, tmp: Path,
               *, voice: bool = True) -> Container:  # fmt: skip
    settings = make_settings(
        db_url, twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN,
        twilio_api_url=fake.url, twilio_from_number=GROUP, twilio_voice=voice,
    )  # fmt: skip
    container = bootstrap(settings, clock=clock, engine=engine)
    for name, text in (("ma.csv", MA_CSV), ("us.csv", US_CSV)):
        (tmp / name).write_text(text, encoding="utf-8")
        assert legislators_cli.load(container, str(tmp / name)) == 0
    return container


@pytest.fixture
def app(db_url: str, engine: Engine, clock: FixedClock, fake: FakeTwilio, tmp_path: Path):
    return _container(db_url, engine, clock, fake, tmp_path)


@pytest.fixture
def client(app: Container) -> Iterator[TestClient]:
    with TestClient(create_app(app), base_url=PUBLIC) as c:
        yield c


def _volunteer(client: TestClient, app: Container, districts: dict[str, str], **kw) -> Phone:
    number = random_phone()
    with app.uow() as uow:
        v = make_volunteer(uow.session, phone=number, member_since=date(2025, 1, 1), **kw)
        for chamber, district in districts.items():
            set_district(uow.session, volunteer_id=v.id, chamber=chamber, district=district,
                         source=DistrictSource.IMPORT, vintage=None, now=T0)  # fmt: skip
        uow.commit()
    return Phone(client, number, public_url=PUBLIC)


def _call_to_action(app: Container) -> int:
    with app.uow() as uow:
        draft = create_draft(uow.session, body="The bill is up Tuesday. Can you call? YES/NO",
                             audience="all", created_by="U1", now=app.clock.now())  # fmt: skip
        confirm_broadcast(uow.session, broadcast_id=draft.id, user_id="U1", now=app.clock.now())
        uow.session.execute(
            update(Delivery).where(Delivery.broadcast_id == draft.id)
            .values(status=DeliveryStatus.SENT, sent_at=app.clock.now())
        )  # fmt: skip
        uow.commit()
        return draft.id


def _place(app: Container) -> int:
    """One pass of the worker's caller, through the real TwilioVoiceCaller."""
    wiring = caller_wiring(app)
    return place_due(wiring["uow"], wiring["caller"], app.clock, app.org,
                     urls=wiring["urls"], worker="test:1:abc")  # fmt: skip


def _poster(client: TestClient):
    def post(url: str, params: dict[str, str], signature: str) -> tuple[int, str]:
        response = client.post(url, data=params, headers={"X-Twilio-Signature": signature})
        return response.status_code, response.text

    return post


def _play(fake: FakeTwilio, client: TestClient, **how) -> Transcript:
    sid = fake.calls.created()[-1]["Sid"]
    return fake.calls.run(sid, _poster(client), **how)


def _calls(app: Container) -> list[PatchCall]:
    with app.read_uow() as uow:
        rows = list(uow.session.scalars(select(PatchCall).order_by(PatchCall.id)))
        uow.session.expunge_all()
        return rows


def _boston(text: str):
    return parse_local_time(text, ZoneInfo("America/New_York"))


def _reports(app: Container) -> int:
    with app.read_uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(CallReport)) or 0


def test_a_patch_through_call_connects_the_volunteer_and_counts_as_done(
    client: TestClient, app: Container, fake: FakeTwilio
) -> None:
    ana = _volunteer(client, app, ANA, first_name="Ana")
    bid = _call_to_action(app)
    assert ana.text("CALL") == (
        "Call State Rep. Patricia Haddad (617) 722-2600; State Sen. Marc Pacheco (617) 722-1551; "
        "US Rep. Jake Auchincloss (202) 225-5931. Reply DONE when you've called. " + OFFER_ANA
    )
    assert ana.text("2") == (
        "Calling you now from (617) 555-0100. Pick up and we'll connect you to State Sen. Marc "
        "Pacheco's office."
    )
    assert _place(app) == 1
    assert _place(app) == 0  # placed once
    [created] = fake.calls.created()
    (row,) = _calls(app)
    assert created["To"] == ana.number and created["From"] == GROUP
    assert created["Url"] == f"{PUBLIC}/twilio/voice?call={row.id}&step=answer"
    assert created["StatusCallback"] == f"{PUBLIC}/twilio/voice?call={row.id}&step=status"
    assert created["MachineDetection"] == "Enable"
    assert row.status == CallStatus.PLACED and row.call_sid == created["Sid"]

    heard = _play(fake, client, office="completed", talk=95)
    assert heard.answers == [200, 200, 204]
    assert heard.said[0].startswith("Hello Ana. This is Mass Forward. We are connecting you to "
                                    "the office of State Sen. Marc Pacheco.")  # fmt: skip
    assert heard.dialled == "+16177221551"
    assert heard.caller_id == ana.number  # the office sees its constituent's number
    assert heard.said[1] == "Thank you for making this call. You can hang up now. Goodbye."
    (row,) = _calls(app)
    assert (row.status, row.outcome, row.connected) == (CallStatus.ENDED, "completed", True)
    assert (row.dial_status, row.dial_seconds, row.call_seconds) == ("completed", 95, 113)
    assert row.answered_at is not None and row.ended_at is not None
    assert _reports(app) == 1
    assert ana.text("DONE") == "Already counted. Thank you!"
    with app.read_uow() as uow:
        assert call_totals(uow.session, bid).done == 1
        report = call_tally(uow.session, bid).text()
    assert "Patch-through calls: 1 asked for, 1 connected (1m 35s with offices)" in report


def test_outcomes_without_a_conversation_are_recorded_and_not_counted(
    client: TestClient, app: Container, fake: FakeTwilio
) -> None:
    busy, away, machine = (_volunteer(client, app, ANA) for _ in range(3))
    bid = _call_to_action(app)
    outcomes = {}
    for phone, how in ((busy, {"office": "busy"}), (away, {"answered_by": None}),
                       (machine, {"answered_by": "machine_start"})):  # fmt: skip
        phone.text("CALL")
        phone.text("1")
        assert _place(app) == 1
        outcomes[phone.number] = _play(fake, client, **how)
    assert outcomes[busy.number].said[-1] == (
        "The office did not pick up. You can call them yourself at (617) 722-2600. Goodbye."
    )
    assert outcomes[machine.number].said == [] and outcomes[machine.number].hung_up
    assert outcomes[machine.number].dialled is None
    assert outcomes[away.number].dialled is None
    got = {(r.outcome, r.connected, r.dial_status) for r in _calls(app)}
    assert got == {("completed", False, "busy"), ("no-answer", False, None),
                   ("voicemail", False, None)}  # fmt: skip
    assert _reports(app) == 0
    with app.read_uow() as uow:
        assert call_tally(uow.session, bid).calls.line() == (
            "Patch-through calls: 3 asked for, 0 connected (0m 00s with offices)"
        )


def test_the_digit_answers_the_latest_live_offer(
    client: TestClient, app: Container, clock: FixedClock
) -> None:
    ana = _volunteer(client, app, ANA)
    ana.text("CALL")
    clock.advance(timedelta(minutes=16))  # the offer ran out: the digit is free text again
    assert ana.text("1") == "Mass Forward: thanks, we got your message. An organizer will read it."
    assert [r.status for r in _calls(app)] == [CallStatus.OFFERED]

    ana.text("CALL")
    assert ana.text("7").startswith("Reply 1-3 to be connected (1 State Rep. Patricia Haddad)")
    # A ballot opening after the offer takes the digit back: it is a vote.
    clock.advance(timedelta(minutes=1))
    fields = {"question": "Endorse for Senate?", "options": "Yes|No", "to": "all",
              "closes": "2026-11-20 10:00"}  # fmt: skip
    request = votes.check_request(fields, org=app.org, now=clock.now(), parse_time=_boston)
    with app.uow() as uow:
        ballot = votes.create_ballot(uow.session, request, created_by="U1", now=clock.now())
        votes.confirm_ballot(uow.session, ballot, user_id="U1", now=clock.now(), org=app.org)
        uow.commit()
    clock.advance(timedelta(minutes=1))
    assert ana.text("1").startswith(f"Vote counted on #{ballot.id}: 1 Yes.")
    # ... and a CALL after the ballot takes it again.
    assert ana.text("CALL").endswith(OFFER_ANA)
    assert ana.text("3").startswith("Calling you now from (617) 555-0100.")
    assert [r.status for r in _calls(app)][-1] == CallStatus.QUEUED


def test_quiet_hours_and_opt_outs_hold_for_calls(
    client: TestClient, app: Container, fake: FakeTwilio, clock: FixedClock
) -> None:
    ana, ben, cy = (_volunteer(client, app, ANA) for _ in range(3))
    clock.set(T0.replace(hour=1, minute=50))  # 20:50 in Boston: an offer, then quiet hours
    assert ana.text("CALL").endswith(OFFER_ANA)
    clock.advance(timedelta(minutes=12))  # 21:02, the offer still live
    assert ana.text("1") == (
        "We don't place calls at this hour. Call State Rep. Patricia Haddad at (617) 722-2600 "
        "when the office opens, then reply DONE."
    )
    assert not ben.text("CALL").endswith(OFFER_ANA)  # no offer in quiet hours
    assert _place(app) == 0 and fake.calls.created() == []

    clock.set(T0)
    ben.text("CALL")
    ben.text("1")
    ben.text("STOP")  # before the caller's pass: no call at all
    assert _place(app) == 0 and fake.calls.created() == []
    cy.text("CALL")
    cy.text("1")
    assert _place(app) == 1
    cy.text("CANCEL")  # after the call was placed, before they pick up: hung up, nothing dialled
    heard = _play(fake, client)
    assert heard.hung_up and heard.dialled is None
    outcomes = [(r.status, r.outcome) for r in _calls(app)]
    assert outcomes == [
        (CallStatus.CANCELLED, "quiet_hours"),
        (CallStatus.CANCELLED, "opted_out"),
        (CallStatus.ENDED, "opted_out"),
    ]


def test_twilio_refusals_are_retried_when_they_may_pass_and_a_lost_claim_is_never_redialled(
    client: TestClient, app: Container, fake: FakeTwilio, clock: FixedClock
) -> None:
    ana, ben = _volunteer(client, app, ANA), _volunteer(client, app, ANA)
    fake.fail(code=20429, times=1, to=ana.number)
    fake.fail(code=21211, to=ben.number)
    for phone in (ana, ben):
        phone.text("CALL")
        phone.text("1")
    assert _place(app) == 2
    assert len(fake.calls.created()) == 0
    clock.advance(timedelta(seconds=6))
    assert _place(app) == 1  # ana again; ben's refusal is for good
    assert [c["To"] for c in fake.calls.created()] == [ana.number]
    rows = {r.volunteer_id: r for r in _calls(app)}
    with app.read_uow() as uow:
        ben_id = uow.session.scalar(select(Volunteer.id).where(Volunteer.phone == ben.number))
    assert (rows[ben_id].status, rows[ben_id].outcome, rows[ben_id].error_code) == (
        CallStatus.ENDED, "failed", "21211",
    )  # fmt: skip

    # A caller that died between claiming a call and writing Twilio's answer: lost, not redialled.
    cy = _volunteer(client, app, ANA)
    cy.text("CALL")
    cy.text("1")
    with app.uow() as uow:
        uow.session.execute(
            update(PatchCall).where(PatchCall.status == CallStatus.QUEUED)
            .values(status=CallStatus.DIALING, claimed_by="gone:1:x", claimed_at=clock.now())
        )  # fmt: skip
        uow.commit()
    clock.advance(timedelta(minutes=3))
    assert _place(app) == 0
    assert _calls(app)[-1].status == CallStatus.LOST
    assert len(fake.calls.created()) == 1


def test_forged_voice_webhooks_are_refused_and_change_nothing(
    client: TestClient, app: Container, fake: FakeTwilio
) -> None:
    ana = _volunteer(client, app, ANA)
    ana.text("CALL")
    ana.text("1")
    _place(app)
    sid = fake.calls.created()[0]["Sid"]

    def forged(url: str, params: dict[str, str], _signature: str) -> tuple[int, str]:
        response = client.post(url, data=params, headers={"X-Twilio-Signature": "bm90IGl0"})
        return response.status_code, "<Response/>"

    heard = fake.calls.run(sid, forged)
    assert set(heard.answers) == {403}
    (row,) = _calls(app)
    assert (row.status, row.answered_at, row.outcome) == (CallStatus.PLACED, None, None)


def test_without_twilio_voice_call_offers_nothing_and_the_webhook_is_not_there(
    db_url: str, engine: Engine, clock: FixedClock, fake: FakeTwilio, tmp_path: Path
) -> None:
    app = _container(db_url, engine, clock, fake, tmp_path, voice=False)
    with TestClient(create_app(app), base_url=PUBLIC) as client:
        ana = _volunteer(client, app, ANA)
        assert ana.text("CALL").endswith("Reply DONE when you've called.")
        assert client.post("/twilio/voice", data={}).status_code == 404
    with pytest.raises(SettingsError, match="TWILIO_VOICE=on needs"):
        load_settings(_env_file=None, database_url=db_url, twilio_voice="on")
    with app.read_uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(PatchCall)) == 0
        assert uow.session.scalar(select(Volunteer.status)) == VolunteerStatus.ACTIVE
