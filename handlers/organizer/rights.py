"""Who may run organizer commands: only `org.organizer_ids`; a refusal is audited."""

from __future__ import annotations

import logging

from handlers.config import OrgConfig
from handlers.errors import NotAnOrganizer
from handlers.ports import Clock
from storage.audit import audit
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)


def require_organizer(
    user_id: str, what: str, *, uow: UnitOfWork, org: OrgConfig, clock: Clock
) -> None:
    if org.is_organizer(user_id):
        return
    log.warning("refused organizer command %r from non-organizer %s", what, user_id)
    with uow:
        audit(uow.session, actor=user_id, action="denied", target=what[:120], at=clock.now())
        uow.commit()
    raise NotAnOrganizer(user_id)
