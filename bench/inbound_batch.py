"""`python -m bench inbound_batch`: the inbound handler alone (no HTTP), per text, by batch size.

`handlers.volunteer.receive.receive_texts` called from one thread on texts of the `inbound_sms`
mix (10,000 seeded volunteers, 40 shifts, a few first-time joiners), in batches of 1 and of 16,
on a SQLite file and on a scratch PostgreSQL database (TEST_DATABASE_URL / BENCH_POSTGRES_URL):
wall and CPU milliseconds per text and SQL statements per text (commits and pings not counted).
The baseline is the same code on SQLite, in the same run. It tells where the web process's
interpreter goes on PostgreSQL (issue 19): a lone text's transaction, against a batch's share.

    python -m bench.inbound_batch [--texts 800] [--postgres URL|none]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bench import _inbound_data as b
from bench._inbound_servers import muster_env


def texts(n: int, rng: random.Random) -> list:
    from handlers.messages import Channel, InboundText

    weights, bodies = [w for w, _ in b.MIX], [x for _, x in b.MIX]
    joiners: list[list[str]] = []
    out = []
    for _ in range(n):
        fill = {
            "n": rng.randint(1, b.SHIFTS),
            "zip": rng.choice(b.ZIPS),
            "name": rng.choice(b.NAMES),
        }
        if joiners and rng.random() < 0.2:
            joiner = joiners[0]
            phone, body = joiner[0], joiner.pop(1).format(**fill)
            if len(joiner) == 1:
                joiners.pop(0)
        else:
            if rng.random() < 0.01:
                joiners.append([b.new_phone(rng), *b.JOINER])
            phone = b.phone_of(rng.randrange(b.VOLUNTEERS))
            body = rng.choices(bodies, weights)[0].format(**fill)
        out.append(
            InboundText(
                channel=Channel.SMS,
                phone=phone,
                text=body,
                message_id="SM" + uuid.uuid4().hex,
                to=b.GROUP_NUMBER,
                received_at=datetime.now(UTC),
            )
        )
    return out


def measure(url: str, n: int, batch: int) -> dict[str, float]:
    from sqlalchemy import event

    from bot.bootstrap import bootstrap
    from bot.settings import load_settings
    from handlers.volunteer.receive import receive_texts

    b.seed(url)
    saved = dict(os.environ)
    os.environ.update(muster_env(url, 8000))
    try:
        c = bootstrap(load_settings())
    finally:
        os.environ.clear()
        os.environ.update(saved)
    statements = [0]

    @event.listens_for(c.engine, "before_cursor_execute")
    def _count(*_args: object) -> None:
        statements[0] += 1

    rng = random.Random(5)
    warm, timed = texts(10 * batch, rng), texts(n, rng)
    try:
        for i in range(0, len(warm), batch):
            receive_texts(warm[i : i + batch], uow=c.uow(), org=c.org, clock=c.clock)
        statements[0] = 0
        t0, c0 = time.perf_counter(), time.process_time()
        errors = 0
        for i in range(0, n, batch):
            out = receive_texts(timed[i : i + batch], uow=c.uow(), org=c.org, clock=c.clock)
            errors += sum(isinstance(o, Exception) for o in out)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        c.close()
    return {
        "wall_ms": 1000 * wall / n,
        "cpu_ms": 1000 * cpu / n,
        "statements": statements[0] / n,
        "errors": errors,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench inbound_batch")
    parser.add_argument("--texts", type=int, default=800)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("TEST_DATABASE_URL"),
    )
    args = parser.parse_args(argv if argv is not None else [])
    print(
        f"receive_texts alone, one thread, {args.texts} texts of the inbound_sms mix; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    bad = 0
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp, contextlib.ExitStack() as stack:
        urls = [("SQLite (baseline)", lambda k: f"sqlite:///{Path(tmp) / f'b{k}.db'}")]
        pg = args.postgres if args.postgres and args.postgres.startswith("postgresql") else None
        if pg:
            urls.append(("PostgreSQL", lambda _k: stack.enter_context(b.ScratchPostgres(pg))))
        for label, url_of in urls:
            for batch in (1, 16):
                r = measure(url_of(batch), args.texts, batch)
                bad += int(r["errors"])
                print(
                    f"  {label:<18} batch {batch:>2}: {r['wall_ms']:5.2f} ms/text wall, "
                    f"{r['cpu_ms']:5.2f} ms CPU, {r['statements']:4.2f} statements/text, "
                    f"errors {r['errors']}"
                )
    return 1 if bad else 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
