"""What every peer service's adapter answers the handler layer with (Mobilize, Action Network).

Adapters in bot/ turn the peer's HTTP answers into these; no raw HTTP response or JSON page
reaches handlers/.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class PeerError(Exception):
    """A read from a peer failed (after the adapter's own retries); the message is in words."""


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """What one write to a peer came to."""

    ok: bool
    result: dict[str, Any] = field(default_factory=dict)  # ids the peer gave back
    error: str | None = None  # in words, for organizers
    transient: bool = False  # worth trying again later (429, 5xx, no connection)
    retry_after: float | None = None  # seconds, from the peer's Retry-After
