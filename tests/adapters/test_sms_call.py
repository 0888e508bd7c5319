"""CALL and DONE by text, and a call to action's follow-ups, through the real SMS route: after
`muster legislators load`, volunteers in three districts each get their own legislators; DONE
is counted once; `on_yes` is texted once per YES, never after an opt-out, held in quiet hours."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, time
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from starlette.testclient import TestClient

from bot import legislators_cli, slack_render_reports
from bot.bootstrap import Container, bootstrap
from bot.web import create_app
from handlers.broadcasts import confirm_broadcast, create_draft
from handlers.messages import Channel, OrganizerCommand
from handlers.organizer.commands import run_command
from handlers.organizer.stats import dashboard
from handlers.ports import FixedClock
from handlers.sending import SendPolicy, claim_due
from storage.districts import DistrictSource, set_district
from storage.legislators import CallReport
from storage.models import Delivery, DeliveryStatus, Volunteer, VolunteerStatus
from storage.outbox import ensure_rate_bucket
from tests.adapters.sms_phone import ACCOUNT_SID, AUTH_TOKEN, Phone
from tests.builders import make_volunteer, random_phone
from tests.conftest import T0, make_settings

MA_CSV = (
    "name,current_party,current_district,current_chamber,capitol_voice,district_voice,email\n"
    "Patricia Haddad,Democratic,5th Bristol,lower,617-722-2600,,\n"
    "Carol Doherty,Democratic,3rd Bristol,lower,617-722-2230,,\n"
    "Bill Straus,Democratic,10th Bristol,lower,,508-672-0144,\n"
    "Marc Pacheco,Democratic,1st Bristol and Plymouth,upper,617-722-1551,,\n"
)
US_CSV = (
    "name,current_party,current_district,current_chamber,capitol_voice,district_voice,email\n"
    "Jake Auchincloss,Democratic,MA-4,lower,202-225-5931,,\n"
)
POLICY = SendPolicy(
    quiet_hours=(time(21, 0), time(9, 0)), default_timezone="America/New_York", rate_mps=1000.0
)


@pytest.fixture
def app(db_url: str, engine, clock: FixedClock, tmp_path: Path) -> Container:
    s = make_settings(db_url, twilio_auth_token=AUTH_TOKEN, twilio_account_sid=ACCOUNT_SID)
    container = bootstrap(s, clock=clock, engine=engine)
    for name, text in (("ma.csv", MA_CSV), ("us.csv", US_CSV)):
        (tmp_path / name).write_text(text, encoding="utf-8")
        assert legislators_cli.load(container, str(tmp_path / name)) == 0
    return container


@pytest.fixture
def client(app: Container) -> Iterator[TestClient]:
    with TestClient(create_app(app)) as c:
        yield c


def _volunteer(client: TestClient, app: Container, districts: dict[str, str], **kw) -> Phone:
    number = random_phone()
    with app.uow() as uow:
        v = make_volunteer(uow.session, phone=number, **kw)
        for chamber, district in districts.items():
            set_district(uow.session, volunteer_id=v.id, chamber=chamber, district=district,
                         source=DistrictSource.IMPORT, vintage=None, now=T0)  # fmt: skip
        uow.commit()
    return Phone(client, number, public_url=app.settings.public_url)


def _call_to_action(app: Container, **follow_ups: str) -> int:
    """A confirmed call to action to everyone, its texts as Twilio accepted them."""
    with app.uow() as uow:
        draft = create_draft(uow.session, body="The bill is up Tuesday. Can you call? YES/NO",
                             audience="all", created_by="U1", now=app.clock.now(),
                             **follow_ups)  # fmt: skip
        confirm_broadcast(uow.session, broadcast_id=draft.id, user_id="U1", now=app.clock.now())
        uow.session.execute(
            update(Delivery).where(Delivery.broadcast_id == draft.id)
            .values(status=DeliveryStatus.SENT, sent_at=app.clock.now())
        )  # fmt: skip
        uow.commit()
        return draft.id


def _follow_ups(app: Container, phone: Phone) -> list[Delivery]:
    with app.read_uow() as uow:
        rows = list(
            uow.session.scalars(
                select(Delivery).where(
                    Delivery.to_phone == phone.number, Delivery.kind == "follow_up"
                )
            )
        )
        uow.session.expunge_all()
        return rows


def test_call_names_each_volunteers_own_legislators(client: TestClient, app: Container) -> None:
    ana = _volunteer(client, app, {"sldl": "ma/sldl:5th_bristol", "cd": "ma/cd:4",
                                   "sldu": "ma/sldu:1st_bristol_and_plymouth"})  # fmt: skip
    ben = _volunteer(client, app, {"sldl": "ma/sldl:3rd_bristol"})
    cy = _volunteer(client, app, {"sldl": "ma/sldl:10th_bristol", "cd": "ma/cd:4"})
    assert ana.text("CALL") == (
        "Call State Rep. Patricia Haddad (617) 722-2600; State Sen. Marc Pacheco (617) 722-1551; "
        "US Rep. Jake Auchincloss (202) 225-5931. Reply DONE when you've called."
    )
    assert ben.text("call") == (
        "Call State Rep. Carol Doherty (617) 722-2230. Reply DONE when you've called."
    )
    assert cy.text("Call!") == (
        "Call State Rep. Bill Straus (508) 672-0144; US Rep. Jake Auchincloss (202) 225-5931. "
        "Reply DONE when you've called."
    )
    nobody = _volunteer(client, app, {})
    assert nobody.text("CALL") == (
        "To find who represents you, reply ADDRESS and your street address, e.g. "
        "ADDRESS 12 Main St."
    )
    unloaded = _volunteer(client, app, {"sldl": "ma/sldl:1st_bristol"})
    assert "We don't have your legislators on file yet (MA House 1st Bristol)" in (
        unloaded.text("CALL") or ""
    )


def test_done_counts_the_latest_call_to_action_once(client: TestClient, app: Container) -> None:
    ana = _volunteer(client, app, {"sldl": "ma/sldl:5th_bristol"})
    assert ana.text("DONE") == "Thanks! There's no call to action to report right now."
    bid = _call_to_action(app)
    assert ana.text("DONE") == "Thank you for calling! We've counted it."
    assert ana.text("I called") == "Already counted. Thank you!"
    with app.read_uow() as uow:
        assert uow.session.scalar(
            select(func.count()).select_from(CallReport).where(CallReport.broadcast_id == bid)
        ) == 1  # fmt: skip


def test_on_yes_is_texted_once_with_fields_and_on_no_on_no(
    client: TestClient, app: Container
) -> None:
    ana = _volunteer(client, app, {"sldl": "ma/sldl:5th_bristol"}, first_name="Ana")
    ben = _volunteer(client, app, {}, first_name=None)
    _call_to_action(
        app,
        on_yes="Thank you {first_name|friend}! Call {rep|your rep} at {rep_phone|617-722-2000}.",
        on_no="No worries, {first_name|friend}.",
    )
    assert ana.text("YES") == "Thanks, we've got your YES!"
    assert ana.text("yes") == "Thanks, we've got your YES!"
    assert [d.body for d in _follow_ups(app, ana)] == [
        "Thank you Ana! Call Patricia Haddad at (617) 722-2600."
    ]
    assert ben.text("NO") == "Thanks for letting us know."
    assert ben.text("YES") == "Thanks, we've got your YES!"
    assert ben.text("YES") == "Thanks, we've got your YES!"
    assert sorted(d.body for d in _follow_ups(app, ben)) == [
        "No worries, friend.",
        "Thank you friend! Call your rep at 617-722-2000.",
    ]


def test_follow_ups_never_go_after_an_opt_out_and_wait_out_quiet_hours(
    client: TestClient, app: Container, clock: FixedClock
) -> None:
    ana = _volunteer(client, app, {"sldl": "ma/sldl:5th_bristol"}, first_name="Ana")
    ben = _volunteer(client, app, {"sldl": "ma/sldl:3rd_bristol"}, first_name="Ben")
    _call_to_action(app, on_yes="Thank you {first_name}! Call {rep} at {rep_phone}.")
    clock.set(datetime(2026, 11, 17, 3, 0, tzinfo=UTC))  # 22:00 in Boston: quiet hours
    assert ana.text("YES") == "Thanks, we've got your YES!"  # the reply itself goes at once
    assert ben.text("YES") == "Thanks, we've got your YES!"
    assert ben.text("STOP") is not None
    with app.uow() as uow:
        ensure_rate_bucket(uow.session)
        claim = claim_due(uow.session, worker="w", now=clock.now(), wall=1000.0,
                          limit=100, policy=POLICY)  # fmt: skip
        uow.commit()
    assert [c for c in claim.rows if c.body.startswith("Thank you")] == []
    (held,) = _follow_ups(app, ana)
    assert held.status == DeliveryStatus.PENDING
    assert held.send_after == datetime(2026, 11, 17, 14, 0, tzinfo=UTC)  # 09:00 in Boston
    (skipped,) = _follow_ups(app, ben)
    assert skipped.status == DeliveryStatus.SKIPPED
    with app.read_uow() as uow:
        status = uow.session.scalar(select(Volunteer.status).where(Volunteer.phone == ben.number))
    assert status == VolunteerStatus.OPTED_OUT


def test_the_report_counts_sent_delivered_yes_no_done_by_district_and_exports_who_did_what(
    client: TestClient, app: Container
) -> None:
    senate, cd = "ma/sldu:1st_bristol_and_plymouth", "ma/cd:4"
    both = {"sldu": senate, "cd": cd}
    ana = _volunteer(client, app, {"sldl": "ma/sldl:5th_bristol", **both}, first_name="Ana")
    ben = _volunteer(client, app, {"sldl": "ma/sldl:5th_bristol", "cd": cd}, first_name="Ben")
    cy = _volunteer(client, app, {"sldl": "ma/sldl:3rd_bristol", **both}, first_name="Cy")
    _volunteer(client, app, {}, first_name="Dee")
    bid = _call_to_action(app)
    with app.uow() as uow:
        uow.session.execute(
            update(Delivery).where(Delivery.to_phone.in_([ana.number, cy.number]))
            .values(status=DeliveryStatus.DELIVERED)
        )  # fmt: skip
        uow.commit()
    ana.text("YES")
    ana.text("DONE")
    ben.text("NO")
    cy.text("YES")
    cy.text("DONE")
    cy.text("DONE")

    def run(args: str, name: str = "broadcast"):
        cmd = OrganizerCommand(Channel.SLACK, "U0ORGANIZER", name, args, T0)
        return run_command(cmd, uow=app.uow(), org=app.org, clock=app.clock).view

    report = run(str(bid)).text
    assert f"Broadcast #{bid}: sent 4, delivered 2, YES 2, NO 1, DONE 2" in report
    assert "MA House 5th Bristol: sent 2, delivered 1, YES 1, NO 1, DONE 1" in report
    assert "MA House 3rd Bristol: sent 1, delivered 1, YES 1, NO 0, DONE 1" in report
    assert "(not known): sent 1, delivered 0, YES 0, NO 0, DONE 0" in report
    # the other chambers: state senate (Ben's not known) and US House
    senate_part = report.split("By state senate district:")[1].split("By US House district:")[0]
    assert (
        "MA Senate First Bristol and Plymouth: sent 2, delivered 2, YES 2, NO 0, DONE 2"
        in senate_part
    )
    assert "(not known): sent 2, delivered 0, YES 0, NO 1, DONE 0" in senate_part
    us_part = report.split("By US House district:")[1]
    assert ": sent 3, delivered 2, YES 2, NO 1, DONE 2" in us_part
    # the App Home shows the same counts for the last call to action
    home = dashboard("U0ORGANIZER", uow=app.uow(), org=app.org, clock=app.clock)
    assert home is not None and home.last_call is not None and home.last_call.id == bid
    shown = json.dumps(slack_render_reports.home_view(home), ensure_ascii=False)
    assert "4 sent · 2 delivered · YES 2 · NO 1 · DONE 2" in shown
    export = run(f"broadcast {bid}", "export")
    rows = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert export.rows == 4
    assert [(r["first_name"], r["district"], r["answer"], bool(r["done"])) for r in rows] == [
        ("Ana", "ma/sldl:5th_bristol", "yes", True),
        ("Ben", "ma/sldl:5th_bristol", "no", False),
        ("Cy", "ma/sldl:3rd_bristol", "yes", True),
        ("Dee", "", "", False),
    ]
    assert [(r["state_senate_district"], r["congressional_district"]) for r in rows] == [
        (senate, cd),
        ("", cd),
        (senate, cd),
        ("", ""),
    ]
