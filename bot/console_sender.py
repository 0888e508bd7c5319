"""`ConsoleSmsSender`: the transport when no Twilio credentials are set.

It "sends" by recording: the text stays in the `deliveries` table, marked delivered with a
console message id, which is what the local console shows as the volunteer's phone. Numbers are
masked in the log, as everywhere.
"""

from __future__ import annotations

import logging
import secrets
from collections import deque

from handlers.phones import masked
from handlers.ports import SendResult

log = logging.getLogger(__name__)


class ConsoleSmsSender:
    def __init__(self, *, keep: int = 1000):
        self.sent: deque[tuple[str, str, str]] = deque(maxlen=keep)  # (sid, to, body), newest last

    async def send(
        self,
        *,
        to: str,
        body: str,
        status_callback: str | None = None,
        validity_period: int | None = None,
    ) -> SendResult:
        sid = "CONSOLE" + secrets.token_hex(12)
        self.sent.append((sid, to, body))
        log.info("console transport: text to %s (%d chars)", masked(to), len(body))
        return SendResult(ok=True, provider_sid=sid, status="delivered")
