"""The servers `bench inbound_sms` (and the benches built on it) measure, each in a process of its
own: the baseline (a bare Starlette TwiML echo that checks the signature as Muster does) and
`muster serve` from a source tree on a freshly seeded database.

    python -m bench._inbound_servers echo PORT
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench._inbound_data import ACCOUNT_SID, AUTH_TOKEN, GROUP_NUMBER, ROOT


def echo_app(public_url: str):
    """A bare Starlette TwiML echo that checks the signature exactly as Muster's route does."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route
    from twilio.request_validator import RequestValidator
    from twilio.twiml.messaging_response import MessagingResponse

    validator = RequestValidator(AUTH_TOKEN)
    url = public_url.rstrip("/") + "/twilio/sms"

    async def sms(request: Request) -> Response:
        form = await request.form()
        params = {k: str(v) for k, v in form.multi_items()}
        if not validator.validate(url, params, request.headers.get("X-Twilio-Signature", "")):
            return Response("forbidden", status_code=403)
        reply = MessagingResponse()
        reply.message("Thanks, we got your message.")
        return Response(str(reply), media_type="application/xml")

    return Starlette(routes=[Route("/twilio/sms", sms, methods=["POST"])])


def serve_echo(port: int) -> None:
    import uvicorn

    from bot.logs import configure_logging

    configure_logging("INFO")
    app = echo_app(f"http://127.0.0.1:{port}")
    uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    ).run()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start in time")


class Server:
    def __init__(
        self, args: list[str], env: dict[str, str], log: Path, port: int, cwd: Path = ROOT
    ):
        self.port, self.log = port, log
        self._out = log.open("w")
        self.proc = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=self._out, stderr=subprocess.STDOUT
        )
        wait_ready(port, self.proc, log)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._out.close()


def muster_env(database_url: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "SLACK_"))}
    env.update(
        DATABASE_URL=database_url,
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_FROM_NUMBER=GROUP_NUMBER,
        ORG_NAME="Bench Org",
        ORG_CONTACT="help@bench.example",
        LOG_LEVEL="INFO",
    )
    return env


# Run in the measured tree, whose migrations make the schema; a tree from before bench/ was
# split keeps `seed` in bench.inbound_sms.
_SEED = """import sys
try:
    from bench._inbound_data import seed
except ImportError:
    from bench.inbound_sms import seed
seed(sys.argv[1])
"""


def seed_in_tree(database_url: str, root: Path = ROOT) -> None:
    """The bench's volunteers and shifts seeded by the source tree `root` (migrated by it)."""
    subprocess.run([sys.executable, "-c", _SEED, database_url], cwd=root, check=True)


def start_echo(tmp: Path) -> Server:
    port = free_port()
    return Server(
        [sys.executable, "-m", "bench._inbound_servers", "echo", str(port)],
        dict(os.environ),
        tmp / "echo.log",
        port,
    )


def start_muster(
    database_url: str,
    tmp: Path,
    label: str,
    *,
    root: Path = ROOT,
    web_only: bool = True,
    env: dict[str, str] | None = None,
    seeded: bool = False,
) -> Server:
    """`muster serve` (--web-only unless `web_only` is False) from the source tree `root` (a
    second checkout measures the code before a change in the same run), on a freshly seeded
    database."""
    if not seeded:
        seed_in_tree(database_url, root)
    port = free_port()
    slug = "".join(c if c.isalnum() else "-" for c in label.lower())
    return Server(
        [sys.executable, "-m", "bot.cli", "serve", *(["--web-only"] if web_only else []),
         "--port", str(port)],
        {**muster_env(database_url, port), **(env or {})},
        tmp / f"muster-{slug}.log",
        port,
        cwd=root,
    )  # fmt: skip


if __name__ == "__main__":
    serve_echo(int(sys.argv[2]))
