"""A fake US Census Geocoder: a real HTTP server on 127.0.0.1 speaking the geocoder's JSON.

What it speaks, as the Census Geocoder documents it:
- `GET /geographies/onelineaddress?address=...&benchmark=...&vintage=...&layers=...&format=json`
  answers `{"result": {"input": {...}, "addressMatches": [{"matchedAddress", "coordinates":
  {"x", "y"}, "tigerLine", "addressComponents", "geographies": {LAYER NAME: [record]}}]}}`, one
  record per layer with `GEOID`, `STATE` (FIPS), `BASENAME`, `NAME` (and `CD119` for the House).
  An address it does not know: `addressMatches: []`. A missing benchmark: 400 with `errors`.

    with FakeCensusGeocoder() as fake:
        fake.add("12 Main St", state_fips="25", cd="04", upper="1st Bristol and Plymouth",
                 lower="10th Bristol")
        fake.down(times=2)   # the next 2 requests answer 500
        fake.delay = 10.0    # every answer waits 10 s (a slow geocoder)
        fake.requests        # the query strings it was sent
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from typing import Any

from aiohttp import web

CD_LAYER = "119th Congressional Districts"
UPPER_LAYER = "2024 State Legislative Districts - Upper"
LOWER_LAYER = "2024 State Legislative Districts - Lower"


def _key(address: str) -> str:
    return " ".join(address.lower().replace(",", " ").split())


class FakeCensusGeocoder:
    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.addresses: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, str]] = []
        self.delay = 0.0
        self._down = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # --- data ---------------------------------------------------------------------------------

    def add(
        self,
        street: str,
        *,
        state_fips: str,
        cd: str | None = None,
        upper: str | None = None,
        lower: str | None = None,
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
        self.addresses[_key(street)] = {
            "matchedAddress": street.upper(),
            "coordinates": {"x": -71.05, "y": 42.3},
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
        return app

    async def _oneline(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.requests.append(query)
        waited = 0.0
        while waited < self.delay:
            await asyncio.sleep(0.05)
            waited += 0.05
        if self._down:
            self._down -= 1
            return web.Response(status=500, text="<html>Internal Server Error</html>")
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

    def start(self) -> FakeCensusGeocoder:
        ready = threading.Event()

        async def serve() -> None:
            self._runner = web.AppRunner(self.app(), access_log=None)
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(serve())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="fake-census", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake Census geocoder did not start")
        return self

    def stop(self) -> None:
        self.delay = 0.0
        if self._loop is None:
            return
        loop = self._loop
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    def __enter__(self) -> FakeCensusGeocoder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
