"""A street address is personal data: erased by `muster forget` with the districts it gave and
any lookup still to run; masked in log lines (the geocoder's request line)."""

from __future__ import annotations

from sqlalchemy import select

from bot.logs import scrub
from handlers.districts import districts_of, put_districts
from handlers.privacy import forget_volunteer
from storage.districts import AddressLookup, DistrictSource, LookupStatus, enqueue_lookup
from storage.models import Volunteer
from storage.uow import SqlAlchemyUnitOfWork
from tests.builders import make_volunteer
from tests.conftest import T0


def test_forget_erases_the_address_its_districts_and_pending_lookups(
    uow: SqlAlchemyUnitOfWork,
) -> None:
    with uow:
        v = make_volunteer(uow.session, address="12 Main St")
        phone, vid = v.phone, v.id
        put_districts(uow.session, vid, {"sldl": "ma/sldl:10th_bristol"},
                      source=DistrictSource.ADDRESS, vintage="census", now=T0)  # fmt: skip
        enqueue_lookup(uow.session, volunteer_id=vid, notify=True, now=T0)
        uow.commit()
    with uow:
        forget_volunteer(uow.session, phone=phone, actor="cli", channel="cli", now=T0)
        uow.commit()
    with uow:
        v = uow.session.get(Volunteer, vid)
        assert v.address is None
        assert districts_of(uow.session, vid) == {}
        statuses = uow.session.scalars(select(AddressLookup.status)).all()
        assert statuses == [LookupStatus.CANCELLED]


def test_addresses_in_request_lines_are_masked() -> None:
    line = (
        "HTTP Request: GET http://geo/geographies/onelineaddress?address=12+Main+St%2C+MA+02720"
        '&benchmark=Public_AR_Current&format=json "HTTP/1.1 200 OK"'
    )
    masked = scrub(line)
    assert "Main" not in masked and "02720" not in masked
    assert "address=[address]&benchmark=Public_AR_Current" in masked
