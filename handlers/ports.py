"""The ports handlers and jobs depend on. Adapters in bot/ implement them; tests use fakes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to (tests, benchmarks)."""

    def __init__(self, at: datetime):
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._at = at

    def now(self) -> datetime:
        return self._at

    def advance(self, delta: timedelta | float) -> datetime:
        self._at += delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        return self._at

    def set(self, at: datetime) -> None:
        self._at = at


@dataclass(frozen=True, slots=True)
class SendResult:
    """What happened to one send attempt."""

    ok: bool
    provider_sid: str | None = None
    status: str | None = None  # queued, accepted, sent ...
    error_code: str | None = None
    error_message: str | None = None
    retry_after: float | None = None  # seconds, from Retry-After
    transient: bool = False  # worth retrying later


class SmsSender(Protocol):
    """Sends one text now. TwilioSmsSender and ConsoleSmsSender implement it."""

    async def send(
        self,
        *,
        to: str,
        body: str,
        status_callback: str | None = None,
        validity_period: int | None = None,
    ) -> SendResult: ...


@dataclass(frozen=True, slots=True)
class CallResult:
    """What Twilio said when asked to place one call."""

    ok: bool
    call_sid: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    transient: bool = False  # worth asking again in a moment


class VoiceCaller(Protocol):
    """Places one outbound call (bot/twilio_voice.py: Twilio's Calls API)."""

    def place(
        self, *, to: str, from_: str, url: str, status_callback: str, timeout: int
    ) -> CallResult: ...
