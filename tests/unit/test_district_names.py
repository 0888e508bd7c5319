"""Districts are named and validated from openstates-metadata: short, full and named forms."""

from __future__ import annotations

import pytest

from handlers.district_names import UnknownDistrict, parse_district, short_id


@pytest.mark.parametrize(
    ("typed", "state", "chamber", "expected", "label"),
    [
        ("ma/sldl:10th_bristol", None, None, "ma/sldl:10th_bristol", "MA House 10th Bristol"),
        ("ocd-division/country:us/state:ma/cd:4", None, None, "ma/cd:4", "US House MA-4"),
        ("MA/SLDL:10th_Bristol", None, "sldl", "ma/sldl:10th_bristol", "MA House 10th Bristol"),
        ("10th Bristol", "ma", "sldl", "ma/sldl:10th_bristol", "MA House 10th Bristol"),
        ("Second Middlesex", "MA", "sldu", "ma/sldu:2nd_middlesex", "MA Senate Second Middlesex"),
        ("2nd middlesex", "MA", "sldu", "ma/sldu:2nd_middlesex", "MA Senate Second Middlesex"),
        ("04", "ma", "cd", "ma/cd:4", "US House MA-4"),
        ("MA-4", "ma", "cd", "ma/cd:4", "US House MA-4"),
        ("at-large", "ak", "cd", "ak/cd:at-large", "US House AK-AL"),
        ("1", "wy", "cd", "wy/cd:at-large", "US House WY-AL"),
        # Nebraska's unicameral legislature: its districts are sldu, and it has no sldl.
        ("12", "ne", "sldu", "ne/sldu:12", "NE Legislature District 12"),
        # DC: the delegate is the whole District; the council's wards are its sldu.
        ("ocd-division/country:us/district:dc", None, "cd", "dc", "US House DC-AL"),
        ("Ward 1", "dc", "sldu", "dc/ward:1", "DC Council Ward 1"),
        # A multi-member district is one district, labelled with its seats.
        ("Belknap 2", "nh", "sldl", "nh/sldl:belknap_2", "NH House Belknap 2 (2 seats)"),
    ],
)
def test_parse_district(typed, state, chamber, expected, label) -> None:
    district = parse_district(typed, state=state, chamber=chamber)
    assert district.id == expected
    assert district.label == label


def test_short_and_full_ids() -> None:
    assert short_id("ocd-division/country:us/state:ma/sldl:10th_bristol") == "ma/sldl:10th_bristol"
    assert short_id("ocd-division/country:us/territory:pr") == "pr"
    assert parse_district("ma/sldl:10th_bristol").full_id == (
        "ocd-division/country:us/state:ma/sldl:10th_bristol"
    )


@pytest.mark.parametrize(
    ("typed", "state", "chamber", "nearest"),
    [
        ("ma/sldl:10th_bristl", None, None, "ma/sldl:10th_bristol"),
        ("ma/cd:12", None, None, "ma/cd:2"),
        ("ma/cd:4", None, "sldl", "ma/sldl:4th_essex"),
        ("ne/sldl:12", None, None, "ne/sldu:12"),
    ],
)
def test_unknown_district_is_refused_with_the_nearest(typed, state, chamber, nearest) -> None:
    with pytest.raises(UnknownDistrict) as refused:
        parse_district(typed, state=state, chamber=chamber)
    assert nearest in refused.value.nearest
    assert nearest in refused.value.message
