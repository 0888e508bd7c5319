"""Reminders that fall in quiet hours wait for the morning, through the real sender and the fake
Twilio API; one that could only arrive after its shift started is dropped, never sent late."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.bootstrap import Container
from scheduler.jobs import run_reminder_sweep
from storage.models import Commitment, CommitmentStatus, Delivery, DeliveryStatus
from tests.builders import make_shift, make_volunteer
from tests.fakes.twilio_api import FakeTwilio
from tests.sending import drain

FAST = {"rate_mps": 10_000.0, "concurrency": 4}
# `app` and `fake` are tests/integration/conftest.py's: the settings' QUIET_HOURS 21:00-09:00.


def _signed_up(app: Container, *, starts_at: datetime, hours: float = 2, title: str) -> int:
    with app.uow() as uow:
        volunteer = make_volunteer(uow.session, first_name="Maria")
        shift = make_shift(uow.session, starts_at=starts_at, title=title,
                           ends_at=starts_at + timedelta(hours=hours))  # fmt: skip
        commitment = Commitment(volunteer_id=volunteer.id, shift_id=shift.id,
                                status=CommitmentStatus.COMMITTED,
                                created_at=starts_at - timedelta(days=3),
                                committed_at=starts_at - timedelta(days=3))  # fmt: skip
        uow.session.add(commitment)
        uow.commit()
        return commitment.id


def _delivery(app: Container, key: str) -> Delivery:
    with app.read_uow() as uow:
        row = uow.session.scalars(select(Delivery).where(Delivery.idempotency_key == key)).one()
        uow.session.expunge_all()
        return row


def test_a_check_in_due_at_7am_waits_until_9am(app: Container, fake: FakeTwilio, clock) -> None:
    # A 4-6 AM lit drop in Boston: "Did you make it?" is due at 7:00 local, inside quiet hours.
    cid = _signed_up(app, starts_at=datetime(2026, 11, 17, 9, 0, tzinfo=UTC), title="Lit drop")
    clock.set(datetime(2026, 11, 17, 12, 0, 30, tzinfo=UTC))  # 7:00:30 in Boston
    assert run_reminder_sweep(app.uow(), clock, org=app.org).checkin == 1
    drain(app, **FAST)
    assert fake.sent() == []  # held, not sent at 7 AM
    held = _delivery(app, f"rem:{cid}:checkin")
    assert held.status == DeliveryStatus.PENDING
    assert held.send_after == datetime(2026, 11, 17, 14, 0, tzinfo=UTC)  # 9:00 in Boston

    clock.set(datetime(2026, 11, 17, 14, 0, 5, tzinfo=UTC))
    assert run_reminder_sweep(app.uow(), clock, org=app.org).queued == 0  # not queued again
    drain(app, **FAST)
    [sent] = fake.sent()
    assert sent["Body"].endswith("Did you make it? Reply Y or N.")
    assert _delivery(app, f"rem:{cid}:checkin").status == DeliveryStatus.QUEUED


def test_a_two_hour_reminder_at_7_30_goes_at_9_and_one_at_7_is_dropped(
    app: Container, fake: FakeTwilio, clock
) -> None:
    nine_thirty = _signed_up(app, starts_at=datetime(2026, 11, 17, 14, 30, tzinfo=UTC),
                             title="Canvass")  # fmt: skip
    nine = _signed_up(app, starts_at=datetime(2026, 11, 17, 14, 0, tzinfo=UTC), title="Phonebank")
    clock.set(datetime(2026, 11, 17, 12, 0, 30, tzinfo=UTC))  # 7:00:30: the 9:00 shift's rung
    run_reminder_sweep(app.uow(), clock, org=app.org)
    clock.set(datetime(2026, 11, 17, 12, 30, 30, tzinfo=UTC))  # 7:30:30: the 9:30 shift's rung
    run_reminder_sweep(app.uow(), clock, org=app.org)
    drain(app, **FAST)
    assert fake.sent() == []

    clock.set(datetime(2026, 11, 17, 14, 0, 5, tzinfo=UTC))  # 9:00 in Boston
    drain(app, **FAST)
    [sent] = fake.sent()
    assert "Canvass starts at 9:30 AM today" in sent["Body"]
    assert _delivery(app, f"rem:{nine_thirty}:twohours").status == DeliveryStatus.QUEUED
    # The 9:00 shift has started: its "2 hours before" text would only arrive late.
    assert _delivery(app, f"rem:{nine}:twohours").status == DeliveryStatus.EXPIRED
