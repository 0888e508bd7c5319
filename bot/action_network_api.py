"""The Action Network adapter: `handlers.action_network.ActionNetworkApi` over its API v2.

- `POST /people` (the person signup helper): `{"person": {...}, "add_tags": [...]}`; Action
  Network matches an existing person (by email, else phone) and updates them; the answer is the
  person, whose `identifiers` hold `action_network:<uuid>`.
- `POST /events/{id}/attendances` (the record attendance helper): the same body; the answer is
  the attendance.

The key goes in the `OSDI-API-Token` header (`ACTION_NETWORK_API_KEY`); requests go to
`ACTION_NETWORK_API_URL` (default https://actionnetwork.org/api/v2). Action Network allows 4
requests a second per key: a limiter keeps the process within it. Each write is tried once and
answered as a WriteOutcome (429 and 5xx transient); the integration outbox retries.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from bot.peer_http import RateLimiter, failure, unreachable
from handlers.peers import WriteOutcome

REQUESTS_PER_SECOND = 4
PEER = "Action Network"


class ActionNetworkHttpApi:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        timeout: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = base_url.rstrip("/")
        headers = {
            "OSDI-API-Token": api_key,
            "Content-Type": "application/hal+json",
            "Accept": "application/hal+json",
            "User-Agent": "Muster",
        }
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)
        self._limit = RateLimiter(REQUESTS_PER_SECOND, sleep=sleep)

    def close(self) -> None:
        self._client.close()

    def signup_person(self, body: dict[str, Any]) -> WriteOutcome:
        answer = self._post("/people", body)
        if isinstance(answer, WriteOutcome):
            return answer
        return WriteOutcome(ok=True, result={"person_id": _identifier(answer)})

    def record_attendance(self, *, event_id: str, body: dict[str, Any]) -> WriteOutcome:
        answer = self._post(f"/events/{event_id}/attendances", body)
        if isinstance(answer, WriteOutcome):
            return answer
        return WriteOutcome(ok=True, result={"attendance_id": _identifier(answer)})

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any] | WriteOutcome:
        self._limit.wait()
        try:
            response = self._client.post(path, json=body)
        except httpx.HTTPError as exc:
            return unreachable(exc, PEER)
        if response.status_code not in (200, 201):
            return failure(response, PEER)
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        return answer if isinstance(answer, dict) else {}


def _identifier(resource: dict[str, Any]) -> str | None:
    """The Action Network id (`action_network:<uuid>` in `identifiers`), when given."""
    for identifier in resource.get("identifiers") or []:
        system, _, value = str(identifier).partition(":")
        if system == "action_network" and value:
            return value
    return None
