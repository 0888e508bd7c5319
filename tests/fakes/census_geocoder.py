"""A fake US Census Geocoder: a real HTTP server on 127.0.0.1 speaking the geocoder's JSON.

What it speaks, as the Census Geocoder documents it:
- `GET /geographies/onelineaddress?address=...&benchmark=...&vintage=...&layers=...&format=json`
  answers `{"result": {"input": {...}, "addressMatches": [{"matchedAddress", "coordinates":
  {"x", "y"}, "tigerLine", "addressComponents", "geographies": {LAYER NAME: [record]}}]}}`, one
  record per layer with `GEOID`, `STATE` (FIPS), `BASENAME`, `NAME` (and `CD119` for the House).
  An address it does not know: `addressMatches: []`. A missing benchmark: 400 with `errors`.
- `POST /geographies/addressbatch` (multipart: `addressFile` a CSV of `Unique ID, Street address,
  City, State, ZIP`, `benchmark`, `vintage`) answers a CSV line per address: `"id","input
  address","Match","Exact","matched address","lon,lat","tigerline id","L","state","county",
  "tract","block"`, or `"id","input address","No_Match"`.
- `GET /geographies/coordinates?x=&y=&benchmark=&vintage=&layers=&format=json` answers
  `{"result": {"input": {...}, "geographies": {...}}}` for the block at that point.
`latency` (seconds) is added to every answer, as a real geocoder's round trip.

    with FakeCensusGeocoder() as fake:
        fake.add("12 Main St", state_fips="25", cd="04", upper="1st Bristol and Plymouth",
                 lower="10th Bristol")
        fake.down(times=2)   # the next 2 requests answer 500
        fake.delay = 10.0    # every answer waits 10 s (a slow geocoder)
        fake.requests        # the query strings it was sent
"""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

from aiohttp import web

from tests.fakes.threaded_server import ThreadedServer, free_port

CD_LAYER = "119th Congressional Districts"
UPPER_LAYER = "2024 State Legislative Districts - Upper"
LOWER_LAYER = "2024 State Legislative Districts - Lower"


def _key(address: str) -> str:
    return " ".join(address.lower().replace(",", " ").split())


class FakeCensusGeocoder(ThreadedServer):
    name = "fake Census geocoder"

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.addresses: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, str]] = []
        self.delay = 0.0
        self.latency = 0.0
        self._down = 0
        self._blocks: dict[str, tuple[str, dict[str, Any]]] = {}  # "x,y" -> (block, geographies)

    # --- data ---------------------------------------------------------------------------------

    def add(
        self,
        street: str,
        *,
        state_fips: str,
        cd: str | None = None,
        upper: str | None = None,
        lower: str | None = None,
        block: str | None = None,
    ) -> None:
        """An address the fake knows (matched by its street line, case and commas ignored)."""
        geographies: dict[str, list[dict[str, str]]] = {
            "States": [{"GEOID": state_fips, "STATE": state_fips, "BASENAME": "", "NAME": ""}]
        }
        if cd is not None:
            geographies[CD_LAYER] = [
                {
                    "GEOID": state_fips + cd,
                    "STATE": state_fips,
                    "CD119": cd,
                    "CDSESSN": "119",
                    "BASENAME": str(int(cd)) if cd.isdigit() and int(cd) else "(at Large)",
                    "NAME": f"Congressional District {int(cd)}" if cd.isdigit() else cd,
                }
            ]
        for layer, name in ((UPPER_LAYER, upper), (LOWER_LAYER, lower)):
            if name is not None:
                geographies[layer] = [
                    {"GEOID": state_fips + "001", "STATE": state_fips, "BASENAME": name,
                     "NAME": f"State Legislative District {name}"}
                ]  # fmt: skip
        block = block or f"{len(self._blocks) + 1:04d}"
        point = next((p for p, (b, _) in self._blocks.items() if b == block), None)
        if point is None:
            point = f"{-71 - len(self._blocks) / 10_000:.6f},42.300000"
            self._blocks[point] = (block, geographies)
        x, y = point.split(",")
        self.addresses[_key(street)] = {
            "matchedAddress": street.upper(),
            "coordinates": {"x": float(x), "y": float(y)},
            "_point": point,
            "_block": (state_fips, "021", "400100", block),
            "tigerLine": {"tigerLineId": "1", "side": "L"},
            "addressComponents": {},
            "geographies": geographies,
        }

    def down(self, times: int) -> None:
        self._down = times

    # --- the API ------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/geographies/onelineaddress", self._oneline)
        app.router.add_post("/geographies/addressbatch", self._batch)
        app.router.add_get("/geographies/coordinates", self._coordinates)
        return app

    async def _slowly(self) -> web.Response | None:
        waited = 0.0
        while waited < self.delay:
            await asyncio.sleep(0.05)
            waited += 0.05
        if self.latency:
            await asyncio.sleep(self.latency)
        if self._down:
            self._down -= 1
            return web.Response(status=500, text="<html>Internal Server Error</html>")
        return None

    def _match(self, address: str) -> dict[str, Any] | None:
        key = _key(address)
        if key in self.addresses:
            return self.addresses[key]
        return next((m for k, m in self.addresses.items() if key.startswith(k)), None)

    async def _batch(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.requests.append({"batch": "1", "benchmark": str(form.get("benchmark", ""))})
        failed = await self._slowly()
        if failed is not None:
            return failed
        upload = form.get("addressFile")
        text = upload.file.read().decode() if hasattr(upload, "file") else str(upload or "")
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL)
        for row in csv.reader(io.StringIO(text)):
            if not row:
                continue
            key, street = row[0], row[1]
            one_line = ", ".join(p for p in row[1:] if p)
            match = self._match(street)
            if match is None:
                writer.writerow([key, one_line, "No_Match"])
                continue
            writer.writerow([key, one_line, "Match", "Exact", match["matchedAddress"],
                             match["_point"], "1", "L", *match["_block"]])  # fmt: skip
        return web.Response(text=out.getvalue(), content_type="text/csv")

    async def _coordinates(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.requests.append(query)
        failed = await self._slowly()
        if failed is not None:
            return failed
        point = f"{float(query.get('x', 0)):.6f},{float(query.get('y', 0)):.6f}"
        _, geographies = self._blocks.get(point, ("", {}))
        return web.json_response(
            {"result": {"input": {"location": {"x": query.get("x"), "y": query.get("y")}},
                        "geographies": geographies}}
        )  # fmt: skip

    async def _oneline(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.requests.append(query)
        failed = await self._slowly()
        if failed is not None:
            return failed
        if not query.get("benchmark"):
            return web.json_response({"errors": ["Benchmark must be provided"]}, status=400)
        address = query.get("address", "")
        match = next((m for k, m in self.addresses.items() if _key(address).startswith(k)), None)
        return web.json_response(
            {
                "result": {
                    "input": {
                        "address": {"address": address},
                        "benchmark": {"benchmarkName": query["benchmark"]},
                        "vintage": {"vintageName": query.get("vintage", "")},
                    },
                    "addressMatches": [match] if match else [],
                }
            }
        )

    # --- running ------------------------------------------------------------------------------

    def stop(self) -> None:
        self.delay = 0.0  # a request still waiting on a slow answer finishes
        super().stop()
