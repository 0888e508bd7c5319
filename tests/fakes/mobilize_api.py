"""A fake Mobilize API: a real HTTP server on 127.0.0.1 speaking Mobilize's public API (v1).

What it speaks, as Mobilize documents it (github.com/mobilizeamerica/api):
- `GET /v1/organizations/{id}/events`: `updated_since` (Unix time, on the event's
  `modified_date`), `timeslot_start=gte_now` (only timeslots still to come are returned, events
  with none are left out), `per_page` (default 25; this fake caps it at `page_size`) and `page`;
  the answer `{"count", "next", "previous", "data": [Event]}` with `next` a full URL.
- `GET /v1/organizations/{id}/events/deleted`: Deleted Event objects (`id`, `deleted_date`).
- `POST /v1/organizations/{id}/events/{event_id}/attendances`: `person` (`given_name`,
  `family_name`, `email_address`, `postal_code` required, `phone_number` optional),
  `sms_opt_in_status` (`OPT_IN` | `UNSPECIFIED`), `timeslots: [{"timeslot_id"}]` (upcoming
  timeslots of that event); 201 with `{"data": [Attendance], "error": null}`, 400 with
  `{"data": null, "error": {field: [reasons]}}`, 403 without the bearer key.
- `PUT .../attendances/{attendance_id}` `{"status": "CANCELLED"}`: withdraws one.
- Rate limits: 15 reads and 5 writes a second per key (a rolling second); beyond, 429 with
  `Retry-After`. `fail(status, times=...)` makes the next requests answer 429 or 500 on demand.

    with FakeMobilize(organization_id=42, api_key="k") as fake:
        fake.add_event(title=..., timeslots=[(start, end)], max_attendees=10)
        fake.fail(429, times=1, retry_after=0); fake.fail(500, times=1, writes_only=True)
        fake.attendances      # what was posted (bodies), in order
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from tests.fakes.threaded_server import ThreadedServer, free_port

READS_PER_SECOND = 15
WRITES_PER_SECOND = 5


@dataclass
class Rule:
    status: int
    times: int | None
    retry_after: float | None
    writes_only: bool


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    answered: int
    at: float = field(default_factory=time.monotonic)


class FakeMobilize(ThreadedServer):
    name = "fake Mobilize"

    def __init__(
        self,
        *,
        organization_id: int = 4242,
        api_key: str = "fake-mobilize-key",
        page_size: int = 25,
        now: float | None = None,
        enforce_rate_limits: bool = True,
    ):
        self.organization_id, self.api_key, self.page_size = organization_id, api_key, page_size
        self.now = now  # Unix time the fake takes as "now" (None: the real time)
        self.enforce_rate_limits = enforce_rate_limits
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.events: dict[int, dict[str, Any]] = {}
        self.deleted: dict[int, int] = {}  # event id -> deleted_date
        self.attendances: list[dict[str, Any]] = []  # accepted POST bodies, with "event_id"
        self.records: dict[int, dict[str, Any]] = {}  # attendance id -> Attendance object
        self.requests: list[RecordedRequest] = []
        self._rules: list[Rule] = []
        self._recent: dict[str, deque[float]] = {"read": deque(), "write": deque()}
        self._ids = iter(range(9_000_001, 10**9))
        self._lock = threading.Lock()
        self._clock = 1_700_000_000  # modified_date/deleted_date: a clock that only moves forward

    # --- data ---------------------------------------------------------------------------------

    def _tick(self) -> int:
        self._clock = max(self._clock + 1, int(self._now()))
        return self._clock

    def _now(self) -> float:
        return self.now if self.now is not None else time.time()

    def add_event(
        self,
        *,
        title: str,
        timeslots: list[tuple[int, int]],
        max_attendees: int | None = None,
        full: tuple[int, ...] = (),
        event_type: str = "CANVASS",
        postal_code: str = "02124",
        venue: str = "Dorchester office",
        address: str = "1 Main St",
        timezone: str = "America/New_York",
    ) -> dict[str, Any]:
        """A new event; `timeslots` as (start, end) Unix times, `full` the indexes of full ones."""
        with self._lock:
            event_id = next(self._ids)
            stamp = self._tick()
            event = {
                "id": event_id,
                "title": title,
                "summary": "",
                "description": f"<p>{title}</p>",
                "featured_image_url": "",
                "high_priority": None,
                "sponsor": {"id": self.organization_id, "name": "Mass Forward", "slug": "mf"},
                "timeslots": [
                    {
                        "id": next(self._ids),
                        "start_date": start,
                        "end_date": end,
                        "is_full": i in full,
                        "max_attendees": max_attendees,
                        "instructions": None,
                    }
                    for i, (start, end) in enumerate(timeslots)
                ],
                "location": {
                    "venue": venue,
                    "address_lines": [address, ""],
                    "locality": "Boston",
                    "region": "MA",
                    "country": "US",
                    "postal_code": postal_code,
                    "location": {"latitude": 42.3, "longitude": -71.06},
                    "congressional_district": "7",
                    "state_leg_district": "13",
                    "state_senate_district": "1",
                },
                "timezone": timezone,
                "event_type": event_type,
                "browser_url": f"https://www.mobilize.us/massforward/event/{event_id}/",
                "created_date": stamp,
                "modified_date": stamp,
                "visibility": "PUBLIC",
                "address_visibility": "PUBLIC",
                "created_by_volunteer_host": False,
                "virtual_action_url": None,
                "contact": None,
                "accessibility_status": None,
                "accessibility_notes": "",
                "tags": [],
                "event_campaign": None,
            }
            self.events[event_id] = event
            return event

    def move_timeslot(self, event_id: int, index: int, *, start: int, end: int) -> None:
        with self._lock:
            slot = self.events[event_id]["timeslots"][index]
            slot["start_date"], slot["end_date"] = start, end
            self.events[event_id]["modified_date"] = self._tick()

    def update_event(self, event_id: int, **fields: Any) -> None:
        with self._lock:
            self.events[event_id].update(fields)
            self.events[event_id]["modified_date"] = self._tick()

    def delete_event(self, event_id: int) -> None:
        with self._lock:
            self.events.pop(event_id)
            self.deleted[event_id] = self._tick()

    def fail(
        self,
        status: int,
        *,
        times: int | None = 1,
        retry_after: float | None = None,
        writes_only: bool = False,
    ) -> None:
        """Answer the next `times` requests (or writes) with `status` (429, 500, ...)."""
        with self._lock:
            self._rules.append(Rule(status, times, retry_after, writes_only))

    def answered(self, method: str) -> list[int]:
        return [r.answered for r in self.requests if r.method == method]

    # --- HTTP ---------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        org = "/v1/organizations/{org}"
        app.router.add_get(org + "/events", self._list_events)
        app.router.add_get(org + "/events/deleted", self._list_deleted)
        app.router.add_post(org + "/events/{event}/attendances", self._create_attendance)
        app.router.add_put(
            org + "/events/{event}/attendances/{attendance}", self._update_attendance
        )
        return app

    def _gate(self, request: web.Request, kind: str) -> web.Response | None:
        """Rules, the key, the org and the rate limit: an error answer, or None to go on."""
        with self._lock:
            rule = next(
                (r for r in self._rules if (r.times is None or r.times > 0)
                 and (kind == "write" or not r.writes_only)),
                None,
            )  # fmt: skip
            if rule is not None and rule.times is not None:
                rule.times -= 1
        if rule is not None:
            return _error(rule.status, {"detail": "Request failed (fake)."}, rule.retry_after)
        if str(request.match_info["org"]) != str(self.organization_id):
            return _error(404, {"detail": "Not found."})
        authorized = request.headers.get("Authorization") == f"Bearer {self.api_key}"
        if kind == "write" and not authorized:
            return _error(403, {"detail": "Authentication credentials were not provided."})
        if self.enforce_rate_limits:
            limit = READS_PER_SECOND if kind == "read" else WRITES_PER_SECOND
            now = time.monotonic()
            with self._lock:
                recent = self._recent[kind]
                while recent and recent[0] <= now - 1.0:
                    recent.popleft()
                if len(recent) >= limit:
                    return _error(429, {"detail": "Request was throttled."}, 1)
                recent.append(now)
        return None

    def _record(self, request: web.Request, body: Any, response: web.Response) -> web.Response:
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    request.method, request.path, dict(request.query), body, response.status
                )
            )
        return response

    def _page(self, request: web.Request, items: list[dict[str, Any]]) -> web.Response:
        try:
            per_page = min(int(request.query.get("per_page", 25)), self.page_size)
            page = int(request.query.get("page", 1))
        except ValueError:
            return _error(400, {"page": ["A valid integer is required."]})
        start = (page - 1) * per_page
        query = {k: v for k, v in request.query.items() if k != "page"}

        def link(n: int) -> str:
            return f"{self.url}{request.path}?{urlencode({**query, 'page': n})}"

        body = {
            "count": len(items),
            "next": link(page + 1) if start + per_page < len(items) else None,
            "previous": link(page - 1) if page > 1 else None,
            "data": items[start : start + per_page],
        }
        return web.json_response(body)

    def _since(self, request: web.Request) -> int | None:
        value = request.query.get("updated_since")
        return int(value) if value else None

    async def _list_events(self, request: web.Request) -> web.Response:
        answer = self._gate(request, "read")
        if answer is None:
            since = self._since(request)
            upcoming_only = request.query.get("timeslot_start") == "gte_now"
            now = self._now()
            with self._lock:
                items = []
                for event in sorted(self.events.values(), key=lambda e: e["id"]):
                    if since is not None and event["modified_date"] < since:
                        continue
                    copy = {**event}
                    if upcoming_only:
                        copy["timeslots"] = [
                            dict(t) for t in event["timeslots"] if t["start_date"] >= now
                        ]
                        if not copy["timeslots"]:
                            continue
                    items.append(copy)
            answer = self._page(request, items)
        return self._record(request, None, answer)

    async def _list_deleted(self, request: web.Request) -> web.Response:
        answer = self._gate(request, "read")
        if answer is None:
            since = self._since(request)
            with self._lock:
                items = [
                    {"id": event_id, "deleted_date": when}
                    for event_id, when in sorted(self.deleted.items())
                    if since is None or when >= since
                ]
            answer = self._page(request, items)
        return self._record(request, None, answer)

    async def _create_attendance(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        answer = self._gate(request, "write") or self._attend(request, body)
        return self._record(request, body, answer)

    def _attend(self, request: web.Request, body: Any) -> web.Response:
        event = self.events.get(int(request.match_info["event"]))
        if event is None:
            return _error(404, {"detail": "Not found."})
        if not isinstance(body, dict):
            return _error(400, {"non_field_errors": ["Invalid data."]})
        person = body.get("person") or {}
        errors: dict[str, list[str]] = {}
        for name in ("given_name", "family_name", "email_address", "postal_code"):
            if not person.get(name):
                errors[f"person.{name}"] = ["This field is required."]
        if body.get("sms_opt_in_status", "UNSPECIFIED") not in ("OPT_IN", "UNSPECIFIED"):
            errors["sms_opt_in_status"] = ["Not a valid choice."]
        upcoming = {t["id"]: t for t in event["timeslots"] if t["start_date"] >= self._now()}
        wanted = [t.get("timeslot_id") for t in body.get("timeslots") or []]
        if not wanted or any(t not in upcoming for t in wanted):
            errors["timeslots"] = ["Must be existing upcoming timeslots for the given Event."]
        if errors:
            return _error(400, errors)
        created = []
        with self._lock:
            self.attendances.append({**body, "event_id": event["id"]})
            for timeslot_id in wanted:
                attendance = {
                    "id": next(self._ids),
                    "created_date": int(self._now()),
                    "modified_date": int(self._now()),
                    "person": {
                        "given_name": person["given_name"],
                        "family_name": person["family_name"],
                        "email_addresses": [{"primary": True, "address": person["email_address"]}],
                        "phone_numbers": [{"primary": True, "number": person.get("phone_number")}],
                        "postal_addresses": [
                            {"primary": True, "postal_code": person["postal_code"]}
                        ],
                        "sms_opt_in_status": body.get("sms_opt_in_status", "UNSPECIFIED"),
                    },
                    "event": {"id": event["id"], "title": event["title"]},
                    "timeslot": {
                        k: upcoming[timeslot_id][k] for k in ("id", "start_date", "end_date")
                    },
                    "status": "REGISTERED",
                    "attended": None,
                    "referrer": body.get("referrer") or {},
                }
                self.records[attendance["id"]] = attendance
                created.append(attendance)
        return web.json_response({"data": created, "error": None}, status=201)

    async def _update_attendance(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        answer = self._gate(request, "write")
        if answer is None:
            record = self.records.get(int(request.match_info["attendance"]))
            if record is None:
                answer = _error(404, {"detail": "Not found."})
            elif not isinstance(body, dict) or body.get("status") not in (
                "REGISTERED", "CONFIRMED", "CANCELLED"
            ):  # fmt: skip
                answer = _error(400, {"status": ["Not a valid choice."]})
            else:
                with self._lock:
                    record["status"] = body["status"]
                answer = web.json_response({"data": record, "error": None})
        return self._record(request, body, answer)

    # --- running ------------------------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        return {
            "MOBILIZE_API_URL": self.url,
            "MOBILIZE_ORGANIZATION_ID": str(self.organization_id),
            "MOBILIZE_API_KEY": self.api_key,
        }


def _error(status: int, error: dict[str, Any], retry_after: float | None = None) -> web.Response:
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
    return web.json_response({"data": None, "error": error}, status=status, headers=headers)
