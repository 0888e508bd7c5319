"""`/muster districts`, `target add|remove`, `targets` and `shift add district=ID` through the real
Slack route; SHIFTS lists the volunteer's own districts' shifts first."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from handlers.districts import put_districts
from handlers.shift_lists import list_open_shifts, open_shifts_in_districts
from storage.districts import DistrictSource, TargetDistrict
from storage.models import AuditEntry, Commitment, CommitmentStatus, InboundMessage, Shift
from tests.adapters.slack_harness import SlackHarness, blocks_text
from tests.builders import make_shift, make_volunteer
from tests.conftest import T0

BRISTOL = "ma/sldl:10th_bristol"


def _people(slack: SlackHarness) -> None:
    with slack.container.uow() as uow:
        s = uow.session
        shift = make_shift(s, starts_at=T0 + timedelta(days=2), district=BRISTOL)
        for i in range(3):
            v = make_volunteer(s, first_name=f"B{i}")
            put_districts(s, v.id, {"sldl": BRISTOL}, source=DistrictSource.IMPORT, vintage=None,
                          now=T0)  # fmt: skip
            if i == 0:
                s.add(InboundMessage(message_sid=f"SM{v.id}x", from_phone=v.phone,
                                     volunteer_id=v.id, body="hi", received_at=T0))  # fmt: skip
                s.add(Commitment(volunteer_id=v.id, shift_id=shift.id,
                                 status=CommitmentStatus.COMMITTED,
                                 created_at=T0 - timedelta(days=60)))  # fmt: skip
        other = make_volunteer(s)
        put_districts(s, other.id, {"sldl": "ma/sldl:13th_norfolk"}, source=DistrictSource.IMPORT,
                      vintage=None, now=T0)  # fmt: skip
        uow.commit()


def test_targets_with_goal_and_the_districts_table(slack: SlackHarness) -> None:
    _people(slack)
    text = blocks_text(
        slack.ask(
            "target add ocd-division/country:us/state:ma/sldl:10th_bristol goal=40 "
            'reason="open seat"'
        )
    )
    assert "Target district: ma/sldl:10th_bristol (MA House 10th Bristol), goal 40" in text
    with slack.container.read_uow() as uow:
        [target] = uow.session.scalars(select(TargetDistrict)).all()
        assert (target.goal, target.set_by, target.reason) == (40, "U0ORGANIZER", "open seat")
        assert uow.session.scalars(
            select(AuditEntry.action).where(AuditEntry.target == BRISTOL)
        ).all() == ["target.add"]

    table = blocks_text(slack.ask("districts MA"))
    assert table.index("10th Bristol") < table.index("13th Norfolk")  # targets first
    assert "3 living there · 1 active in 30 days · 1 committed to its shifts this week" in table
    assert "3/40 · gap 37" in table
    assert "open seat" in table

    targets = blocks_text(slack.ask("targets"))
    assert "10th Bristol" in targets and "13th Norfolk" not in targets

    refused = blocks_text(slack.ask("target add ma/sldl:10th_bristl"))
    assert "I don't know the district 'ma/sldl:10th_bristl'" in refused
    assert "ma/sldl:10th_bristol" in refused
    assert "is no longer a target" in blocks_text(slack.ask("target remove ma/sldl:10th_bristol"))


def test_shift_add_takes_a_district_and_shifts_list_own_districts_first(
    slack: SlackHarness,
) -> None:
    text = blocks_text(
        slack.ask(
            'shift add title="Canvass 10th Bristol" start="2026-11-25 10:00" '
            'end="2026-11-25 12:00" capacity=10 zip=02720 district=ma/sldl:10th_bristol'
        )
    )
    assert "Canvass 10th Bristol" in text
    bad = blocks_text(
        slack.ask(
            'shift add title="X" start="2026-11-25 10:00" end="2026-11-25 12:00" capacity=10 '
            "district=ma/sldl:99th_bristol"
        )
    )
    assert "I don't know the district" in bad
    with slack.container.uow() as uow:
        s = uow.session
        [shift] = s.scalars(select(Shift).where(Shift.district.is_not(None))).all()
        assert shift.district == BRISTOL
        make_shift(s, title="Nearby phonebank", starts_at=T0 + timedelta(days=1), zip="02124")
        uow.commit()
        near = list_open_shifts(s, now=T0, near_zip="02124")
        assert near[0].title == "Nearby phonebank"
        assert [x.title for x in open_shifts_in_districts(s, now=T0, districts=[BRISTOL])] == [
            "Canvass 10th Bristol"
        ]


def test_app_home_shows_target_districts_as_bars_to_goal(slack: SlackHarness) -> None:
    _people(slack)
    slack.ask(f"target add {BRISTOL} goal=40")
    slack.event({"type": "app_home_opened", "user": "U0ORGANIZER", "channel": "D1", "tab": "home"})
    view = str(slack.slack.wait_for("views.publish")[0].json_param("view"))
    assert "Target districts: volunteers living there" in view
    assert "MA House 10th Bristol* 3/40 · gap 37 · 1 committed this week" in view
    assert "13th Norfolk" not in view  # not a target
