"""Fixtures for the adapter tests: the Slack harness, and the app behind `POST /twilio/sms` with a
phone to text it and a session to look at the database (tests/adapters/test_sms_*.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from bot.bootstrap import Container, bootstrap
from bot.web import create_app
from handlers.ports import FixedClock
from tests.adapters.slack_harness import SlackHarness, slack_harness
from tests.adapters.sms_phone import ACCOUNT_SID, AUTH_TOKEN, Phone
from tests.builders import make_volunteer, random_phone
from tests.conftest import make_settings


@pytest.fixture
def slack(db_url, engine, clock) -> Iterator[SlackHarness]:
    """The app behind real `/slack/events` requests, with the fake Slack Web API around it."""
    with slack_harness(db_url, engine, clock) as harness:
        yield harness


@pytest.fixture
def volunteers(engine) -> int:
    """The broadcast tests' audience: three canvassers and one who opted out (the 3 returned)."""
    with Session(bind=engine) as session:
        for name in ("Maria", "Dev", "Sam"):
            make_volunteer(session, first_name=name, tags=["canvass"])
        make_volunteer(session, first_name="Gone", status="opted_out", tags=["canvass"])
        session.commit()
    return 3


# --- the SMS route ------------------------------------------------------------------------------


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


@pytest.fixture
def volunteer(db, phone_for):
    """A volunteer who finished sign-up, and their phone."""

    def make(**fields) -> Phone:
        p = phone_for(fields.pop("phone", None))
        with db() as s:
            make_volunteer(s, phone=p.number, **fields)
        return p

    return make
