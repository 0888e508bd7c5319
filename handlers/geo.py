"""Where a US ZIP code is: centroids, states and time zones from the `zipcodes` package.

The package's 42,000 records are read once per process into a dict keyed by ZIP (the package's own
`matching()` scans the whole list on every call), so a lookup on the inbound-SMS path costs one
dict access. Distances are great-circle miles between ZIP centroids: good enough to sort shifts
"nearest first" and to expand `near:ZIP:MILES` audiences, not for driving directions.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import zipcodes

EARTH_RADIUS_MILES = 3958.8
_ZIP5 = re.compile(r"^\s*(\d{5})(?:-?\d{4})?\s*$")
# One degree of latitude is ~69.05 miles everywhere; used to cut the candidates before haversine.
_MILES_PER_DEGREE_LAT = 69.05


@dataclass(frozen=True, slots=True)
class ZipInfo:
    zip: str
    lat: float
    lon: float
    state: str
    timezone: str | None  # IANA name; None for military (APO/FPO) ZIPs
    city: str


@lru_cache(maxsize=1)
def _index() -> dict[str, ZipInfo]:
    index: dict[str, ZipInfo] = {}
    for rec in zipcodes.list_all():
        if not rec.get("active") or not rec.get("lat") or not rec.get("long"):
            continue
        index[rec["zip_code"]] = ZipInfo(
            zip=rec["zip_code"],
            lat=float(rec["lat"]),
            lon=float(rec["long"]),
            state=rec.get("state") or "",
            timezone=rec.get("timezone") or None,
            city=rec.get("city") or "",
        )
    return index


def warm() -> None:
    """Load the ZIP table now (web start-up), so the first volunteer's ZIP does not wait for it."""
    _index()


def normalize_zip(text: str | None) -> str | None:
    """`02124`, `02124-3301` or `021243301` -> `02124`; anything else -> None (not checked)."""
    if not text:
        return None
    m = _ZIP5.match(text)
    return m.group(1) if m else None


def zip_info(zip5: str | None) -> ZipInfo | None:
    """The ZIP's centroid, state and zone, or None when it is not an active US ZIP code."""
    z = normalize_zip(zip5)
    return _index().get(z) if z else None


def _coords(place: str | ZipInfo | None) -> ZipInfo | None:
    return place if isinstance(place, ZipInfo) else zip_info(place)


def _haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_MILES * math.asin(min(1.0, math.sqrt(h)))


def miles_between(a: str | ZipInfo | None, b: str | ZipInfo | None) -> float | None:
    """Great-circle miles between two ZIP centroids; None when either is unknown."""
    pa, pb = _coords(a), _coords(b)
    if pa is None or pb is None:
        return None
    return _miles(pa.zip, pb.zip)


@lru_cache(maxsize=8192)
def _miles(zip_a: str, zip_b: str) -> float:
    """Remembered: listing shifts near volunteers asks for the same few pairs again and again."""
    a, b = _index()[zip_a], _index()[zip_b]
    return _haversine(a.lat, a.lon, b.lat, b.lon)


@lru_cache(maxsize=256)
def _within(zip5: str, miles: float) -> tuple[str, ...]:
    center = zip_info(zip5)
    if center is None:
        return ()
    dlat = miles / _MILES_PER_DEGREE_LAT
    found: list[tuple[float, str]] = []
    for info in _index().values():
        if abs(info.lat - center.lat) > dlat:
            continue
        d = _haversine(center.lat, center.lon, info.lat, info.lon)
        if d <= miles:
            found.append((d, info.zip))
    found.sort()
    return tuple(z for _, z in found)


def zips_within(zip5: str, miles: float) -> list[str]:
    """Every active ZIP whose centroid is within `miles` of `zip5`'s, nearest first (itself
    included). An unknown ZIP gives an empty list."""
    if miles < 0:
        raise ValueError("miles must not be negative")
    z = normalize_zip(zip5)
    return list(_within(z, float(miles))) if z else []
