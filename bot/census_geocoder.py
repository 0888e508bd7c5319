"""The US Census Geocoder as Muster's `Geocoder` port (GEOCODER=census, CENSUS_GEOCODER_URL).

One address: `GET {base}/geographies/onelineaddress?address=...&benchmark=Public_AR_Current&
vintage=Current_Current&layers=...&format=json`; the answer's `result.addressMatches[0]
.geographies` holds one list per layer: "119th Congressional Districts" (the layer's name carries
the Congress), "2024 State Legislative Districts - Upper" and "- Lower" (the year moves with the
vintage, so layers are found by the end of their name). Each record gives the state's FIPS code
(`STATE`) and the district's `BASENAME` ("4", "10th Bristol"); those become short OCD ids through
`handlers.district_names` (a name it does not list is left out, never guessed).

Timeouts (3 s to connect, 8 s to read) and two retries on a connection error, a timeout or a 5xx;
then `GeocoderUnavailable`, and the lookup row waits for a later try.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import time
from functools import lru_cache
from typing import Any

import httpx
import openstates_metadata

from handlers.district_names import UnknownDistrict, lookup, parse_district
from handlers.geocoding import AddressQuery, GeocodeMatch, GeocoderUnavailable

log = logging.getLogger(__name__)

BENCHMARK = "Public_AR_Current"
VINTAGE = "Current_Current"
LAYERS = (
    "119th Congressional Districts",
    "2024 State Legislative Districts - Upper",
    "2024 State Legislative Districts - Lower",
)
BATCH_MIN = 20  # fewer addresses than this go one request each
BATCH_MAX = 10_000  # the batch endpoint's limit per file
_CD_LAYER = re.compile(r"^(\d+)(?:st|nd|rd|th) Congressional Districts$")


@lru_cache(maxsize=1)
def _states_by_fips() -> dict[str, str]:
    return {
        s.fips: abbr.lower()
        for abbr, s in openstates_metadata.STATES_BY_ABBR.items()
        if getattr(s, "fips", None)
    }


def districts_from_geographies(geographies: dict[str, Any]) -> dict[str, str]:
    """The Census layers of one match -> chamber -> short OCD id."""
    found: dict[str, str] = {}
    congress = sorted(
        ((int(m.group(1)), name) for name in geographies if (m := _CD_LAYER.match(name))),
        reverse=True,
    )
    if congress:
        number, name = congress[0]
        for rec in geographies.get(name) or []:
            district = _congressional(rec, number)
            if district:
                found["cd"] = district
    for suffix, chamber in (("Upper", "sldu"), ("Lower", "sldl")):
        for name, records in geographies.items():
            if not name.endswith(f"State Legislative Districts - {suffix}"):
                continue
            for rec in records or []:
                district = _legislative(rec, chamber)
                if district:
                    found[chamber] = district
    return found


def _state(rec: dict[str, Any]) -> str | None:
    return _states_by_fips().get(str(rec.get("STATE", "")).zfill(2))


def _congressional(rec: dict[str, Any], congress: int) -> str | None:
    state = _state(rec)
    code = str(rec.get(f"CD{congress}") or rec.get("BASENAME") or "").strip()
    if state is None or not code:
        return None
    number = code.lstrip("0") if code.isdigit() else ""
    district = lookup(f"{state}/cd:{number}") if number else None
    if district is None and (not number or number in ("1", "98")):  # at large, or a delegate
        district = lookup(f"{state}/cd:at-large") or lookup(state)
    return district.id if district else None


def _legislative(rec: dict[str, Any], chamber: str) -> str | None:
    state = _state(rec)
    name = str(rec.get("BASENAME") or "").strip()
    if state is None or not name or name.upper().startswith("ZZ"):
        return None
    try:
        return parse_district(name, state=state, chamber=chamber).id
    except UnknownDistrict:
        log.warning("census geocoder: %s district %r in %s is not listed", chamber, name, state)
        return None


class CensusGeocoder:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: httpx.Timeout | None = None,
        retries: int = 2,
        backoff: float = 0.5,
        client: httpx.Client | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff = backoff
        self._client = client or httpx.Client(
            timeout=timeout or httpx.Timeout(8.0, connect=3.0),
            headers={"User-Agent": "muster (volunteer districts)"},
        )
        self.vintage = f"census:{BENCHMARK}/{VINTAGE}"

    def close(self) -> None:
        self._client.close()

    def lookup(self, query: AddressQuery) -> GeocodeMatch | None:
        params = {
            "address": _one_line(query),
            "benchmark": BENCHMARK,
            "vintage": VINTAGE,
            "layers": ",".join(LAYERS),
            "format": "json",
        }
        body = self._get("/geographies/onelineaddress", params)
        matches = ((body or {}).get("result") or {}).get("addressMatches") or []
        if not matches:
            return None
        geographies = matches[0].get("geographies") or {}
        return GeocodeMatch(districts_from_geographies(geographies), self.vintage)

    def lookup_many(self, queries: list[AddressQuery]) -> dict[str, GeocodeMatch | None]:
        """Few addresses: one request each. Many: the batch endpoint (`geographies/
        addressbatch`, up to 10,000 a file), whose answer gives each match's coordinates and
        Census block but not its districts; those come from `geographies/coordinates`, one
        request per distinct block (neighbours share one). A geocoder that is down fails the
        rest at once."""
        if len(queries) < self.batch_min:
            return {q.key: self.lookup(q) for q in queries}
        out: dict[str, GeocodeMatch | None] = {}
        blocks: dict[str, GeocodeMatch] = {}
        for start in range(0, len(queries), BATCH_MAX):
            out.update(self._batch(queries[start : start + BATCH_MAX], blocks))
        return out

    batch_min = BATCH_MIN

    def _batch(
        self, queries: list[AddressQuery], blocks: dict[str, GeocodeMatch]
    ) -> dict[str, GeocodeMatch | None]:
        lines = io.StringIO()
        writer = csv.writer(lines)
        for q in queries:  # Unique ID, Street address, City, State, ZIP
            writer.writerow([q.key, q.street, "", (q.state or "").upper(), q.zip or ""])
        files = {"addressFile": ("addresses.csv", lines.getvalue().encode(), "text/csv")}
        data = {"benchmark": BENCHMARK, "vintage": VINTAGE}
        response = self._request("POST", "/geographies/addressbatch", data=data, files=files)
        out: dict[str, GeocodeMatch | None] = dict.fromkeys(q.key for q in queries)
        for row in csv.reader(io.StringIO(response.text if response is not None else "")):
            if len(row) < 12 or row[0] not in out or row[2] != "Match":
                continue  # No_Match, Tie (an address that could be two places): no match
            block = "".join(row[8:12])
            if block not in blocks:
                x, _, y = row[5].partition(",")
                blocks[block] = self._at(x, y)
            out[row[0]] = blocks[block]
        return out

    def _at(self, x: str, y: str) -> GeocodeMatch:
        params = {"x": x, "y": y, "benchmark": BENCHMARK, "vintage": VINTAGE,
                  "layers": ",".join(LAYERS), "format": "json"}  # fmt: skip
        body = self._get("/geographies/coordinates", params)
        geographies = ((body or {}).get("result") or {}).get("geographies") or {}
        return GeocodeMatch(districts_from_geographies(geographies), self.vintage)

    def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        response = self._request("GET", path, params=params)
        if response is None:
            return {}
        try:
            return response.json()
        except ValueError:
            raise GeocoderUnavailable(
                "the Census geocoder answered something other than JSON"
            ) from None

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        """The response; None for a 4xx (the geocoder refuses an address it cannot read: no
        match, not an outage); `GeocoderUnavailable` after the retries."""
        last = "no attempt"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                response = self._client.request(method, self.base_url + path, **kwargs)
            except httpx.HTTPError as exc:
                last = f"could not be reached ({type(exc).__name__})"
                continue
            if response.status_code >= 500 or response.status_code == 429:
                last = f"answered {response.status_code}"
                continue
            if response.status_code >= 400:
                return None
            return response
        raise GeocoderUnavailable(f"the Census geocoder {last}")


def _one_line(query: AddressQuery) -> str:
    street = query.street
    if query.zip and query.zip not in street:
        street = f"{street}, {query.state + ' ' if query.state else ''}{query.zip}"
    return street
