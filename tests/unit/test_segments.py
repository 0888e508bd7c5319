"""Segment counting as carriers bill it: GSM-7 vs UCS-2, with the concatenation headers."""

from __future__ import annotations

import pytest

from handlers.segments import count_segments, non_gsm_characters


@pytest.mark.parametrize(
    ("body", "encoding", "segments", "units"),
    [
        ("", "gsm7", 0, 0),
        ("Canvass Saturday 10am, reply YES", "gsm7", 1, 32),
        ("a" * 160, "gsm7", 1, 160),
        ("a" * 161, "gsm7", 2, 161),
        ("a" * 306, "gsm7", 2, 306),  # 2 x 153
        ("a" * 307, "gsm7", 3, 307),
        ("€" * 80, "gsm7", 1, 160),  # extension table: two septets each
        ("€" * 81, "gsm7", 2, 162),
        ("a" * 152 + "€" + "a" * 10, "gsm7", 2, 164),  # the escape pair is not split
        ("é, ñ, ü, à and ¿ are GSM-7", "gsm7", 1, 26),
        ("Ç and É too", "gsm7", 1, 11),
        ("Rally at 5 \U0001f4e3", "ucs2", 1, 13),  # an emoji is a surrogate pair
        ("x" * 70 + "ç", "ucs2", 2, 71),  # lower-case c-cedilla is not GSM-7
        ("’" * 70, "ucs2", 1, 70),  # a curly apostrophe forces UCS-2
        ("’" * 134, "ucs2", 2, 134),  # 2 x 67
        ("’" * 135, "ucs2", 3, 135),
        ("x" * 66 + "\U0001f600" + "x" * 10, "ucs2", 2, 78),  # the pair moves to part two whole
    ],
)
def test_count_segments(body: str, encoding: str, segments: int, units: int) -> None:
    info = count_segments(body)
    assert (info.encoding, info.segments, info.units) == (encoding, segments, units)
    assert info.chars == len(body)


def test_the_characters_that_force_ucs2_are_named_once_each() -> None:
    assert non_gsm_characters("Don’t miss it’s start \U0001f4e3") == ["’", "\U0001f4e3"]
    assert non_gsm_characters("plain text") == []


def test_per_segment_capacity_follows_the_encoding() -> None:
    assert count_segments("a" * 100).per_segment == 160
    assert count_segments("a" * 200).per_segment == 153
    assert count_segments("’").per_segment == 70
    assert count_segments("’" * 100).per_segment == 67
