"""The Open States API v3 as Muster's `LegislatorDirectory` port (`OPENSTATES_API_KEY`,
`OPENSTATES_API_URL`, default `https://v3.openstates.org`).

`GET {base}/people?jurisdiction=ma&district=10th Bristol&org_classification=lower&include=offices
&page=1&per_page=50`, with the key in the `X-API-KEY` header. The answer is `{"results": [person],
"pagination": {"page", "max_page", ...}}`; each person has `name`, `party`, `email`,
`current_role` (`org_classification`, `district`, `division_id`) and, with `include=offices`,
`offices` (`classification` `capitol` or `district`, `voice`). A person is placed by the
`division_id` of their current role (the OCD id, shortened as `handlers.district_names` does), so
a district the API names differently is never guessed; US representatives are asked of the
jurisdiction `us`.

Timeouts (3 s to connect, 10 s to read), one request a second (the free tier's limit), a 429
waits for `Retry-After`, a 5xx or a lost connection is tried twice more; then `PeerError`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from bot.peer_http import RateLimiter, retry_after
from handlers.district_names import lookup, short_id
from handlers.legislators import LegislatorInfo
from handlers.peers import PeerError
from handlers.phones import to_e164

log = logging.getLogger(__name__)

TRIES = 3
PER_PAGE = 50
CLASSIFICATION = {"sldl": "lower", "sldu": "upper", "cd": "lower"}


class OpenStatesDirectory:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        per_second: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        timeout: httpx.Timeout | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            timeout=timeout or httpx.Timeout(10.0, connect=3.0),
            headers={"X-API-KEY": api_key, "Accept": "application/json"},
        )
        self._limiter = RateLimiter(per_second, sleep=sleep)
        self._sleep = sleep

    def close(self) -> None:
        self._client.close()

    def legislators_of(self, districts: Sequence[str]) -> list[LegislatorInfo]:
        found: list[LegislatorInfo] = []
        wanted = {short_id(d).lower() for d in districts}
        for district_id in sorted(wanted):
            district = lookup(district_id)
            if district is None:
                continue
            params = {
                "jurisdiction": "us" if district.chamber == "cd" else district.state,
                "district": district.name,
                "org_classification": CLASSIFICATION[district.chamber],
                "include": "offices",
                "per_page": str(PER_PAGE),
            }
            for person in self._people(params):
                info = person_info(person)
                if info is not None and info.district in wanted:
                    found.append(info)
        return found

    def _people(self, params: dict[str, str]) -> list[dict[str, Any]]:
        people: list[dict[str, Any]] = []
        page, last = 1, 1
        while page <= last:
            body = self._get("/people", {**params, "page": str(page)})
            people.extend(body.get("results") or [])
            last = int((body.get("pagination") or {}).get("max_page") or 1)
            page += 1
        return people

    def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        error = ""
        for attempt in range(TRIES):
            self._limiter.wait()
            try:
                response = self._client.get(self.base_url + path, params=params)
            except httpx.HTTPError as exc:
                error = f"Open States could not be reached ({type(exc).__name__})"
                self._sleep(min(2**attempt, 4))
                continue
            if response.status_code == 429:
                error = "Open States answered 429 (rate limited)"
                self._sleep(min(retry_after(response) or 2**attempt, 30))
                continue
            if response.status_code >= 500:
                error = f"Open States answered {response.status_code}"
                self._sleep(min(2**attempt, 4))
                continue
            if response.status_code != 200:
                detail = response.text[:200]
                raise PeerError(f"Open States answered {response.status_code}: {detail}")
            return dict(response.json())
        raise PeerError(error or "Open States did not answer")


def person_info(person: dict[str, Any]) -> LegislatorInfo | None:
    """One person of the API's answer -> LegislatorInfo, or None when their role names no
    district Muster knows."""
    role = person.get("current_role") or {}
    district = lookup(str(role.get("division_id") or ""))
    if district is None or not person.get("name"):
        return None
    phones: dict[str, str | None] = {"capitol": None, "district": None}
    for office in person.get("offices") or []:
        kind = str(office.get("classification") or "")
        if kind in phones and phones[kind] is None:
            phones[kind] = to_e164(office.get("voice"))
    return LegislatorInfo(
        district=district.id,
        chamber=district.chamber,
        name=str(person["name"])[:200],
        party=person.get("party") or None,
        capitol_phone=phones["capitol"],
        district_phone=phones["district"],
        email=person.get("email") or None,
        source="openstates-api",
    )
