"""The audit log of organizer actions: who did what, to what, when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from storage.models import AuditEntry


def audit(
    session: Session,
    *,
    actor: str,
    action: str,
    at: datetime,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(AuditEntry(actor=actor, action=action, target=target, detail=detail, at=at))
