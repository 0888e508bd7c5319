"""The organization's configuration as the handler layer sees it (built from Settings in bot/)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class OrgConfig:
    org_name: str = "Muster"
    org_contact: str | None = None
    default_timezone: str = "America/New_York"
    quiet_hours: tuple[time, time] | None = (time(21, 0), time(9, 0))
    organizer_ids: frozenset[str] = field(default_factory=frozenset)
    public_url: str = "http://127.0.0.1:8000"
    geocoder: bool = False  # GEOCODER is on: street addresses are looked up for districts
    action_network: bool = False  # ACTION_NETWORK_API_KEY is set: new volunteers are sent there
    # TWILIO_VOICE=on: CALL offers patch-through calls, placed from this number (else None).
    voice_number: str | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.default_timezone)

    def is_organizer(self, user_id: str) -> bool:
        return user_id in self.organizer_ids
