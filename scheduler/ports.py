"""What the scheduler's parts are handed by whoever runs them (`bot/parts.py` wires them).

The sender, the clock and the Slack poster import nothing of `bot/`: their `run_*` functions
and classes take a unit-of-work factory, the ports (`handlers.ports`: SmsSender, Clock), the
org config and plain settings values as arguments, plus the two small ports below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from storage.uow import UnitOfWork

if TYPE_CHECKING:
    from handlers.views import InboxHeaderView

UowFactory = Callable[[], UnitOfWork]


class Metrics(Protocol):
    """Where the parts report what they measured (bot/metrics.py: Prometheus)."""

    def observe_send_latency(self, seconds: float) -> None: ...

    def count_delivery(self, outcome: str) -> None: ...

    def observe_scheduler_lag(self, seconds: float) -> None: ...


class NoMetrics:
    """Measures nothing (a part run without a metrics endpoint, and tests)."""

    def observe_send_latency(self, seconds: float) -> None:
        pass

    def count_delivery(self, outcome: str) -> None:
        pass

    def observe_scheduler_lag(self, seconds: float) -> None:
        pass


class SlackRender(Protocol):
    """How the poster turns stored posts into this workspace's Slack messages."""

    def alert(self, text: str, blocks: Any) -> tuple[str, Any]:
        """An alert's text and blocks with the slash command as this workspace names it."""
        ...

    def inbox_header(self, view: InboxHeaderView) -> tuple[str, list[Any]]:
        """The parent message of a volunteer's inbox thread."""
        ...
