"""ZIP codes: real ones known, distances sensible, radius searches nearest first."""

from __future__ import annotations

import pytest

from handlers import geo


@pytest.mark.parametrize(
    ("text", "zip5", "state", "zone"),
    [
        ("02124", "02124", "MA", "America/New_York"),
        (" 60601-1234 ", "60601", "IL", "America/Chicago"),
        ("96813", "96813", "HI", "Pacific/Honolulu"),
        ("941031234", "94103", "CA", "America/Los_Angeles"),
    ],
)
def test_real_zips_have_a_state_and_a_zone(text: str, zip5: str, state: str, zone: str) -> None:
    info = geo.zip_info(text)
    assert info is not None
    assert (info.zip, info.state, info.timezone) == (zip5, state, zone)


@pytest.mark.parametrize("text", ["00000", "99999", "1234", "abcde", "", None, "021245"])
def test_what_is_not_a_us_zip(text: str | None) -> None:
    assert geo.zip_info(text) is None


def test_miles_between_boston_and_new_york_is_about_190() -> None:
    d = geo.miles_between("02108", "10001")
    assert d is not None and 180 < d < 200
    assert geo.miles_between("02108", "02108") == 0
    assert geo.miles_between("02108", "00000") is None


def test_zips_within_a_radius_are_nearest_first_and_stay_inside_it() -> None:
    near = geo.zips_within("02124", 3)
    assert near[0] == "02124"
    assert "02125" in near and "01608" not in near  # Dorchester yes, Worcester no
    distances = [geo.miles_between("02124", z) for z in near]
    assert distances == sorted(distances) and max(distances) <= 3
    assert set(near) <= set(geo.zips_within("02124", 10))
    assert geo.zips_within("00000", 10) == []
    with pytest.raises(ValueError):
        geo.zips_within("02124", -1)
