"""Twilio's inbound-message form as an `InboundText`: read by the webhook (bot/twilio_inbound.py)
and by the spool's replayer (bot/spool.py) for a text kept while the database was away."""

from __future__ import annotations

from datetime import datetime

from handlers.messages import Channel, InboundText
from handlers.phones import to_e164


def inbound_text(params: dict[str, str], received_at: datetime) -> InboundText | None:
    """Twilio's form as an `InboundText`, or None without a usable From or MessageSid."""
    phone = to_e164(params.get("From"))
    sid = params.get("MessageSid") or params.get("SmsSid")
    if phone is None or not sid:
        return None
    return InboundText(
        channel=Channel.SMS,
        phone=phone,
        text=params.get("Body", ""),
        received_at=received_at,
        message_id=sid,
        to=params.get("To"),
        opt_out_type=(params.get("OptOutType") or None),
        from_zip=params.get("FromZip") or None,
    )
