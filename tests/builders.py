"""Small builders for test data.

Phone numbers are random, so tests never depend on a particular one, and never repeat within a
test run: 400 random numbers from one area code collide about once in a hundred draws, which
once failed CI on a UNIQUE constraint.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from storage.models import (
    OnboardingStep,
    Shift,
    Volunteer,
    VolunteerStatus,
    VolunteerTag,
)

# Valid US area codes in distinct zones, for tests that care where a volunteer is.
AREA_CODES = {
    "America/New_York": "617",  # Boston
    "America/Chicago": "312",  # Chicago
    "Pacific/Honolulu": "808",  # Honolulu
    "America/Los_Angeles": "415",
}


_issued: set[str] = set()


def random_phone(area: str = "617") -> str:
    """A valid-looking US mobile number in E.164, never one this run has handed out before.

    Exchanges ending in 11 and the 555 exchange are not valid numbers, so they are avoided.
    """
    while True:
        exchange = random.randint(201, 989)
        if exchange % 100 == 11 or str(exchange)[1:] == "55":
            continue
        phone = f"+1{area}{exchange}{random.randint(0, 9999):04d}"
        if phone not in _issued:
            _issued.add(phone)
            return phone


def make_volunteer(session: Session, **fields: Any) -> Volunteer:
    tags = fields.pop("tags", [])
    values: dict[str, Any] = {
        "phone": random_phone(),
        "first_name": "Alex",
        "zip": "02124",
        "state": "MA",
        "timezone": "America/New_York",
        "status": VolunteerStatus.ACTIVE,
        "onboarding_step": OnboardingStep.DONE,
    }
    values.update(fields)
    volunteer = Volunteer(**values)
    volunteer.tags = [VolunteerTag(tag=t) for t in tags]
    session.add(volunteer)
    session.flush()
    return volunteer


def make_shift(session: Session, *, starts_at: datetime, **fields: Any) -> Shift:
    values: dict[str, Any] = {
        "title": "Phonebank for the Clean Energy bill",
        "kind": "phonebank",
        "location": "Dorchester office, 1 Main St",
        "zip": "02124",
        "ends_at": starts_at + timedelta(hours=2),
        "timezone": "America/New_York",
        "capacity": 10,
        "tags": ["phonebank"],
    }
    values.update(fields)
    shift = Shift(starts_at=starts_at, **values)
    session.add(shift)
    session.flush()
    return shift
