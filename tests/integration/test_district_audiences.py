"""Audiences by district, target districts and combinations with +: exact counts in the preview,
and the same volunteers in the outbox, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from handlers.audiences import parse_audience
from handlers.broadcasts import confirm_broadcast, create_draft, preview_broadcast
from handlers.config import OrgConfig
from handlers.district_names import UnknownDistrict
from handlers.districts import districts_of, put_districts
from handlers.errors import UsageError
from storage.districts import DistrictSource, put_target
from storage.models import Delivery, VolunteerStatus
from storage.uow import SqlAlchemyUnitOfWork
from tests.builders import make_volunteer
from tests.conftest import T0

ORG = OrgConfig(default_timezone="America/New_York")
BRISTOL = "ma/sldl:10th_bristol"
NEEDHAM_HOUSE = "ma/sldl:13th_norfolk"


def _org(session) -> dict[str, int]:
    people = {
        # name: (house district, congressional district, tags, status)
        "ana": (BRISTOL, "ma/cd:4", ["canvass"], VolunteerStatus.ACTIVE),
        "ben": (BRISTOL, "ma/cd:4", ["phonebank"], VolunteerStatus.ACTIVE),
        "cy": (BRISTOL, "ma/cd:9", ["canvass"], VolunteerStatus.OPTED_OUT),
        "dee": (NEEDHAM_HOUSE, "ma/cd:4", ["canvass"], VolunteerStatus.ACTIVE),
        "eli": (None, None, ["canvass"], VolunteerStatus.ACTIVE),
    }
    ids = {}
    for name, (house, cd, tags, status) in people.items():
        v = make_volunteer(session, first_name=name.title(), tags=tags, status=status)
        wanted = {k: d for k, d in (("sldl", house), ("cd", cd)) if d}
        put_districts(session, v.id, wanted, source=DistrictSource.IMPORT, vintage=None, now=T0)
        ids[name] = v.id
    return ids


@pytest.mark.parametrize(
    ("audience", "expected"),
    [
        (f"district:{BRISTOL}", 2),  # cy opted out
        ("district:ocd-division/country:us/state:ma/sldl:10th_bristol", 2),
        ("district:ma/cd:4", 3),
        ("targets", 2),  # only 10th Bristol is a target
        ("targets+tag:canvass", 1),  # ana
        ("district:ma/cd:4+tag:canvass", 2),  # ana, dee
        (f"district:ma/cd:4+district:{NEEDHAM_HOUSE}+tag:canvass", 1),  # dee
        ("tag:canvass", 3),
        ("all", 4),
    ],
)
def test_preview_counts_are_exact(uow: SqlAlchemyUnitOfWork, audience: str, expected: int) -> None:
    with uow:
        _org(uow.session)
        put_target(uow.session, district=BRISTOL, goal=40, set_by="U1", reason="open seat", now=T0)
        preview = preview_broadcast(uow.session, audience=audience, body="Hi", now=T0, org=ORG)
        assert preview.recipients == expected
        assert preview.audience == str(parse_audience(audience))


def test_a_combined_broadcast_reaches_exactly_its_audience(uow: SqlAlchemyUnitOfWork) -> None:
    with uow:
        ids = _org(uow.session)
        put_target(uow.session, district=BRISTOL, goal=None, set_by="U1", reason=None, now=T0)
        draft = create_draft(
            uow.session, body="Canvass Sat", audience="targets+tag:canvass", created_by="U1", now=T0
        )
        uow.commit()
    with uow:
        confirm_broadcast(uow.session, broadcast_id=draft.id, user_id="U1", now=T0)
        uow.commit()
    with uow:
        got = set(uow.session.scalars(select(Delivery.volunteer_id)))
        assert got == {ids["ana"]}
        assert districts_of(uow.session, ids["ana"]) == {"sldl": BRISTOL, "cd": "ma/cd:4"}


def test_unknown_district_and_no_targets_are_refused(uow: SqlAlchemyUnitOfWork) -> None:
    with pytest.raises(UnknownDistrict) as refused:
        parse_audience("district:ma/sldl:10th_bristl+tag:canvass")
    assert BRISTOL in refused.value.message
    with uow, pytest.raises(UsageError, match="no target districts"):
        preview_broadcast(uow.session, audience="targets", body="Hi", now=T0, org=ORG)
