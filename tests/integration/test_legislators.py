"""The legislators directory: `muster legislators load` of an Open States people CSV, `show`, and
the Open States API v3 adapter against a fake speaking its JSON (stored by `fetch`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import legislators_cli
from bot.bootstrap import Container
from bot.openstates_api import OpenStatesDirectory
from handlers.legislators import StoredLegislators, by_district
from handlers.peers import PeerError
from storage.districts import DistrictSource, set_district
from tests.builders import make_volunteer
from tests.conftest import T0
from tests.fakes.openstates_api import KEY, FakeOpenStates

# Open States' people CSV as published (more columns than Muster reads), one file per state.
MA_CSV = (
    "id,name,current_party,current_district,current_chamber,given_name,family_name,gender,"
    "email,biography,birth_date,death_date,image,links,sources,capitol_address,capitol_voice,"
    "capitol_fax,district_address,district_voice,district_fax\n"
    "ocd-person/1,Patricia Haddad,Democratic,5th Bristol,lower,Patricia,Haddad,F,"
    "patricia.haddad@mahouse.gov,,,,,,,24 Beacon St,617-722-2600,,,,\n"
    "ocd-person/2,Carol Doherty,Democratic,3rd Bristol,lower,Carol,Doherty,F,,,,,,,,,"
    ",,,508-672-0133,\n"
    "ocd-person/3,Marc Pacheco,Democratic,1st Bristol and Plymouth,upper,Marc,Pacheco,M,,,,,,,,,"
    "(617) 722-1551,,,,\n"
    "ocd-person/4,Nobody Known,Democratic,99th Nowhere,lower,,,,,,,,,,,,,,,,\n"
)
US_CSV = (
    "name,current_party,current_district,current_chamber,capitol_voice,district_voice,email\n"
    "Jake Auchincloss,Democratic,MA-4,lower,202-225-5931,,\n"
)


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_load_people_csv_then_show(
    container: Container, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert legislators_cli.load(container, write(tmp_path, "ma.csv", MA_CSV)) == 0
    out = capsys.readouterr().out
    assert "4 rows read, 3 legislators loaded" in out
    assert "line 5: I don't know the district '99th Nowhere'" in out
    assert legislators_cli.load(container, write(tmp_path, "us.csv", US_CSV)) == 0

    with container.read_uow() as uow:
        found = by_district(
            StoredLegislators(uow.session).legislators_of(
                [
                    "ma/sldl:5th_bristol",
                    "ma/sldl:3rd_bristol",
                    "ma/sldu:1st_bristol_and_plymouth",
                    "ma/cd:4",
                ]
            )
        )
    assert found["ma/sldl:5th_bristol"].phone == "+16177222600"
    assert found["ma/sldl:5th_bristol"].email == "patricia.haddad@mahouse.gov"
    assert found["ma/sldl:3rd_bristol"].phone == "+15086720133"  # district office only
    assert found["ma/sldu:1st_bristol_and_plymouth"].name == "Marc Pacheco"
    assert found["ma/cd:4"].name == "Jake Auchincloss"
    assert found["ma/cd:4"].source == "openstates-csv:us.csv"

    # A second load of the same file replaces, never duplicates.
    assert legislators_cli.load(container, write(tmp_path, "ma.csv", MA_CSV)) == 0
    capsys.readouterr()
    assert legislators_cli.show(container, "ocd-division/country:us/state:ma/sldl:5th_bristol") == 0
    shown = capsys.readouterr().out
    assert shown.count("Patricia Haddad") == 1
    assert "capitol (617) 722-2600" in shown
    assert legislators_cli.show(container, "ma/sldl:5th_bristl") == 2
    assert "ma/sldl:5th_bristol" in capsys.readouterr().err


def test_csv_without_state_is_refused_row_by_row(
    container: Container, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "name,current_district,current_chamber\nAna,5th Bristol,lower\n"
    assert legislators_cli.load(container, write(tmp_path, "people.csv", text)) == 0
    assert "no state" in capsys.readouterr().out
    with_state = "name,current_district,current_chamber,state\nAna,5th Bristol,lower,MA\n"
    assert legislators_cli.load(container, write(tmp_path, "people.csv", with_state)) == 0
    assert "1 legislators loaded" in capsys.readouterr().out
    assert legislators_cli.load(container, write(tmp_path, "bad.csv", "name,zip\n")) == 1
    assert "needs the columns" in capsys.readouterr().err


@pytest.fixture
def openstates() -> FakeOpenStates:
    with FakeOpenStates(per_page_max=1) as fake:  # one a page: paging is followed
        fake.add("ma", "lower", "5th Bristol", "Patricia Haddad", capitol="617-722-2600")
        senate = "ocd-division/country:us/state:ma/sldu:1st_bristol_and_plymouth"
        fake.add("ma", "upper", "First Bristol and Plymouth", "Marc Pacheco",
                 district_voice="508-672-0144", division=senate)  # fmt: skip
        fake.add("us", "lower", "MA-4", "Jake Auchincloss", capitol="202-225-5931")
        fake.add("nh", "lower", "Belknap 2", "Two Seats A", capitol="603-271-1111")
        fake.add("nh", "lower", "Belknap 2", "Two Seats B", capitol="603-271-2222")
        yield fake


def test_open_states_adapter_speaks_its_api(openstates: FakeOpenStates) -> None:
    api = OpenStatesDirectory(
        base_url=openstates.url, api_key=KEY, per_second=1000, sleep=lambda s: None
    )
    openstates.failures = 1  # one 503 first: tried again
    found = api.legislators_of(
        [
            "ma/sldl:5th_bristol",
            "ocd-division/country:us/state:ma/sldu:1st_bristol_and_plymouth",
            "ma/cd:4",
            "nh/sldl:belknap_2",
            "ma/sldl:10th_bristol",
        ]
    )
    by_name = {p.name: p for p in found}
    assert set(by_name) == {
        "Patricia Haddad", "Marc Pacheco", "Jake Auchincloss", "Two Seats A", "Two Seats B"
    }  # fmt: skip
    assert by_name["Marc Pacheco"].district == "ma/sldu:1st_bristol_and_plymouth"
    assert by_name["Marc Pacheco"].phone == "+15086720144"
    assert by_name["Jake Auchincloss"].chamber == "cd"
    sent = openstates.requests
    want = {"jurisdiction": "ma", "district": "5th Bristol", "org_classification": "lower"}
    assert any(want.items() <= r.items() and r.get("include") == "offices" for r in sent)
    assert any(r.get("jurisdiction") == "us" and r.get("district") == "MA-4" for r in sent)
    assert any(r.get("page") == "2" for r in sent)  # NH's two members, a page each

    bad = OpenStatesDirectory(base_url=openstates.url, api_key="wrong", sleep=lambda s: None)
    with pytest.raises(PeerError, match="401"):
        bad.legislators_of(["ma/sldl:5th_bristol"])


def test_fetch_stores_what_open_states_says(
    container: Container, openstates: FakeOpenStates, capsys: pytest.CaptureFixture[str]
) -> None:
    container.extras["legislator_directory"] = OpenStatesDirectory(
        base_url=openstates.url, api_key=KEY, per_second=1000, sleep=lambda s: None
    )
    with container.uow() as uow:
        v = make_volunteer(uow.session, zip="02720")
        for chamber, district in (("sldl", "ma/sldl:5th_bristol"), ("cd", "ma/cd:4")):
            set_district(uow.session, volunteer_id=v.id, chamber=chamber, district=district,
                         source=DistrictSource.IMPORT, vintage=None, now=T0)  # fmt: skip
        uow.commit()
    assert legislators_cli.fetch(container) == 0
    assert "2 legislators stored for 2 districts" in capsys.readouterr().out
    with container.read_uow() as uow:
        stored = StoredLegislators(uow.session).legislators_of(["ma/sldl:5th_bristol", "ma/cd:4"])
    assert sorted(p.name for p in stored) == ["Jake Auchincloss", "Patricia Haddad"]
    assert {p.source for p in stored} == {"openstates-api"}
