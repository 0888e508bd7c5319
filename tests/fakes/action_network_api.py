"""A fake Action Network API (v2): a real HTTP server on 127.0.0.1 speaking its HAL+JSON.

What it speaks, as Action Network documents it (actionnetwork.org/docs/v2):
- every request needs the key in the `OSDI-API-Token` header (else 401 with `{"error": ...}`);
- at most 4 requests a second per key (a rolling second); beyond, 429 `{"error": ...}`;
- `POST /people` (person signup helper): `{"person": {...}, "add_tags": [...]}`; `person` needs
  an email address or a phone number; an existing person is matched by email, else by phone,
  and updated (a phone's `status` is set as given: `subscribed` or `unsubscribed`); the answer
  is the person resource (`identifiers: ["action_network:<uuid>"]`, `_links`);
- `POST /events/{id}/attendances` (record attendance helper): the same body, on an event added
  with `add_event`; the person is matched or created as above; the answer is the attendance;
- `GET /people?page=N`: a HAL collection, 25 a page (`per_page` up to 25), with
  `total_pages`, `page`, `_links.next` and `_embedded["osdi:people"]`; the OData filter
  `filter=modified_date gt 'YYYY-MM-DDTHH:MM:SSZ'` keeps the people changed since then.
`fail(status, times=...)` makes the next requests answer 429 or 500 on demand;
`webhook_item(...)` builds one item of a webhook batch as Action Network POSTs it.

    with FakeActionNetwork(api_key="k") as fake:
        fake.add_event(title="Town hall")       # -> its id
        fake.signups     # accepted POST /people bodies, in order
        fake.people      # person id -> person resource
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

from tests.fakes.threaded_server import ThreadedServer, free_port

REQUESTS_PER_SECOND = 4
MAX_PER_PAGE = 25
PHONE_STATUSES = {"subscribed", "unsubscribed", "bouncing", "previous bounce"}


@dataclass
class Rule:
    status: int
    times: int | None
    retry_after: float | None


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    body: Any
    answered: int
    at: float = field(default_factory=time.monotonic)


FILTER = re.compile(r"^\s*modified_date\s+gt\s+'([^']+)'\s*$")


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeActionNetwork(ThreadedServer):
    name = "fake Action Network"

    def __init__(
        self,
        *,
        api_key: str = "fake-an-key",
        enforce_rate_limits: bool = True,
        now: datetime | None = None,
    ):
        self.api_key = api_key
        self.now = now  # the fake's clock for created/modified dates (None: the real time)
        self.enforce_rate_limits = enforce_rate_limits
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api/v2"
        self.people: dict[str, dict[str, Any]] = {}
        self.taggings: dict[str, set[str]] = {}  # person id -> tags
        self.events: dict[str, dict[str, Any]] = {}
        self.attendances: list[dict[str, Any]] = []  # accepted bodies, with "event_id"
        self.signups: list[dict[str, Any]] = []  # accepted POST /people bodies
        self.requests: list[RecordedRequest] = []
        self._rules: list[Rule] = []
        self._recent: deque[float] = deque()
        self._lock = threading.Lock()

    # --- data ---------------------------------------------------------------------------------

    def _stamp(self) -> str:
        return _iso(self.now or datetime.now(UTC))

    def add_event(self, *, title: str) -> str:
        event_id = str(uuid.uuid4())
        with self._lock:
            self.events[event_id] = {
                "identifiers": [f"action_network:{event_id}"],
                "title": title,
                "created_date": self._stamp(),
                "modified_date": self._stamp(),
                "status": "confirmed",
                "_links": {"self": {"href": f"{self.url}/events/{event_id}"}},
            }
        return event_id

    def add_person(self, person: dict[str, Any]) -> str:
        with self._lock:
            return self._upsert(person)

    def fail(self, status: int, *, times: int | None = 1, retry_after: float | None = None) -> None:
        with self._lock:
            self._rules.append(Rule(status, times, retry_after))

    def answered(self, method: str) -> list[int]:
        return [r.answered for r in self.requests if r.method == method]

    def phone_status(self, number: str) -> str | None:
        """The SMS status Action Network holds for this number (digits or E.164)."""
        digits = number.removeprefix("+")
        with self._lock:
            for person in self.people.values():
                for phone in person.get("phone_numbers") or []:
                    if phone.get("number") == digits:
                        return phone.get("status")
        return None

    def webhook_item(
        self,
        kind: str,
        person: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        add_tags: list[str] | None = None,
    ) -> dict[str, Any]:
        """One item of a webhook batch (`osdi:submission`, `osdi:signature`, `osdi:attendance`,
        `action_network:action` ...): the action, linked to its person, with the sponsor."""
        person_id = str(uuid.uuid4())
        action_id = str(uuid.uuid4())
        return {
            kind: {
                "identifiers": [f"action_network:{action_id}"],
                "created_date": self._stamp(),
                "modified_date": self._stamp(),
                "action_network:referrer_data": {"source": "none", "website": "none"},
                "person": person,
                "add_tags": add_tags or [],
                "_links": {
                    "self": {"href": f"{self.url}/forms/x/submissions/{action_id}"},
                    "osdi:person": {"href": f"{self.url}/people/{person_id}"},
                },
            },
            "action_network:sponsor": {
                "title": "Mass Forward",
                "url": "https://actionnetwork.org/groups/mass-forward",
            },
            "idempotency_key": idempotency_key or f"{int(time.time())}.{action_id[:8]}",
        }

    # --- HTTP ---------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/v2/people", self._signup)
        app.router.add_get("/api/v2/people", self._list_people)
        app.router.add_post("/api/v2/events/{event}/attendances", self._attend)
        return app

    def _gate(self, request: web.Request) -> web.Response | None:
        with self._lock:
            rule = next((r for r in self._rules if r.times is None or r.times > 0), None)
            if rule is not None and rule.times is not None:
                rule.times -= 1
        if rule is not None:
            return _error(rule.status, "Request failed (fake).", rule.retry_after)
        if request.headers.get("OSDI-API-Token") != self.api_key:
            return _error(401, "API Key invalid or not present")
        if self.enforce_rate_limits:
            now = time.monotonic()
            with self._lock:
                while self._recent and self._recent[0] <= now - 1.0:
                    self._recent.popleft()
                if len(self._recent) >= REQUESTS_PER_SECOND:
                    return _error(429, "You have exceeded your rate limit.")
                self._recent.append(now)
        return None

    def _record(self, request: web.Request, body: Any, response: web.Response) -> web.Response:
        with self._lock:
            self.requests.append(
                RecordedRequest(request.method, request.path, body, response.status)
            )
        return response

    async def _body(self, request: web.Request) -> Any:
        try:
            return await request.json()
        except ValueError:
            return None

    async def _signup(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        answer = self._gate(request) or self._check(body)
        if answer is None:
            with self._lock:
                person_id = self._upsert(body["person"], body.get("add_tags") or [])
                self.signups.append(body)
                answer = web.json_response(
                    self.people[person_id], content_type="application/hal+json"
                )
        return self._record(request, body, answer)

    async def _attend(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        answer = self._gate(request)
        event_id = request.match_info["event"]
        if answer is None and event_id not in self.events:
            answer = _error(404, "Event not found")
        answer = answer or self._check(body)
        if answer is None:
            with self._lock:
                person_id = self._upsert(body["person"], body.get("add_tags") or [])
                self.attendances.append({**body, "event_id": event_id})
                attendance_id = str(uuid.uuid4())
                attendance = {
                    "identifiers": [f"action_network:{attendance_id}"],
                    "created_date": self._stamp(),
                    "modified_date": self._stamp(),
                    "status": "accepted",
                    "action_network:person_id": person_id,
                    "action_network:event_id": event_id,
                    "_links": {
                        "self": {
                            "href": f"{self.url}/events/{event_id}/attendances/{attendance_id}"
                        },
                        "osdi:event": {"href": f"{self.url}/events/{event_id}"},
                        "osdi:person": {"href": f"{self.url}/people/{person_id}"},
                    },
                }
                answer = web.json_response(attendance, content_type="application/hal+json")
        return self._record(request, body, answer)

    async def _list_people(self, request: web.Request) -> web.Response:
        answer = self._gate(request)
        if answer is None:
            try:
                page = max(int(request.query.get("page", 1)), 1)
                per_page = min(
                    max(int(request.query.get("per_page", MAX_PER_PAGE)), 1), MAX_PER_PAGE
                )
            except ValueError:
                page, per_page = 1, MAX_PER_PAGE
            given = request.query.get("filter")
            wanted = FILTER.match(given) if given is not None else None
            if given is not None and wanted is None:
                return self._record(request, None, _error(400, "Invalid filter"))
            with self._lock:
                people = [
                    p for p in self.people.values()
                    if wanted is None or p["modified_date"] > wanted.group(1)
                ]  # fmt: skip
            query = f"&filter={quote(given)}" if given is not None else ""
            total_pages = max((len(people) + per_page - 1) // per_page, 1)
            chunk = people[(page - 1) * per_page : page * per_page]
            links: dict[str, Any] = {
                "self": {"href": f"{self.url}/people?page={page}{query}"},
                "osdi:people": [p["_links"]["self"] for p in chunk],
            }
            if page < total_pages:
                links["next"] = {"href": f"{self.url}/people?page={page + 1}{query}"}
            answer = web.json_response(
                {
                    "total_pages": total_pages,
                    "per_page": per_page,
                    "page": page,
                    "total_records": len(people),
                    "_links": links,
                    "_embedded": {"osdi:people": chunk},
                },
                content_type="application/hal+json",
            )
        return self._record(request, None, answer)

    def _check(self, body: Any) -> web.Response | None:
        if not isinstance(body, dict) or not isinstance(body.get("person"), dict):
            return _error(400, "A person hash is required")
        person = body["person"]
        emails = [e.get("address") for e in person.get("email_addresses") or [] if e.get("address")]
        phones = person.get("phone_numbers") or []
        if not emails and not any(p.get("number") for p in phones):
            return _error(400, "An email address or a phone number is required")
        for phone in phones:
            number = str(phone.get("number") or "")
            if not number.isdigit() or not 10 <= len(number) <= 15:
                return _error(400, f"Invalid phone number {number!r}")
            if "status" in phone and phone["status"] not in PHONE_STATUSES:
                return _error(400, f"Invalid phone status {phone['status']!r}")
        if not isinstance(body.get("add_tags", []), list):
            return _error(400, "add_tags must be an array")
        return None

    def _upsert(self, person: dict[str, Any], tags: list[str] = ()) -> str:  # type: ignore[assignment]
        """Match by email, else by phone; update what was given (a phone's status included)."""
        emails = {e.get("address", "").lower() for e in person.get("email_addresses") or []}
        numbers = {p.get("number") for p in person.get("phone_numbers") or []}
        found = None
        for pid, known in self.people.items():
            known_emails = {e["address"].lower() for e in known.get("email_addresses") or []}
            if emails & known_emails:
                found = pid
                break
        if found is None:
            for pid, known in self.people.items():
                if numbers & {p["number"] for p in known.get("phone_numbers") or []}:
                    found = pid
                    break
        if found is None:
            found = str(uuid.uuid4())
            self.people[found] = {
                "identifiers": [f"action_network:{found}"],
                "created_date": self._stamp(),
                "email_addresses": [],
                "phone_numbers": [],
                "postal_addresses": [],
                "custom_fields": {},
                "_links": {"self": {"href": f"{self.url}/people/{found}"}},
            }
        known = self.people[found]
        known["modified_date"] = self._stamp()
        for name in ("given_name", "family_name"):
            if person.get(name):
                known[name] = person[name]
        for email in person.get("email_addresses") or []:
            if email.get("address", "").lower() not in {
                e["address"].lower() for e in known["email_addresses"]
            }:
                known["email_addresses"].append(
                    {
                        "primary": not known["email_addresses"],
                        "address": email["address"],
                        "status": "subscribed",
                    }
                )
        for phone in person.get("phone_numbers") or []:
            mine = next((p for p in known["phone_numbers"] if p["number"] == phone["number"]), None)
            if mine is None:
                mine = {
                    "primary": not known["phone_numbers"],
                    "number": phone["number"],
                    "number_type": phone.get("number_type", "Mobile"),
                }  # (no status until one is given: no SMS consent either way)
                known["phone_numbers"].append(mine)
            if "status" in phone:
                mine["status"] = phone["status"]
        if person.get("postal_addresses"):
            known["postal_addresses"] = [{"primary": True, **person["postal_addresses"][0]}]
        known["custom_fields"].update(person.get("custom_fields") or {})
        self.taggings.setdefault(found, set()).update(tags)
        return found

    # --- running ------------------------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        return {"ACTION_NETWORK_API_URL": self.url, "ACTION_NETWORK_API_KEY": self.api_key}


def _error(status: int, message: str, retry_after: float | None = None) -> web.Response:
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
    return web.json_response({"error": message}, status=status, headers=headers)
