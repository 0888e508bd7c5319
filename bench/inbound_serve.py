"""`python -m bench inbound_serve`: the one-command default, `muster serve` (the web app, and the
clock, sender and Slack poster in the parts process beside it) on a SQLite file, with the sender
and the poster busy (how many texts and posts they got through is printed with the figures).

The same load as `bench inbound_sms` (its keyword mix plus first-time joiners, 16 connections,
10,000 volunteers), against:
- baseline: the Starlette TwiML echo that checks the same signature;
- `muster serve --web-only` on its own SQLite file (the web app alone);
- `muster serve` on another SQLite file whose outbox holds a broadcast to all 10,000 volunteers
  (sent during the run at SEND_RATE_MPS to the fake Twilio, its own process, 150 ms an answer),
  with Slack configured (the fake Slack API in its own process): each joiner's sign-up and every
  free text is posted to the inbox channel while the texts come in.
With `--baseline-tree PATH`, the full `muster serve` is also run from that checkout (the code
before a change), in the same slots. Target (issue 19): the full process at >= 0.35 x the echo,
p99 < 25 ms: the poster and the sender must not starve the web app of the interpreter.

    python -m bench inbound_serve [--seconds 12] [--rounds 3] [--baseline-tree PATH]
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench._inbound_data import ACCOUNT_SID, AUTH_TOKEN, ROOT
from bench._inbound_servers import Server, seed_in_tree, start_echo, start_muster
from bench._sending import confirm_broadcast_to_all
from bench.inbound_sms import measure, parser_of

SEND_RATE = "50"  # msg/s: the broadcast to 10,000 lasts the whole run
FAKE_SLACK = (
    "import time; from tests.fakes.slack_api import FakeSlackApi; "
    "fake = FakeSlackApi().__enter__(); print(fake.api_url, flush=True); time.sleep(86400)"
)


def start_fake(args: list[str]) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        raise RuntimeError(f"a fake did not start: {args}")
    return proc, url


def main(argv: list[str] | None = None) -> int:
    parser = parser_of("python -m bench inbound_serve")
    args = parser.parse_args(argv if argv is not None else [])
    print(
        f"inbound_serve: POST /twilio/sms against `muster serve` on SQLite, sender sending a "
        f"broadcast at {SEND_RATE} msg/s and the Slack poster posting every sign-up; "
        f"{args.connections} connections, {args.joins:.0%} joiners; load average "
        f"{os.getloadavg()[0]:.2f}"
    )
    with (
        tempfile.TemporaryDirectory(prefix="bench-serve-") as tmpdir,
        contextlib.ExitStack() as stack,
    ):
        tmp = Path(tmpdir)
        twilio, twilio_url = start_fake(
            ["-m", "tests.fakes.twilio_api", "--latency", "0.15", "--account-sid",
             ACCOUNT_SID, "--auth-token", AUTH_TOKEN]
        )  # fmt: skip
        stack.callback(twilio.terminate)
        slack, slack_url = start_fake(["-c", FAKE_SLACK])
        stack.callback(slack.terminate)
        busy = {
            "TWILIO_API_URL": twilio_url,
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": "bench-signing-secret",
            "SLACK_API_URL": slack_url.rstrip("/") + "/",
            "SLACK_INBOX_CHANNEL": "C0INBOX",
            "SEND_RATE_MPS": SEND_RATE,
            "QUIET_HOURS": "off",
        }
        echo = start_echo(tmp)
        stack.callback(echo.stop)
        setups: list[tuple[str, list[Server], str | None]] = [
            ("baseline: Starlette TwiML echo + signature", [echo], None)
        ]
        trees = [("", ROOT)]
        if args.baseline_tree:
            trees.append((" (before)", args.baseline_tree.resolve()))
        for suffix, root in trees:
            modes = [("--web-only", True), ("full, sender + poster busy", False)]
            for mode, web_only in modes if not suffix else modes[1:]:
                url = f"sqlite:///{tmp / f'serve-{len(setups)}.db'}"
                label = f"muster serve {mode}{suffix}"
                seed_in_tree(url, root)
                if not web_only:
                    confirm_broadcast_to_all(url)
                server = start_muster(
                    url, tmp, label, root=root, web_only=web_only, env=busy, seeded=True
                )
                stack.callback(server.stop)
                setups.append((label, [server], url))
        good, _ = measure(args, setups)
        for label, _servers, url in setups:
            if url is not None and "full" in label:
                sent, posted = busy_work(url)
                print(f"  {label}: the sender sent {sent:,} texts, the poster posted {posted:,}")
                good &= sent > 0 and posted > 0
    print(f"  load average at the end: {os.getloadavg()[0]:.2f}")
    return 0 if good else 1


def busy_work(database_url: str) -> tuple[int, int]:
    """What the full process's sender and poster did meanwhile: texts the fake Twilio accepted,
    posts the fake Slack accepted (so "busy" is measured, not assumed)."""
    from sqlalchemy import create_engine, func, select

    from storage.models import Delivery, DeliveryStatus, SlackPost, SlackPostStatus

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            went = Delivery.status.not_in([DeliveryStatus.PENDING, DeliveryStatus.CLAIMED])
            sent = conn.scalar(select(func.count()).select_from(Delivery).where(went))
            posted = conn.scalar(
                select(func.count())
                .select_from(SlackPost)
                .where(SlackPost.status == SlackPostStatus.POSTED)
            )
    finally:
        engine.dispose()
    return int(sent or 0), int(posted or 0)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
