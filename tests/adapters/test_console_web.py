"""The local console's routes: who may use them, and what a developer sees in the phone and the
organizer's pane (the same handlers and storage as Twilio and Slack)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from bot.bootstrap import Container, bootstrap
from bot.web import create_app
from storage.models import AuditEntry, Delivery, DeliveryStatus, Volunteer
from tests.builders import make_volunteer
from tests.conftest import T0, make_settings

LOCAL = ("127.0.0.1", 51000)
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def console(container: Container) -> Iterator[TestClient]:
    with TestClient(
        create_app(container), base_url="http://127.0.0.1:8000", client=LOCAL
    ) as client:
        yield client


def test_the_page_and_its_assets_are_served_locally(console: TestClient) -> None:
    page = console.get("/console")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert '<script src="/console/static/console.js"' in page.text
    # No inline script may run: the policy allows only the app's own files.
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "innerHTML" not in console.get("/console/static/console.js").text
    assert console.get("/console/static/console.css").status_code == 200
    assert console.get("/console/static/../web.py").status_code == 404
    assert console.get("/console/static/seed.py").status_code == 404


@pytest.mark.parametrize("host", ["192.168.1.20", "10.0.0.7", "testclient", "2001:db8::1"])
def test_other_machines_are_refused_even_with_a_loopback_header(
    container: Container, host: str
) -> None:
    client = TestClient(create_app(container), client=(host, 40000))
    spoof = {"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1", "Host": "localhost"}
    assert client.get("/console", headers=spoof).status_code == 403
    response = client.post(
        "/console/api/text", json={"phone": "6175550199", "text": "JOIN"}, headers=spoof
    )
    assert response.status_code == 403
    with container.read_uow() as uow:
        assert uow.session.scalars(select(Volunteer)).first() is None


def test_ipv6_loopback_is_local(container: Container) -> None:
    client = TestClient(create_app(container), base_url="http://[::1]:8000", client=("::1", 1))
    assert client.get("/console").status_code == 200
    assert client.get("/console/api/state").status_code == 200


def test_with_twilio_configured_there_is_no_console(db_url: str, engine, clock) -> None:
    settings = make_settings(db_url, twilio_account_sid="AC" + "0" * 32, twilio_auth_token="token")
    client = TestClient(create_app(bootstrap(settings, clock=clock, engine=engine)), client=LOCAL)
    assert client.get("/console").status_code == 404
    assert client.post("/console/api/text", json={}).status_code == 404


def test_a_web_page_in_the_same_browser_cannot_drive_it(console: TestClient) -> None:
    # A cross-site form post (no JSON) and a DNS-rebinding Host are both refused.
    form = console.post("/console/api/text", data={"phone": "6175550199", "text": "JOIN"})
    assert form.status_code == 403
    rebound = console.post(
        "/console/api/text",
        json={"phone": "6175550199", "text": "JOIN"},
        headers={"Host": "evil.example:8000"},
    )
    assert rebound.status_code == 403
    assert console.get("/console/api/state", headers={"Host": "evil.example"}).status_code == 403


def test_a_console_text_goes_through_the_volunteer_handler(
    console: TestClient, container: Container
) -> None:
    response = console.post(
        "/console/api/text", json={"phone": "(617) 555-0199", "text": "HELP"}, headers=JSON
    )
    assert response.status_code == 200
    body = response.json()
    assert body["phone"] == "+16175550199" and body["reply"]
    thread = console.get("/console/api/thread", params={"phone": "+16175550199"}).json()
    assert [(i["who"], i["text"]) for i in thread["items"]] == [
        ("me", "HELP"),
        ("bot", body["reply"]),
    ]


def test_bad_input_gets_a_clear_answer(console: TestClient) -> None:
    bad_phone = console.post(
        "/console/api/text", json={"phone": "12", "text": "JOIN"}, headers=JSON
    )
    assert bad_phone.status_code == 400 and "phone number" in bad_phone.json()["error"]
    empty = console.post(
        "/console/api/text", json={"phone": "6175550199", "text": "  "}, headers=JSON
    )
    assert empty.status_code == 400
    not_json = console.post("/console/api/text", content=b"{nope", headers=JSON)
    assert not_json.status_code == 400
    assert console.get("/console/api/thread", params={"phone": "x"}).status_code == 400


def _delivery(
    volunteer: Volunteer,
    body: str,
    kind: str,
    *,
    status: DeliveryStatus = DeliveryStatus.SENT,
    **fields: object,
) -> Delivery:
    return Delivery(
        idempotency_key=f"test:{kind}:{body}",
        volunteer_id=volunteer.id,
        to_phone=volunteer.phone,
        body=body,
        kind=kind,
        status=status,
        **fields,
    )


def test_texts_the_sender_delivered_show_up_in_the_right_phone(
    console: TestClient, container: Container
) -> None:
    with container.uow() as uow:
        ana = make_volunteer(uow.session, first_name="Ana")
        ben = make_volunteer(uow.session, first_name="Ben")
        uow.session.add_all(
            [
                _delivery(ana, "Rally Saturday!", "broadcast", sent_at=T0),
                _delivery(
                    ana,
                    "Reminder: phonebank tomorrow",
                    "reminder",
                    status=DeliveryStatus.PENDING,
                    send_after=T0 + timedelta(hours=10),
                ),
                _delivery(ben, "For Ben only", "reply", sent_at=T0),
                _delivery(
                    ana,
                    "Never sent: she opted out first",
                    "broadcast",
                    status=DeliveryStatus.SKIPPED,
                ),
            ]
        )
        uow.commit()
        ana_phone, ben_phone = ana.phone, ben.phone
    items = console.get("/console/api/thread", params={"phone": ana_phone}).json()["items"]
    assert [(i["text"], i["kind"]) for i in items] == [
        ("Rally Saturday!", "broadcast"),
        ("Reminder: phonebank tomorrow", "reminder"),
    ]
    assert items[0].get("waiting") is None
    assert items[1]["waiting"].startswith("waiting until ")  # held for quiet hours
    phones = {p["phone"]: p for p in console.get("/console/api/state").json()["phones"]}
    assert phones[ana_phone]["received"] == 1 and phones[ben_phone]["received"] == 1
    assert phones[ana_phone]["name"] == "Ana"


def test_the_organizer_pane_runs_muster_commands_as_the_console_organizer(
    console: TestClient, container: Container
) -> None:
    answer = console.post("/console/api/command", json={"text": "/muster help"}, headers=JSON)
    assert answer.status_code == 200 and answer.json()["ok"]
    assert "broadcast" in answer.json()["text"]
    wrong = console.post("/console/api/command", json={"text": "/other"}, headers=JSON).json()
    assert not wrong["ok"] and "/muster" in wrong["text"]
    unknown = console.post(
        "/console/api/command", json={"text": "/muster roster 999"}, headers=JSON
    ).json()
    assert not unknown["ok"] and "999" in unknown["text"]


def test_broadcast_confirm_from_the_console(console: TestClient, container: Container) -> None:
    with container.uow() as uow:
        make_volunteer(uow.session, first_name="Ana")
        uow.commit()
    preview = console.post(
        "/console/api/command",
        json={"text": '/muster broadcast to=all message="Rally at noon"'},
        headers=JSON,
    ).json()
    assert preview["ok"] and "Rally at noon" in preview["text"]
    confirm = next(a for a in preview["actions"] if a["label"] == "Confirm")
    done = console.post(
        "/console/api/action",
        json={"name": confirm["name"], "values": confirm["values"]},
        headers=JSON,
    ).json()
    assert done["ok"], done
    with container.read_uow() as uow:
        queued = uow.session.scalars(select(Delivery)).all()
        assert [d.body for d in queued] == ["Rally at noon"]
        actors = uow.session.scalars(select(AuditEntry.actor)).all()
        assert "console" in actors


def test_an_export_comes_back_as_a_download(console: TestClient, container: Container) -> None:
    import base64
    import csv
    import io

    with container.uow() as uow:
        make_volunteer(uow.session, first_name="Ana", phone="+16175550177")
        uow.commit()
    answer = console.post(
        "/console/api/command", json={"text": "/muster export volunteers"}, headers=JSON
    ).json()
    assert answer["ok"] and answer["download"]["filename"].endswith(".csv")
    content = base64.b64decode(answer["download"]["content_b64"]).decode()
    rows = list(csv.DictReader(io.StringIO(content)))
    assert [(r["phone"], r["name"]) for r in rows] == [("+16175550177", "Ana")]
