"""Running Muster's processes: the web app, the clock and the sender, with clean shutdown.

Every long-running part is a function `run(container, stop)` that returns once `stop` is set.
SIGTERM and SIGINT set it; the process then exits 0 once every part has finished its work.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported lazily: the CLI catches signals before the heavy imports
    from bot.bootstrap import Container
    from bot.parts import Part

log = logging.getLogger(__name__)


_early_signal: list[int] = []


def catch_signals_early() -> None:
    """Called first thing by the CLI: a SIGTERM that arrives while the process is still starting
    (imports, connecting) is remembered, and the process then stops cleanly with status 0
    instead of being killed by the signal's default action."""

    def _remember(signum: int, _frame: object) -> None:
        _early_signal.append(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _remember)


def stop_requested() -> bool:
    """Whether a SIGTERM/SIGINT came while the process was still starting."""
    return bool(_early_signal)


@contextlib.contextmanager
def stop_on_signals(
    stop: threading.Event, also: Callable[[], None] | None = None
) -> Iterator[None]:
    """Set `stop` on SIGTERM/SIGINT (a second signal is also just a request to stop)."""

    def _handler(signum: int, _frame: object) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        stop.set()
        if also:
            also()

    previous = {sig: signal.signal(sig, _handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    if _early_signal:  # it came while starting up: act on it now
        _handler(_early_signal[-1], None)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_parts(container: Container, parts: dict[str, Part]) -> int:
    """Run parts until a signal; returns the exit status (0 after a clean shutdown)."""
    from bot.parts import PartThread

    stop = threading.Event()
    with stop_on_signals(stop):
        threads = [PartThread(name, part, container, stop) for name, part in parts.items()]
        for thread in threads:
            thread.start()
        while not stop.wait(0.5):
            pass
        for thread in threads:
            thread.join(timeout=60)
    container.close()
    return 1 if any(t.failed or t.is_alive() for t in threads) else 0


def serve(container: Container, *, host: str, port: int, web_only: bool) -> int:
    """The web app under uvicorn; with the clock and sender beside it unless web_only.

    Texts are answered in a desk process beside this one (bot/desk_process.py), which also
    replays the spool, and the clock, the sender and the posters run in a parts process of their
    own (bot/parts_process.py): this process's interpreter is left to the webhooks. (The CLI
    refuses an in-memory database, which the processes could not share.)
    """
    import uvicorn

    from bot import metrics
    from bot.desk_process import IN_A_PROCESS, SMS_DESK
    from bot.parts import worker_parts
    from bot.parts_process import PartsProcess
    from bot.web import create_app

    stop = threading.Event()
    container.extras[SMS_DESK] = IN_A_PROCESS
    names = [] if web_only else ["clock", *worker_parts(container.settings)]
    beside = PartsProcess(container.settings, names, recorder=metrics.RECORDER, stopping=stop)

    def start_background() -> None:
        if names:
            beside.start()

    def stop_background() -> None:
        stop.set()
        if names:
            beside.stop()

    app = create_app(container, on_startup=start_background, on_shutdown=stop_background)
    # What start-up built (modules, the ZIP table, the phone-number metadata) lives as long as
    # the process: out of the garbage collector's sight, a full collection no longer walks it
    # again and again while texts are being answered.
    gc.collect()
    gc.freeze()
    config = uvicorn.Config(app, host=host, port=port, log_config=None, lifespan="on")
    server = _Server(config, stop)
    server.run()
    container.close()
    return 1 if beside.failed or getattr(server, "startup_failed", False) else 0


class _Server:
    """uvicorn's Server, with our own signal handling so a clean SIGTERM exits 0 (uvicorn 0.54
    re-raises the signal it caught, which would end the process with status 143)."""

    def __init__(self, config: object, stop: threading.Event):
        import uvicorn

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(inner) -> Iterator[None]:
                def _exit() -> None:
                    inner.should_exit = True

                with stop_on_signals(stop, also=_exit):
                    yield

        self._server = Server(config)  # type: ignore[arg-type]
        self.startup_failed = False

    def run(self) -> None:
        self._server.run()
        self.startup_failed = not self._server.started
