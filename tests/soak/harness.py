"""The soak test's moving parts: Muster's real processes, and a load generator that texts them.

Everything talks over loopback: the load generator POSTs form-encoded texts to the web process's
`/twilio/sms` with signatures made by the twilio library, exactly as Twilio would; the workers
send to a fake Twilio REST API in this process.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from twilio.request_validator import RequestValidator

MUSTER = [sys.executable, "-m", "bot.cli"]
ROOT = Path(__file__).resolve().parents[2]


def muster_env(**values: str) -> dict[str, str]:
    """The environment of a Muster process: nothing from the developer's Twilio/Slack setup."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "SLACK_"))}
    env.pop("DATABASE_URL", None)
    env.update(values)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class MusterProcess:
    """One `muster ...` process, its log in a file; killed or stopped on request."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path):
        self.name, self.args, self.env = name, args, env
        self.log_path = logs / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.exits: list[int] = []

    def start(self) -> MusterProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [*MUSTER, *self.args], env=self.env, cwd=ROOT, stdout=log, stderr=log
        )
        log.close()
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.exits.append(self.proc.wait(30))

    def terminate(self, timeout: float = 60) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(10)
        self.exits.append(code)
        return code

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def wait_for_health(base: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{base} did not become healthy")


@dataclass
class Sent:
    """One text the load generator sent (and maybe re-sent, as Twilio's retry would)."""

    sid: str
    phone: str
    body: str
    status: int | None = None  # HTTP status of the (last) answer, None when none came
    reply: str = ""
    at: float = 0.0  # time.time() when answered
    attempts: int = 0


@dataclass
class LoadReport:
    sent: list[Sent] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def answered(self) -> list[Sent]:
        return [s for s in self.sent if s.status == 200]


class Texter:
    """Volunteers' phones: signed POSTs to /twilio/sms, one conversation per phone in order."""

    def __init__(self, base: str, auth_token: str, *, to: str, concurrency: int = 24):
        self.url = f"{base}/twilio/sms"
        self.validator = RequestValidator(auth_token)
        self.to = to
        self.semaphore = asyncio.Semaphore(concurrency)
        self.report = LoadReport()

    async def text(
        self, client: httpx.AsyncClient, phone: str, body: str, *, resend: bool = False
    ) -> Sent:
        sent = Sent(sid="SM" + uuid.uuid4().hex, phone=phone, body=body)
        self.report.sent.append(sent)
        params = {
            "AccountSid": "AC" + "f" * 32,
            "ApiVersion": "2010-04-01",
            "Body": body,
            "From": phone,
            "FromZip": "02124",
            "MessageSid": sent.sid,
            "NumMedia": "0",
            "SmsMessageSid": sent.sid,
            "SmsSid": sent.sid,
            "SmsStatus": "received",
            "To": self.to,
        }
        headers = {"X-Twilio-Signature": self.validator.compute_signature(self.url, params)}
        for _ in range(2 if resend else 1):  # a resend: Twilio delivering the same text twice
            async with self.semaphore:
                sent.attempts += 1
                try:
                    response = await client.post(self.url, data=params, headers=headers)
                    sent.status, sent.reply = response.status_code, response.text
                except httpx.HTTPError as exc:
                    sent.status = None
                    self.report.errors.append(f"{body!r}: {type(exc).__name__}")
                sent.at = time.time()
        return sent

    async def conversation(
        self,
        client: httpx.AsyncClient,
        phone: str,
        bodies: Iterable[str],
        *,
        pause: float,
        resend_rate: float,
    ) -> None:
        for body in bodies:
            await self.text(client, phone, body, resend=random.random() < resend_rate)
            await asyncio.sleep(random.uniform(0, pause))
