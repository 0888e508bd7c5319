"""Fields in broadcasts: each recipient's text rendered into the outbox, fallbacks, recipients
left out and counted, the preview's samples and segment figures, unknown fields refused; sent
through the fake Twilio, a retry sends the text first rendered. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.bootstrap import Container
from bot.text_render import text as text_view
from handlers.broadcasts import (
    PRICE_PER_SEGMENT_USD,
    confirm_broadcast,
    create_draft,
    expand_broadcast,
    preview_broadcast,
)
from handlers.config import OrgConfig
from handlers.districts import districts_of
from handlers.errors import InvalidInput, UsageError
from handlers.fields import render
from handlers.legislators import LegislatorInfo, load_legislators
from handlers.messages import Channel, OrganizerCommand
from handlers.organizer.commands import run_command
from handlers.ports import FixedClock
from handlers.schedules import schedule_broadcast
from handlers.segments import count_segments
from storage.chapters import Chapter, VolunteerChapter
from storage.districts import DistrictSource, set_district
from storage.models import (
    AuditEntry,
    Broadcast,
    Delivery,
    DeliveryStatus,
    Volunteer,
    VolunteerStatus,
)
from tests.builders import make_volunteer
from tests.conftest import T0
from tests.fakes.twilio_api import FakeTwilio
from tests.sending import drain

ORG = OrgConfig(default_timezone="America/New_York")
FAST = {"rate_mps": 10_000.0, "concurrency": 8}
BODY = "Hi {first_name|friend}! Call Rep. {rep} at {rep_phone} today. Reply DONE"
HOUSE = {
    "ma/sldl:5th_bristol": ("Patricia Haddad", "+16177222600"),
    "ma/sldl:3rd_bristol": ("Carol Doherty", "+16177222230"),
    "ma/sldl:10th_bristol": ("Bill Straus", "+16177222400"),
}


def test_render_fallbacks_and_missing() -> None:
    assert render("Hi {first_name|friend}", {"first_name": None}) == "Hi friend"
    assert render("Hi {first_name|friend}", {"first_name": "Ana"}) == "Hi Ana"
    assert render("Hi { first_name }", {"first_name": "Ana"}) == "Hi Ana"
    assert render("Call {rep}", {"rep": None}) is None
    assert render("Set {a:1} and {} stay", {}) == "Set {a:1} and {} stay"


def _fifty(session) -> dict[str, list[Volunteer]]:
    """50 volunteers: 30 named with a house district, 8 unnamed with one (fallback), 2 with an
    emoji or accented name, 10 with no district (left out); plus 2 who must get nothing."""
    load_legislators(
        session,
        [LegislatorInfo(d, "sldl", n, capitol_phone=p, source="t") for d, (n, p) in HOUSE.items()],
        now=T0,
    )
    districts = list(HOUSE)
    groups: dict[str, list[Volunteer]] = {"named": [], "unnamed": [], "odd": [], "none": []}
    for i in range(30):
        groups["named"].append(make_volunteer(session, first_name=f"Vol{i}"))
    for _ in range(8):
        groups["unnamed"].append(make_volunteer(session, first_name=None))
    groups["odd"].append(make_volunteer(session, first_name="José"))  # é is GSM-7
    groups["odd"].append(make_volunteer(session, first_name="Sam 🌻"))
    for _ in range(10):
        groups["none"].append(make_volunteer(session, first_name="Nodistrict"))
    make_volunteer(session, first_name="Out", status=VolunteerStatus.OPTED_OUT)
    make_volunteer(session, first_name="Gone", status=VolunteerStatus.UNREACHABLE)
    for i, v in enumerate(groups["named"] + groups["unnamed"] + groups["odd"]):
        set_district(session, volunteer_id=v.id, chamber="sldl", district=districts[i % 3],
                     source=DistrictSource.IMPORT, vintage=None, now=T0)  # fmt: skip
    session.flush()
    return groups


def _expected(v: Volunteer, district: str) -> str:
    name, phone = HOUSE[district]
    shown = f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}"
    return f"Hi {v.first_name or 'friend'}! Call Rep. {name} at {shown} today. Reply DONE"


def test_fifty_volunteers_each_get_their_own_text(
    app: Container, fake: FakeTwilio, clock: FixedClock
) -> None:
    with app.uow() as uow:
        s = uow.session
        groups = _fifty(s)
        want = {
            v.phone: _expected(v, districts_of(s, v.id)["sldl"])
            for g in ("named", "unnamed", "odd")
            for v in groups[g]
        }
        p = preview_broadcast(s, audience="all", body=BODY, now=T0, org=ORG)
        assert p.recipients == 40
        assert p.left_out == 10
        assert p.left_out_fields == {"rep": 10, "rep_phone": 10}
        assert len(p.samples) == 3 and all(x in want.values() for x in p.samples)
        segments = [count_segments(t).segments for t in want.values()]
        assert p.total_segments == sum(segments)
        assert p.estimated_cost_usd == PRICE_PER_SEGMENT_USD * sum(segments)
        # The emoji name's text is the longest: UCS-2, two segments; the others one each.
        assert (p.segments.encoding, p.segments.segments) == ("ucs2", 2)
        assert sum(segments) == 41
        draft = create_draft(s, body=BODY, audience="all", created_by="U1", now=T0)
        assert confirm_broadcast(s, broadcast_id=draft.id, user_id="U1", now=T0) == 40
        assert expand_broadcast(s, draft, now=T0) == 0  # a second expansion writes nothing
        # The ten without a member, each counted once, on the first expansion and the second.
        left_out = s.scalars(
            select(AuditEntry.detail).where(AuditEntry.action == "broadcast.left_out")
        ).all()
        assert [d["left_out"] for d in left_out] == [10, 10]
        uow.commit()
        bid = draft.id

    drain(app, **FAST)
    sent = {m["To"]: m["Body"] for m in fake.sent()}
    assert sent == want
    with app.read_uow() as uow:
        rows = list(uow.session.scalars(select(Delivery).where(Delivery.broadcast_id == bid)))
        assert {r.segments for r in rows if "🌻" in r.body} == {2}
        jose = next(r.body for r in rows if "José" in r.body)
        assert count_segments(jose).encoding == "gsm7"
        assert len(rows) == 40


def test_a_retry_sends_the_text_first_rendered(
    app: Container, fake: FakeTwilio, clock: FixedClock
) -> None:
    with app.uow() as uow:
        v = make_volunteer(uow.session, first_name="Ana")
        load_legislators(uow.session, [LegislatorInfo("ma/sldl:5th_bristol", "sldl", "Pat",
                         capitol_phone="+16177222600", source="t")], now=T0)  # fmt: skip
        set_district(uow.session, volunteer_id=v.id, chamber="sldl", district="ma/sldl:5th_bristol",
                     source=DistrictSource.IMPORT, vintage=None, now=T0)  # fmt: skip
        draft = create_draft(uow.session, body=BODY, audience="all", created_by="U1", now=T0)
        confirm_broadcast(uow.session, broadcast_id=draft.id, user_id="U1", now=T0)
        uow.commit()
        phone = v.phone
    fake.fail(code=20429, times=1, retry_after=30)
    drain(app, **FAST)
    assert fake.sent() == []
    with app.uow() as uow:  # the volunteer renames themselves before the retry
        uow.session.get(Volunteer, v.id).first_name = "Anastasia"
        uow.commit()
    clock.advance(timedelta(seconds=30))
    drain(app, **FAST)
    assert [m["Body"] for m in fake.sent_to(phone)] == [
        "Hi Ana! Call Rep. Pat at (617) 722-2600 today. Reply DONE"
    ]


def test_unknown_field_refused_with_the_known_ones(app: Container) -> None:
    with app.uow() as uow:
        with pytest.raises(InvalidInput) as err:
            preview_broadcast(uow.session, audience="all", body="Hi {frist_name}", now=T0, org=ORG)
        message = err.value.errors["message"]
        assert "I don't know the field {frist_name}" in message
        assert "{first_name}" in message and "{us_rep_phone}" in message
        with pytest.raises(InvalidInput) as err:
            create_draft(uow.session, body="Hi", audience="all", created_by="U1", now=T0,
                         on_yes="Call {senatr}")  # fmt: skip
        assert "{senatr}" in err.value.errors["on_yes"]


def test_chapter_and_zip_fields(app: Container) -> None:
    with app.uow() as uow:
        s = uow.session
        a = make_volunteer(s, first_name="Ana", zip="02492")
        make_volunteer(s, first_name="Ben", zip="02124")
        chapter = Chapter(slug="needham", name="Needham Forward", created_at=T0)
        s.add(chapter)
        s.flush()
        s.add(VolunteerChapter(volunteer_id=a.id, chapter_id=chapter.id, source="zip", set_at=T0))
        s.flush()
        body = "{first_name}, {chapter|our group} meets near {zip}"
        p = preview_broadcast(s, audience="all", body=body, now=T0, org=ORG)
        assert sorted(p.samples) == [
            "Ana, Needham Forward meets near 02492",
            "Ben, our group meets near 02124",
        ]


def test_a_recurring_schedule_renders_at_each_firing(app: Container, clock: FixedClock) -> None:
    from scheduler.jobs import fire_schedule

    with app.uow() as uow:
        v = make_volunteer(uow.session, first_name="Ana")
        sched = schedule_broadcast(uow.session, body="Morning {first_name|friend}",
                                   audience="all", created_by="U1", now=T0,
                                   cron="0 10 * * *", timezone="America/New_York")  # fmt: skip
        uow.commit()
    for day, name in ((1, None), (2, "Anita")):
        clock.set(T0 + timedelta(days=day))  # 10:00 in Boston
        with app.uow() as uow:
            uow.session.get(Volunteer, v.id).first_name = name
            uow.commit()
        fire_schedule(app.uow(), clock, schedule_id=sched.id, org=ORG)
    with app.read_uow() as uow:
        rows = list(
            uow.session.execute(select(Delivery.body, Delivery.status).order_by(Delivery.id))
        )
    assert rows == [
        ("Morning friend", DeliveryStatus.PENDING),
        ("Morning Anita", DeliveryStatus.PENDING),
    ]


def _command(args: str) -> OrganizerCommand:
    return OrganizerCommand(Channel.SLACK, "U0ORGANIZER", "broadcast", args, T0)


def test_the_organizers_preview_shows_samples_and_who_is_left_out(app: Container) -> None:
    with app.uow() as uow:
        v = make_volunteer(uow.session, first_name="Ana")
        make_volunteer(uow.session, first_name="Ben")
        load_legislators(uow.session, [LegislatorInfo("ma/sldl:5th_bristol", "sldl", "Pat",
                         capitol_phone="+16177222600", source="t")], now=T0)  # fmt: skip
        set_district(uow.session, volunteer_id=v.id, chamber="sldl", district="ma/sldl:5th_bristol",
                     source=DistrictSource.IMPORT, vintage=None, now=T0)  # fmt: skip
        uow.commit()
    args = 'to=all message="{first_name}, call {rep} at {rep_phone}" on_yes="Thanks {first_name}!"'
    result = run_command(_command(args), uow=app.uow(), org=app.org, clock=app.clock)
    view = result.view
    assert view.recipients == 1
    assert view.samples == ("Ana, call Pat at (617) 722-2600",)
    assert view.on_yes == "Thanks {first_name}!"
    assert view.left_out == 1
    assert view.left_out_text.startswith("1 left out: they lack a field that has no fallback")
    text = text_view(view)
    assert "As sent: Ana, call Pat at (617) 722-2600" in text
    assert "If YES: Thanks {first_name}!" in text
    with app.read_uow() as uow:
        draft = uow.session.get(Broadcast, view.broadcast_id)
        assert draft.on_yes == "Thanks {first_name}!"
    with pytest.raises(UsageError) as err:
        run_command(_command('to=all message="Hi {nme}"'), uow=app.uow(), org=app.org,
                    clock=app.clock)  # fmt: skip
    assert "I don't know the field {nme}. The fields are: {first_name}, {zip}" in err.value.message


def test_the_database_renders_what_python_renders(app: Container) -> None:
    """Odd names (escaped GSM-7 characters, accents, blanks), a multi-member district, a
    non-US number: each row's text and segment count equal Python's rendering of it."""
    from handlers.rendered_deliveries import rendered
    from storage.models import Volunteer as V

    with app.uow() as uow:
        s = uow.session
        load_legislators(s, [
            LegislatorInfo("nh/sldl:belknap_2", "sldl", "Zed", capitol_phone="+16032711111",
                           source="t"),
            LegislatorInfo("nh/sldl:belknap_2", "sldl", "Abe", district_phone="+442079460000",
                           source="t"),
        ], now=T0)  # fmt: skip
        for name in ("Jo[e]~", "  ", "Ève", "A" * 80, "x|y^z", None):
            v = make_volunteer(s, first_name=name)
            set_district(s, volunteer_id=v.id, chamber="sldl", district="nh/sldl:belknap_2",
                         source=DistrictSource.IMPORT, vintage=None, now=T0)  # fmt: skip
        body = "Dear {first_name|neighbour}, call {rep} on {rep_phone} " + "-" * 60
        want = {r.phone: text for r, text in rendered(s, V.id.is_not(None), body)}
        draft = create_draft(s, body=body, audience="all", created_by="U1", now=T0)
        confirm_broadcast(s, broadcast_id=draft.id, user_id="U1", now=T0)
        rows = list(s.scalars(select(Delivery).where(Delivery.broadcast_id == draft.id)))
        assert {r.to_phone: r.body for r in rows} == want
        assert [(r.body[:12], r.segments) for r in rows] == [
            (r.body[:12], count_segments(r.body).segments) for r in rows
        ]
        assert all("call Abe on +442079460000 " in r.body for r in rows)
