"""The schema: migrations match the models, and the database itself enforces what the mission
depends on (on SQLite and on PostgreSQL, whichever this run targets)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text, update
from sqlalchemy.exc import DatabaseError, IntegrityError

from storage.migrate import alembic_config, current_revision, head_revision
from storage.models import (
    Broadcast,
    Commitment,
    CommitmentStatus,
    ConsentAction,
    ConsentEvent,
    Delivery,
    InboundMessage,
    Volunteer,
)
from storage.schema import metadata
from tests.builders import make_shift, make_volunteer, random_phone
from tests.conftest import T0


def test_migrations_reach_head_and_create_every_table(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    tables = set(inspect(engine).get_table_names())
    assert set(metadata.tables) <= tables


def test_models_match_migrations(engine: Engine) -> None:
    from storage.migrate import include_object  # the same filter migrations use

    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_object": include_object, "compare_type": True}
        )
        diff = compare_metadata(context, metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_downgrade_to_base_and_back(db_url: str, engine: Engine) -> None:
    from alembic import command

    config = alembic_config(db_url)
    command.downgrade(config, "base")
    assert "volunteers" not in inspect(engine).get_table_names()
    command.upgrade(config, "head")
    assert current_revision(engine) == head_revision()


def _expect_integrity_error(engine: Engine, build) -> None:
    from storage.db import make_session_factory

    with make_session_factory(engine)() as session:
        with pytest.raises(IntegrityError):
            build(session)
            session.flush()
        session.rollback()


def test_one_volunteer_per_phone(engine: Engine, uow) -> None:
    phone = random_phone()
    with uow:
        make_volunteer(uow.session, phone=phone)
        uow.commit()
    _expect_integrity_error(engine, lambda s: s.add(Volunteer(phone=phone)))


def test_one_commitment_per_volunteer_and_shift(engine: Engine, uow) -> None:
    with uow:
        vol = make_volunteer(uow.session)
        shift = make_shift(uow.session, starts_at=T0 + timedelta(days=2))
        uow.session.add(
            Commitment(volunteer_id=vol.id, shift_id=shift.id, status=CommitmentStatus.COMMITTED)
        )
        uow.commit()
        ids = (vol.id, shift.id)
    _expect_integrity_error(
        engine,
        lambda s: s.add(
            Commitment(volunteer_id=ids[0], shift_id=ids[1], status=CommitmentStatus.WAITLISTED)
        ),
    )


def test_one_delivery_per_broadcast_and_volunteer(engine: Engine, uow) -> None:
    with uow:
        vol = make_volunteer(uow.session)
        bc = Broadcast(body="Hearing tomorrow at 10", audience="all")
        uow.session.add(bc)
        uow.session.flush()
        row = {"broadcast_id": bc.id, "volunteer_id": vol.id, "to_phone": vol.phone}
        uow.session.add(Delivery(idempotency_key="a", body="x", kind="broadcast", **row))
        uow.commit()
    _expect_integrity_error(
        engine, lambda s: s.add(Delivery(idempotency_key="b", body="x", kind="broadcast", **row))
    )


def test_one_delivery_per_twilio_sid_and_any_number_without(engine: Engine, uow) -> None:
    sid = f"SM{random_phone()[2:]}"

    def row(key: str, phone: str, provider_sid: str | None = None) -> Delivery:
        return Delivery(idempotency_key=f"{key}{sid}", body="x", kind="sms", to_phone=phone,
                        provider_sid=provider_sid)  # fmt: skip

    with uow:
        phones = [make_volunteer(uow.session).phone for _ in range(3)]
        uow.session.add_all([row("a", phones[0]), row("b", phones[1])])  # no sid yet: no conflict
        uow.session.add(row("c", phones[2], sid))
        uow.commit()
    _expect_integrity_error(engine, lambda s: s.add(row("d", phones[0], sid)))


def test_one_inbound_row_per_message_sid(engine: Engine, uow) -> None:
    with uow:
        uow.session.add(InboundMessage(message_sid="SM" + "1" * 32, body="JOIN"))
        uow.commit()
    _expect_integrity_error(
        engine, lambda s: s.add(InboundMessage(message_sid="SM" + "1" * 32, body="JOIN again"))
    )


def test_shift_capacity_is_checked_by_the_database(engine: Engine, uow) -> None:
    with uow:
        shift = make_shift(uow.session, starts_at=T0 + timedelta(days=1), capacity=2)
        uow.commit()
        shift_id = shift.id
    from storage.db import make_session_factory

    with make_session_factory(engine)() as session, pytest.raises(IntegrityError):
        session.execute(
            update(type(shift)).where(type(shift).id == shift_id).values(committed_count=3)
        )
        session.flush()


def test_consent_ledger_is_append_only(engine: Engine, uow) -> None:
    phone = random_phone()
    with uow:
        uow.session.add(
            ConsentEvent(phone=phone, action=ConsentAction.OPT_OUT, keyword="STOP", channel="sms")
        )
        uow.commit()
    with engine.connect() as conn:
        with pytest.raises(DatabaseError, match="append-only"):
            conn.execute(text("UPDATE consent_events SET action = 'opt_in'"))
        conn.rollback()
        with pytest.raises(DatabaseError, match="append-only"):
            conn.execute(text("DELETE FROM consent_events"))
        conn.rollback()
    with uow:
        kept = uow.session.scalars(select(ConsentEvent.action)).all()
    assert kept == [ConsentAction.OPT_OUT]
