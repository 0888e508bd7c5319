"""The volunteer's side: every text a volunteer sends comes through `receive_text`."""

from __future__ import annotations

from sqlalchemy import select

from handlers.config import OrgConfig
from handlers.messages import InboundText
from handlers.ports import Clock
from handlers.results import Result
from storage.models import InboundMessage
from storage.outbox import record_effects
from storage.uow import UnitOfWork


def receive_text(msg: InboundText, *, uow: UnitOfWork, org: OrgConfig, clock: Clock) -> Result:
    """Record the text once (by its message id) and answer it. A repeat gets the same answer."""
    with uow:
        seen = uow.session.scalar(
            select(InboundMessage).where(InboundMessage.message_sid == msg.message_id)
        )
        if seen is not None:
            return Result(reply=seen.reply, intent="duplicate")
        result = Result(reply=f"{org.org_name}: thanks, we got your message.", intent="other")
        uow.session.add(
            InboundMessage(
                message_sid=msg.message_id,
                channel=str(msg.channel),
                from_phone=msg.phone,
                to_phone=msg.to,
                body=msg.text,
                intent=result.intent,
                reply=result.reply,
                opt_out_type=msg.opt_out_type,
                received_at=msg.received_at,
            )
        )
        record_effects(uow.session, result)
        uow.commit()
        return result
