"""`muster forget PHONE`: the operator's way to honour a volunteer's request to be forgotten."""

from __future__ import annotations

import logging
import sys

from bot.bootstrap import Container
from handlers.messages import Channel
from handlers.phones import masked, to_e164
from handlers.privacy import forget_volunteer

log = logging.getLogger(__name__)


def forget(container: Container, phone: str) -> int:
    """Erase the volunteer's personal data; exit 0 when something was erased (or the number's
    opt-out recorded now), 1 when nothing was held for that number and its opt-out was on record
    already, 2 when it is not a phone number."""
    e164 = to_e164(phone)
    if e164 is None:
        print("muster forget: not a valid phone number (e.g. +16175551234)", file=sys.stderr)
        return 2
    uow = container.uow()
    with uow:
        outcome = forget_volunteer(
            uow.session,
            phone=e164,
            actor="cli",
            channel=str(Channel.CLI),
            now=container.clock.now(),
        )
        uow.commit()
    log.info("forgot %s: %s", masked(e164), outcome.as_detail())
    print(outcome.summary())
    return 0 if outcome.anything_done else 1
