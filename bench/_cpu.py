"""Where a slot of load spent the machine's processor time (Linux /proc), for the HTTP benches.

Throughput and latency on a shared two-core machine move with what else runs on the host; the
processor time each process spent per answered text does much less, and it says what bounds a
setup: `CpuMeter.start(pids)` before a slot, `.stop(answered)` after it gives milliseconds of CPU
per text for each server process and its children (the desk, the parts), for the PostgreSQL
server's processes, and for the load generator (a child of the bench that ends with the slot);
and the share of the slot during which some runnable task waited for a core
(/proc/pressure/cpu, "some"): above a few percent, the cores were the limit, not the code.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
_PRESSURE = Path("/proc/pressure/cpu")


def _stat(pid: int) -> tuple[str, int, float] | None:
    """(command name, parent pid, user + system seconds) of a live process, else None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return name, int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def _processes() -> dict[int, tuple[str, int, float]]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            found[int(entry)] = stat
    return found


def _descendants(pid: int, table: dict[int, tuple[str, int, float]]) -> set[int]:
    out, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, (_, parent, _) in table.items() if parent in frontier} - out
        out |= frontier
    return out


def _pressure_us() -> int | None:
    """Microseconds, since boot, during which some runnable task waited for a CPU."""
    try:
        first = _PRESSURE.read_text().splitlines()[0]  # some avg10=.. avg60=.. avg300=.. total=N
    except (OSError, IndexError):
        return None
    return int(first.rsplit("total=", 1)[1])


@dataclass
class _Snapshot:
    web: float
    children: float
    postgres: float
    load: float
    pressure: int | None
    at: float


def _snapshot(pids: list[int]) -> _Snapshot:
    table = _processes()
    kids = set().union(*(_descendants(pid, table) for pid in pids)) if pids else set()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return _Snapshot(
        web=sum(table[p][2] for p in pids if p in table),
        children=sum(table[p][2] for p in kids),
        postgres=sum(s[2] for s in table.values() if s[0].startswith("postgres")),
        load=usage.ru_utime + usage.ru_stime,
        pressure=_pressure_us(),
        at=time.monotonic(),
    )


@dataclass
class CpuMeter:
    """Processor time per answered text, summed over the slots a setup was measured in."""

    seconds: dict[str, float] = field(default_factory=dict)
    texts: int = 0
    wall: float = 0.0
    stalled: float | None = 0.0
    _begun: _Snapshot | None = None
    _pids: list[int] = field(default_factory=list)

    def start(self, pids: list[int]) -> None:
        self._pids, self._begun = pids, _snapshot(pids)

    def stop(self, answered: int) -> None:
        begun, ended = self._begun, _snapshot(self._pids)
        assert begun is not None, "stop() before start()"
        for part in ("web", "children", "postgres", "load"):
            spent = getattr(ended, part) - getattr(begun, part)
            self.seconds[part] = self.seconds.get(part, 0.0) + spent
        self.texts += answered
        self.wall += ended.at - begun.at
        if self.stalled is not None and begun.pressure is not None and ended.pressure is not None:
            self.stalled += (ended.pressure - begun.pressure) / 1e6
        else:
            self.stalled = None

    def per_text_ms(self, part: str) -> float:
        return 1000 * self.seconds.get(part, 0.0) / self.texts if self.texts else float("nan")

    def line(self, *, children: bool, postgres: bool) -> str:
        parts = [f"web process {self.per_text_ms('web'):.2f}"]
        if children:
            parts.append(f"its desk/parts processes {self.per_text_ms('children'):.2f}")
        if postgres:
            parts.append(f"PostgreSQL {self.per_text_ms('postgres'):.2f}")
        parts.append(f"load generator {self.per_text_ms('load'):.2f}")
        used = sum(self.seconds.values()) / self.wall if self.wall else 0.0
        stalled = (
            f"; a task waited for a core {100 * self.stalled / self.wall:.0f}% of the time"
            if self.stalled is not None and self.wall
            else ""
        )
        return f"CPU ms per text: {', '.join(parts)} ({used:.2f} cores busy{stalled})"
