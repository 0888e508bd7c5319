"""A fake Open States API v3: a real HTTP server on 127.0.0.1 speaking its JSON.

What it speaks, as the API documents it:
- `GET /people?jurisdiction=&district=&org_classification=&include=offices&page=&per_page=`
  with the key in `X-API-KEY` (401 `{"detail": ...}` without it; 400 without a jurisdiction,
  name or id) answers `{"results": [person], "pagination": {"per_page", "page", "max_page",
  "total_items"}}`; a person is `{"id", "name", "party", "current_role": {"title",
  "org_classification", "district", "division_id"}, "jurisdiction": {"id", "name",
  "classification"}, "email"}`, plus `"offices": [{"name", "fax", "voice", "address",
  "classification"}]` with `include=offices`.

    with FakeOpenStates() as fake:
        fake.add("ma", "lower", "10th Bristol", "Pat Haddad", party="Democratic",
                 capitol="617-722-2600", district_voice=None)
        fake.failures = 1   # the next request answers 503
        fake.requests       # the query strings it was sent
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes.threaded_server import ThreadedServer, free_port

KEY = "test-openstates-key"


def _division(state: str, classification: str, district: str) -> str:
    slug = district.lower().replace(" ", "_")
    if state == "us":
        st, _, number = district.partition("-")
        return f"ocd-division/country:us/state:{st.lower()}/cd:{number}"
    kind = "sldu" if classification in ("upper", "legislature") else "sldl"
    return f"ocd-division/country:us/state:{state}/{kind}:{slug}"


class FakeOpenStates(ThreadedServer):
    name = "fake Open States"

    def __init__(self, *, per_page_max: int = 50) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.people: list[dict[str, Any]] = []
        self.requests: list[dict[str, str]] = []
        self.failures = 0
        self.per_page_max = per_page_max

    def add(
        self,
        state: str,
        classification: str,
        district: str,
        name: str,
        *,
        party: str = "Democratic",
        capitol: str | None = None,
        district_voice: str | None = None,
        email: str | None = None,
        division: str | None = None,
    ) -> None:
        offices = []
        if capitol:
            offices.append({"name": "Capitol Office", "fax": None, "voice": capitol,
                            "address": "24 Beacon St", "classification": "capitol"})  # fmt: skip
        if district_voice:
            offices.append({"name": "District Office", "fax": None, "voice": district_voice,
                            "address": "1 Main St", "classification": "district"})  # fmt: skip
        self.people.append(
            {
                "id": f"ocd-person/{len(self.people) + 1:08d}",
                "name": name,
                "party": party,
                "current_role": {
                    "title": "Representative" if classification == "lower" else "Senator",
                    "org_classification": classification,
                    "district": district,
                    "division_id": division or _division(state, classification, district),
                },
                "jurisdiction": {
                    "id": f"ocd-jurisdiction/country:us/state:{state}/government"
                    if state != "us"
                    else "ocd-jurisdiction/country:us/government",
                    "name": state.upper(),
                    "classification": "state" if state != "us" else "country",
                },
                "email": email,
                "_state": state,
                "_offices": offices,
            }
        )

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/people", self._people)
        return app

    async def _people(self, request: web.Request) -> web.Response:
        q = dict(request.query)
        self.requests.append(q)
        if request.headers.get("X-API-KEY") != KEY:
            return web.json_response({"detail": "Must provide a valid API key."}, status=401)
        if self.failures:
            self.failures -= 1
            return web.json_response({"detail": "Service Unavailable"}, status=503)
        if not (q.get("jurisdiction") or q.get("name") or q.get("id")):
            return web.json_response(
                {"detail": "Must provide either jurisdiction, name, or one or more id"},
                status=400,
            )
        found = [
            p
            for p in self.people
            if (not q.get("jurisdiction") or p["_state"] == q["jurisdiction"].lower())
            and (not q.get("district") or p["current_role"]["district"] == q["district"])
            and (
                not q.get("org_classification")
                or p["current_role"]["org_classification"] == q["org_classification"]
            )
        ]
        per_page = min(int(q.get("per_page", 10)), self.per_page_max)
        page = int(q.get("page", 1))
        chunk = found[(page - 1) * per_page : page * per_page]
        offices = "offices" in q.get("include", "")
        results = []
        for p in chunk:
            person = {k: v for k, v in p.items() if not k.startswith("_")}
            if offices:
                person["offices"] = p["_offices"]
            results.append(person)
        max_page = max((len(found) + per_page - 1) // per_page, 1)
        return web.json_response(
            {
                "results": results,
                "pagination": {
                    "per_page": per_page,
                    "page": page,
                    "max_page": max_page,
                    "total_items": len(found),
                },
            }
        )
