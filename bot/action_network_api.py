"""The Action Network adapter: `handlers.action_network.ActionNetworkApi` over its API v2.

- `POST /people` (the person signup helper): `{"person": {...}, "add_tags": [...]}`; Action
  Network matches an existing person (by email, else phone) and updates them; the answer is the
  person, whose `identifiers` hold `action_network:<uuid>`.
- `POST /events/{id}/attendances` (the record attendance helper): the same body; the answer is
  the attendance;
- `GET /people[?filter=modified_date gt '...']`: the people, 25 a page, paged by following
  `_links.next` (only while it stays on `ACTION_NETWORK_API_URL`); each person hash is handed on
  as it came (`handlers.action_network_people.parse_person` reads it, as it reads a webhook's).

The key goes in the `OSDI-API-Token` header (`ACTION_NETWORK_API_KEY`); requests go to
`ACTION_NETWORK_API_URL` (default https://actionnetwork.org/api/v2). Action Network allows 4
requests a second per key, reads and writes together: one limiter keeps the process a tenth
under it.
Each write is tried once and answered as a WriteOutcome (429 and 5xx transient); the integration
outbox retries. A read answered 429 waits for `Retry-After` (or a second) and tries again, a 5xx
is tried again a few times, then the sync fails with the reason in words (PeerError).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx

from bot.peer_http import RateLimiter, failure, retry_after, unreachable
from handlers.peers import PeerError, WriteOutcome

log = logging.getLogger(__name__)

REQUESTS_PER_SECOND = 4
PER_PAGE = 25  # Action Network's most
READ_TRIES = 4
MAX_WAIT = 30.0  # seconds: the longest Retry-After a sync waits for before giving up
PEER = "Action Network"


class ActionNetworkHttpApi:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        timeout: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
        backoff: float = 1.0,
    ):
        self.base_url = base_url.rstrip("/")
        headers = {
            "OSDI-API-Token": api_key,
            "Content-Type": "application/hal+json",
            "Accept": "application/hal+json",
            "User-Agent": "Muster",
        }
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)
        # A tenth under the limit: network jitter must not put five into one of its seconds.
        self._limit = RateLimiter(REQUESTS_PER_SECOND * 0.9, sleep=sleep)
        self._sleep = sleep
        self._backoff = backoff  # seconds before the first retry of a failed read; doubled after

    def close(self) -> None:
        self._client.close()

    # --- reads --------------------------------------------------------------------------------

    def list_people(self, *, modified_since: datetime | None) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] | None = {"per_page": PER_PAGE}
        if modified_since is not None:
            stamp = modified_since.strftime("%Y-%m-%dT%H:%M:%SZ")
            params = {**(params or {}), "filter": f"modified_date gt '{stamp}'"}
        url: str | None = "/people"
        while url:
            body = self._get(url, params)
            embedded = body.get("_embedded") or {}
            for person in embedded.get("osdi:people") or []:
                if isinstance(person, dict):
                    yield person
            url = ((body.get("_links") or {}).get("next") or {}).get("href")
            params = None  # `next` carries its own query
            if url and not url.startswith(self.base_url):
                raise PeerError("Action Network's next page is not on ACTION_NETWORK_API_URL")

    def _get(self, url: str, params: dict[str, Any] | None) -> dict[str, Any]:
        for attempt in range(1, READ_TRIES + 1):
            self._limit.wait()
            try:
                response = self._client.get(url, params=params)
            except httpx.HTTPError as exc:
                if attempt == READ_TRIES:
                    raise PeerError(unreachable(exc, PEER).error or "") from None
                self._sleep(min(self._backoff * 2 ** (attempt - 1), MAX_WAIT))
                continue
            if response.status_code == 200:
                body = response.json()
                return body if isinstance(body, dict) else {}
            outcome = failure(response, PEER)
            if not outcome.transient or attempt == READ_TRIES:
                raise PeerError(outcome.error or f"{PEER} failed")
            asked = retry_after(response)
            wait = asked if asked is not None else self._backoff * 2 ** (attempt - 1)
            if wait > MAX_WAIT:
                raise PeerError(f"{outcome.error} (asked to wait {wait:.0f} s)")
            log.info("%s answered %s; trying again in %.1f s", PEER, response.status_code, wait)
            self._sleep(wait)
        raise PeerError(f"{PEER} failed")  # (not reached)

    # --- writes -------------------------------------------------------------------------------

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
