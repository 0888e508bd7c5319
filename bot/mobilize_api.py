"""The Mobilize adapter: `handlers.mobilize.MobilizeApi` over Mobilize's public API (v1).

- `GET /v1/organizations/{id}/events?timeslot_start=gte_now[&updated_since=T]`, paged by following
  `next` (a full URL, followed only while it stays on `MOBILIZE_API_URL`);
- `GET /v1/organizations/{id}/events/deleted[?updated_since=T]` (`id`, `deleted_date`);
- `POST /v1/organizations/{id}/events/{event_id}/attendances` (needs `MOBILIZE_API_KEY`, sent as
  `Authorization: Bearer ...`);
- `PUT /v1/organizations/{id}/events/{event_id}/attendances/{attendance_id}` with
  `{"status": "CANCELLED"}` to withdraw one (see docs/integrations.md on this endpoint).

Mobilize allows 15 reads and 5 writes a second per key: two limiters keep the process within
them. A read answered 429 waits for `Retry-After` and tries again, a 5xx is tried again a few
times, then the sync fails with the reason in words. Writes are tried once; the integration
outbox retries them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx

from bot.peer_http import RateLimiter, failure, retry_after, unreachable
from handlers.mobilize import DeletedEvent, MobilizeEvent, MobilizeTimeslot
from handlers.peers import PeerError, WriteOutcome

log = logging.getLogger(__name__)

READS_PER_SECOND = 15
WRITES_PER_SECOND = 5
PER_PAGE = 100
READ_TRIES = 4
MAX_WAIT = 30.0  # seconds: the longest Retry-After a sync waits for before giving up


class MobilizeHttpApi:
    def __init__(
        self,
        *,
        base_url: str,
        organization_id: str,
        api_key: str | None,
        timeout: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
        backoff: float = 1.0,
    ):
        self.base_url = base_url.rstrip("/")
        self.organization_id = organization_id
        headers = {"Accept": "application/json", "User-Agent": "Muster"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)
        self._reads = RateLimiter(READS_PER_SECOND, sleep=sleep)
        self._writes = RateLimiter(WRITES_PER_SECOND, sleep=sleep)
        self._sleep = sleep
        self._backoff = backoff  # seconds before the first retry of a failed read; doubled after
        self.can_write = bool(api_key)

    def close(self) -> None:
        self._client.close()

    # --- reads --------------------------------------------------------------------------------

    def list_events(self, *, updated_since: int | None) -> Iterator[MobilizeEvent]:
        params: dict[str, Any] = {"timeslot_start": "gte_now", "per_page": PER_PAGE}
        if updated_since is not None:
            params["updated_since"] = updated_since
        for item in self._pages(f"/v1/organizations/{self.organization_id}/events", params):
            yield _event(item)

    def list_deleted_events(self, *, updated_since: int | None) -> Iterator[DeletedEvent]:
        params: dict[str, Any] = {"per_page": PER_PAGE}
        if updated_since is not None:
            params["updated_since"] = updated_since
        path = f"/v1/organizations/{self.organization_id}/events/deleted"
        for item in self._pages(path, params):
            yield DeletedEvent(id=int(item["id"]), deleted_date=int(item["deleted_date"]))

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        url: str | None = path
        page_params: dict[str, Any] | None = params
        while url:
            body = self._get(url, page_params)
            if body.get("error"):
                raise PeerError(f"Mobilize refused the request: {body['error']}")
            yield from body.get("data") or []
            url = body.get("next")
            page_params = None  # `next` carries its own query
            if url and not url.startswith(self.base_url):
                raise PeerError("Mobilize's next page is not on MOBILIZE_API_URL; stopped")

    def _get(self, url: str, params: dict[str, Any] | None) -> dict[str, Any]:
        for attempt in range(1, READ_TRIES + 1):
            self._reads.wait()
            try:
                response = self._client.get(url, params=params)
            except httpx.HTTPError as exc:
                if attempt == READ_TRIES:
                    raise PeerError(unreachable(exc, "Mobilize").error or "") from None
                self._sleep(min(self._backoff * 2 ** (attempt - 1), MAX_WAIT))
                continue
            if response.status_code == 200:
                return response.json()
            outcome = failure(response, "Mobilize")
            if not outcome.transient or attempt == READ_TRIES:
                raise PeerError(outcome.error or "Mobilize failed")
            asked = retry_after(response)
            wait = asked if asked is not None else self._backoff * 2 ** (attempt - 1)
            if wait > MAX_WAIT:
                raise PeerError(f"{outcome.error} (asked to wait {wait:.0f} s)")
            log.info("Mobilize answered %s; trying again in %.0f s", response.status_code, wait)
            self._sleep(wait)
        raise PeerError("Mobilize failed")  # (not reached)

    # --- writes -------------------------------------------------------------------------------

    def create_attendance(self, *, event_id: int, body: dict[str, object]) -> WriteOutcome:
        path = f"/v1/organizations/{self.organization_id}/events/{event_id}/attendances"
        response = self._write("POST", path, body)
        if isinstance(response, WriteOutcome):
            return response
        data = response.json().get("data") or []
        ids = [a.get("id") for a in data if isinstance(a, dict)]
        return WriteOutcome(ok=True, result={"attendance_ids": [i for i in ids if i is not None]})

    def cancel_attendance(self, *, event_id: int, attendance_id: int) -> WriteOutcome:
        path = (
            f"/v1/organizations/{self.organization_id}/events/{event_id}"
            f"/attendances/{attendance_id}"
        )
        response = self._write("PUT", path, {"status": "CANCELLED"})
        if isinstance(response, WriteOutcome):
            return response
        return WriteOutcome(ok=True, result={"attendance_id": attendance_id})

    def _write(
        self, method: str, path: str, body: dict[str, object]
    ) -> httpx.Response | WriteOutcome:
        if not self.can_write:
            return WriteOutcome(ok=False, error="MOBILIZE_API_KEY is not set", transient=False)
        self._writes.wait()
        try:
            response = self._client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            return unreachable(exc, "Mobilize")
        if response.status_code in (200, 201):
            return response
        return failure(response, "Mobilize")


def _time(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value), tz=UTC)


def _event(item: dict[str, Any]) -> MobilizeEvent:
    location = item.get("location") or {}
    slots = tuple(
        MobilizeTimeslot(
            id=int(t["id"]),
            start=_time(t["start_date"]),
            end=_time(t["end_date"]),
            max_attendees=t.get("max_attendees"),
            is_full=bool(t.get("is_full")),
        )
        for t in item.get("timeslots") or []
    )
    return MobilizeEvent(
        id=int(item["id"]),
        title=str(item.get("title") or "Mobilize event"),
        timezone=str(item.get("timezone") or "America/New_York"),
        browser_url=item.get("browser_url"),
        modified_date=int(item.get("modified_date") or 0),
        event_type=item.get("event_type"),
        venue=location.get("venue") or None,
        address_lines=tuple(location.get("address_lines") or ()),
        locality=location.get("locality") or None,
        region=location.get("region") or None,
        postal_code=location.get("postal_code") or None,
        timeslots=slots,
    )
