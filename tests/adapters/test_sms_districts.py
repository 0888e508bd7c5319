"""ADDRESS and DISTRICTS by text against the fake Census geocoder, through the real SMS route:
the reply goes at once whatever the geocoder does (up, down, slow, no match), nothing is lost,
and a later try sets the districts; onboarding with a split ZIP asks for the address once."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from bot.bootstrap import Container, bootstrap
from bot.census_geocoder import CensusGeocoder
from bot.web import create_app
from handlers.district_crosswalk import load_crosswalk, read_crosswalk
from handlers.districts import districts_of, known_districts
from handlers.geocoding import drain_lookups
from handlers.ports import FixedClock
from storage.districts import AddressLookup, LookupStatus
from storage.models import Delivery, Volunteer
from tests.adapters.sms_phone import ACCOUNT_SID, AUTH_TOKEN, Phone
from tests.builders import make_volunteer, random_phone
from tests.conftest import make_settings
from tests.fakes.census_geocoder import FakeCensusGeocoder

BRISTOL = {
    "cd": "ma/cd:4",
    "sldu": "ma/sldu:1st_bristol_and_plymouth",
    "sldl": "ma/sldl:10th_bristol",
}


@pytest.fixture
def census() -> Iterator[FakeCensusGeocoder]:
    with FakeCensusGeocoder() as fake:
        fake.add("12 Main St", state_fips="25", cd="04", upper="1st Bristol and Plymouth",
                 lower="10th Bristol")  # fmt: skip
        yield fake


@pytest.fixture
def app(db_url: str, engine, clock: FixedClock, census: FakeCensusGeocoder) -> Iterator[Container]:
    s = make_settings(
        db_url,
        twilio_auth_token=AUTH_TOKEN,
        twilio_account_sid=ACCOUNT_SID,
        geocoder="census",
        census_geocoder_url=census.url,
    )
    container = bootstrap(s, clock=clock, engine=engine)
    geocoder = CensusGeocoder(census.url, timeout=httpx.Timeout(0.5), retries=1, backoff=0)
    container.extras["geocoder"] = geocoder
    yield container
    geocoder.close()


@pytest.fixture
def client(app: Container) -> Iterator[TestClient]:
    with TestClient(create_app(app)) as c:
        yield c


def _phone(client: TestClient, app: Container, *, zip_code: str | None = "02720") -> Phone:
    number = random_phone()
    if zip_code:
        with app.uow() as uow:
            make_volunteer(uow.session, phone=number, zip=zip_code, first_name="Ana")
            uow.commit()
    return Phone(client, number, public_url=app.settings.public_url)


def _volunteer_id(app: Container, phone: Phone) -> int:
    with app.read_uow() as uow:
        return uow.session.scalar(select(Volunteer.id).where(Volunteer.phone == phone.number))


def _texts(app: Container, phone: Phone) -> list[str]:
    with app.read_uow() as uow:
        return list(
            uow.session.scalars(
                select(Delivery.body).where(Delivery.to_phone == phone.number).order_by(Delivery.id)
            )
        )


def _drain(app: Container) -> int:
    return drain_lookups(app.uow, app.geocoder, app.clock)


def _districts(app: Container, phone: Phone) -> dict[str, str]:
    with app.read_uow() as uow:
        return districts_of(uow.session, _volunteer_id(app, phone))


def test_address_sets_districts_after_the_reply_and_tells_the_volunteer(
    client: TestClient, app: Container, census: FakeCensusGeocoder
) -> None:
    phone = _phone(client, app)
    assert phone.text("ADDRESS 12 Main St") == (
        "Thanks! We'll look up your districts and text you when we know them."
    )
    assert census.requests == []  # the reply did not wait for the geocoder
    assert _districts(app, phone) == {}
    assert phone.text("DISTRICTS") == "We're still looking up your address."

    assert _drain(app) == 1
    assert _districts(app, phone) == BRISTOL
    [query] = census.requests
    assert query["address"] == "12 Main St, MA 02720"
    assert query["benchmark"] == "Public_AR_Current" and query["vintage"] == "Current_Current"
    assert "2024 State Legislative Districts - Lower" in query["layers"]
    [told] = _texts(app, phone)
    assert told.startswith("Your districts: US House MA-4; MA Senate")
    assert "MA House 10th Bristol" in told
    with app.read_uow() as uow:
        known = known_districts(uow.session, _volunteer_id(app, phone))
        assert {k.source for k in known} == {"address"}
        assert {k.vintage for k in known} == {"census:Public_AR_Current/Current_Current"}
    assert phone.text("DISTRICTS").startswith("Your districts: US House MA-4;")
    with app.read_uow() as uow:  # the street address is never posted to a channel
        from storage.models import SlackPost

        assert not [t for t in uow.session.scalars(select(SlackPost.text)) if "Main St" in t]


@pytest.mark.parametrize("trouble", ["down", "slow"])
def test_geocoder_down_or_slow_the_text_is_answered_and_a_later_try_sets_them(
    client: TestClient, app: Container, census: FakeCensusGeocoder, clock: FixedClock, trouble
) -> None:
    if trouble == "down":
        census.down(times=100)
    else:
        census.delay = 10.0
    phone = _phone(client, app)
    assert phone.text("ADDRESS 12 Main St").startswith("Thanks! We'll look up")
    assert _drain(app) == 0
    with app.read_uow() as uow:
        [row] = uow.session.scalars(select(AddressLookup)).all()
        assert row.status == LookupStatus.PENDING and row.attempts == 1
        assert "Census geocoder" in (row.last_error or "")
    assert _drain(app) == 0  # not due again yet: nothing hammers a geocoder in trouble
    census.down(times=0)
    census.delay = 0.0
    clock.advance(61)
    assert _drain(app) == 1
    assert _districts(app, phone) == BRISTOL
    assert len(_texts(app, phone)) == 1


def test_no_match_is_told_once_and_leaves_districts_unknown(
    client: TestClient, app: Container
) -> None:
    phone = _phone(client, app)
    phone.text("ADDRESS 99 Nowhere Rd")
    assert _drain(app) == 1
    assert _drain(app) == 0
    assert _districts(app, phone) == {}
    assert _texts(app, phone) == [
        "We couldn't find that address. Reply ADDRESS with street, city and ZIP to try again."
    ]


def _split_crosswalk(app: Container) -> None:
    text = "zip,district,share\n02492,ma/sldl:13th_norfolk,0.7\n02492,ma/sldl:14th_norfolk,0.3\n"
    rows, _ = read_crosswalk(io.StringIO(text), vintage="test")
    with app.uow() as uow:
        load_crosswalk(uow.session, rows)
        uow.commit()


ASK = (
    "Your ZIP is split between two state house districts. Reply with your street address so we "
    "can tell you which is yours, or SKIP."
)


def test_onboarding_with_a_split_zip_asks_for_the_address_once_and_skip_leaves_it_unknown(
    client: TestClient, app: Container
) -> None:
    _split_crosswalk(app)
    phone = _phone(client, app, zip_code=None)
    phone.text("JOIN")
    phone.text("Maria")
    assert phone.text("02492") == ASK
    assert phone.text("SKIP").startswith("How would you like to help?")
    assert _districts(app, phone) == {}
    phone.text("1")
    assert phone.text("ZIP 02494").startswith("Got it")  # asked once: never again
    with app.read_uow() as uow:
        assert uow.session.scalars(select(AddressLookup)).all() == []


def test_onboarding_address_answer_is_looked_up(
    client: TestClient, app: Container, census: FakeCensusGeocoder
) -> None:
    _split_crosswalk(app)
    census.add("5 Elm St", state_fips="25", cd="04", lower="13th Norfolk")
    phone = _phone(client, app, zip_code=None)
    phone.text("JOIN")
    phone.text("Maria")
    assert phone.text("02492") == ASK
    reply = phone.text("5 Elm St")
    assert reply.startswith("Thanks! We'll look up your districts")
    assert "Reply with numbers" in reply
    assert _drain(app) == 1
    assert _districts(app, phone) == {"cd": "ma/cd:4", "sldl": "ma/sldl:13th_norfolk"}


def test_shifts_lists_my_districts_shifts_first_then_nearest(
    client: TestClient, app: Container
) -> None:
    from datetime import timedelta

    from handlers.districts import put_districts
    from storage.districts import DistrictSource
    from tests.builders import make_shift
    from tests.conftest import T0

    phone = _phone(client, app, zip_code="02124")
    with app.uow() as uow:
        s = uow.session
        make_shift(s, title="Dorchester phonebank", starts_at=T0 + timedelta(days=1), zip="02124")
        make_shift(s, title="Fall River canvass", starts_at=T0 + timedelta(days=3), zip="02720",
                   district="ma/sldl:10th_bristol")  # fmt: skip
        vid = s.scalar(select(Volunteer.id).where(Volunteer.phone == phone.number))
        put_districts(s, vid, {"sldl": "ma/sldl:10th_bristol"}, source=DistrictSource.IMPORT,
                      vintage=None, now=T0)  # fmt: skip
        uow.commit()
    reply = phone.text("SHIFTS")
    assert reply.index("Fall River canvass") < reply.index("Dorchester phonebank")


def test_an_imported_address_is_looked_up_without_texting_anyone(app: Container) -> None:
    from bot.csv_import import import_volunteers_from

    number = random_phone()
    text = (
        f"phone,name,zip,opted_in_at,address\n{number},Ana,02720,2026-05-01T09:00:00Z,12 Main St\n"
    )
    report = import_volunteers_from(app, io.StringIO(text), file_name="x.csv")
    assert report.created == 1
    assert _drain(app) == 1
    phone = Phone(None, number, public_url="")  # type: ignore[arg-type]
    assert _districts(app, phone) == BRISTOL
    assert _texts(app, phone) == []


def test_many_addresses_go_through_the_batch_endpoint_one_district_lookup_per_block(
    census: FakeCensusGeocoder,
) -> None:
    from handlers.geocoding import AddressQuery

    for i in range(20):  # 20 neighbours in 4 blocks
        census.add(f"{i} Elm St", state_fips="25", cd="04", lower="10th Bristol",
                   block=f"10{i % 4}")  # fmt: skip
    geocoder = CensusGeocoder(census.url, retries=0)
    queries = [AddressQuery(str(i), f"{i} Elm St", "02720", "MA") for i in range(20)]
    queries += [AddressQuery("nowhere", "1 Nowhere Rd", "02720", "MA")]
    census.requests.clear()
    found = geocoder.lookup_many(queries)
    geocoder.close()
    assert found["nowhere"] is None
    assert {m.districts["sldl"] for k, m in found.items() if m} == {"ma/sldl:10th_bristol"}
    assert sum(1 for k in found if found[k]) == 20
    assert len([r for r in census.requests if "batch" in r]) == 1
    assert len([r for r in census.requests if "x" in r]) == 4
