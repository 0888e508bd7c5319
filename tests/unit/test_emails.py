"""Emails a volunteer gives are checked and normalized; a wrong one is refused with the reason."""

from __future__ import annotations

import pytest

from handlers.emails import normalized_email
from handlers.errors import InvalidInput


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("me@example.org", "me@example.org"),
        ("  Maria.Lopez@Example.ORG. ", "Maria.Lopez@example.org"),
        ("<me@example.org>", "me@example.org"),
    ],
)
def test_valid_addresses_are_normalized(raw: str, stored: str) -> None:
    assert normalized_email(raw) == stored


@pytest.mark.parametrize("raw", ["", "me", "me@", "me@@example.org", "me@example"])
def test_invalid_addresses_are_refused(raw: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalized_email(raw)
    assert "email" in caught.value.errors
