"""`python -m bench inbound_sms`: throughput of `POST /twilio/sms` with valid signatures.

Measured in one run; each setup's time is cut in slots taken in turn with the other setups
(echo, SQLite, PostgreSQL, echo, ...), each after a short warm-up, so that a busy moment on a
shared machine falls on all of them alike:
- baseline: a bare Starlette endpoint that checks the Twilio signature with the same
  RequestValidator and answers a fixed TwiML message (no database): the ceiling of this
  framework, server and load on this machine;
- Muster: the real `muster serve --web-only` (one uvicorn worker, production settings, INFO logs)
  on a SQLite file holding 10,000 volunteers and 40 open shifts;
- the same on PostgreSQL when TEST_DATABASE_URL / BENCH_POSTGRES_URL names a server (a scratch
  database is created and dropped).
Load: 16 connections kept busy by an aiohttp client in a separate process, every request signed
like Twilio's and carrying a new MessageSid, from a random volunteer, with a mix of keywords:
SHIFTS, HELP, MY, YES N, DROP N, C, ZIP, NAME, free text. Afterwards the bench checks that every
answered message was stored (one inbound row each) and that none failed.
Targets (issue 3): at least 0.35 x the echo's throughput, p99 under 25 ms, zero errors.

    python -m bench.inbound_sms [--seconds 12] [--rounds 3] [--connections 16] [--postgres URL|none]
    (python -m bench inbound_sms runs it with the defaults)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path

from bench._cpu import CpuMeter
from bench._inbound_data import ROOT, VOLUNTEERS, ScratchPostgres, stored_messages
from bench._inbound_load import combine, run_load
from bench._inbound_servers import Server, start_echo, start_muster


def fmt(label: str, r: dict) -> str:
    return (
        f"  {label:<44} {r['rps']:7.0f} req/s  p50 {r['p50_ms']:5.1f} ms  "
        f"p99 {r['p99_ms']:5.1f} ms  errors {r['errors']}"
    )


def database_urls(args: argparse.Namespace, tmp: Path, stack: contextlib.ExitStack, tag: str):
    """(label, url) of the databases this run measures: a SQLite file, a scratch PostgreSQL."""
    found = []
    if args.sqlite != "none":
        found.append(("SQLite file", f"sqlite:///{tmp / f'bench-{tag}.db'}"))
    pg = args.postgres if args.postgres and args.postgres != "none" else None
    if pg and pg.startswith("postgresql"):
        try:
            found.append(("PostgreSQL", stack.enter_context(ScratchPostgres(pg))))
        except Exception as exc:
            print(f"  PostgreSQL skipped: {str(exc).splitlines()[0]}")
    return found


def parser_of(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--seconds", type=float, default=12.0, help="timed seconds per setup")
    parser.add_argument("--rounds", type=int, default=3, help="slots each setup's time is cut in")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before each slot")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--joins", type=float, default=0.03,
        help="share of requests that start a new volunteer's conversation (JOINER)",
    )  # fmt: skip
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("TEST_DATABASE_URL"),
        help="a PostgreSQL server URL (any existing database); 'none' to skip",
    )
    parser.add_argument("--sqlite", default="file", help="'none' to skip SQLite")
    parser.add_argument(
        "--baseline-tree",
        type=Path,
        help="another checkout (the code before a change): each database is also served by it",
    )
    return parser


def measure(
    args: argparse.Namespace, setups: list[tuple[str, list[Server], str | None]]
) -> tuple[bool, dict[str, dict]]:
    """Run the slots in turn, print each setup's figure beside the echo's (the first setup's);
    (True if no error and every answered text was stored, each setup's figures)."""
    slot = args.seconds / args.rounds
    runs: dict[str, list[dict]] = {label: [] for label, _, _ in setups}
    meters = {label: CpuMeter() for label, _, _ in setups}
    for round_ in range(args.rounds):
        for label, servers, _ in setups:
            url = ",".join(f"http://127.0.0.1:{srv.port}/twilio/sms" for srv in servers)
            meters[label].start([srv.proc.pid for srv in servers])
            runs[label].append(
                run_load(url, slot, args.warmup, args.connections, 11 + round_, args.joins)
            )
            meters[label].stop(runs[label][-1]["answered"])
    results = {label: combine(r) for label, r in runs.items()}
    echo_rps = results[setups[0][0]]["rps"]
    good = True
    for label, _, database_url in setups:
        result = results[label]
        print(fmt(label, result))
        for sample in result["error_samples"]:
            print(f"    error: {sample}")
        good &= not result["errors"]
        postgres = bool(database_url and database_url.startswith("postgresql"))
        print(f"    {meters[label].line(children=database_url is not None, postgres=postgres)}")
        if database_url is None:
            continue
        stored = stored_messages(database_url)
        ratio = result["rps"] / echo_rps if echo_rps else 0.0
        ok_ratio, ok_p99 = ratio >= 0.35, result["p99_ms"] < 25
        print(
            f"    {ratio:.2f} x echo (target >= 0.35: {'met' if ok_ratio else 'MISSED'}); "
            f"p99 target < 25 ms: {'met' if ok_p99 else 'MISSED'}; "
            f"stored {stored:,} of {result['answered']:,} answered"
            f"{'' if stored == result['answered'] else ' (MISMATCH)'}"
        )
        good &= stored == result["answered"]
    return good, results


def main(argv: list[str] | None = None) -> int:
    args = parser_of("python -m bench inbound_sms").parse_args(argv if argv is not None else [])
    print(
        f"POST /twilio/sms, signed, one uvicorn worker, {args.connections} connections; "
        f"{VOLUNTEERS:,} volunteers; {args.joins:.0%} of requests start a new volunteer's "
        f"JOIN, name, ZIP, HELP, SHIFTS, MY, question. Each setup {args.seconds:.0f} s, cut in "
        f"{args.rounds} slots taken in turn with the others (so a busy moment on this shared "
        f"machine hits all alike). Load average at the start: {os.getloadavg()[0]:.2f}."
    )
    with (
        tempfile.TemporaryDirectory(prefix="bench-sms-") as tmpdir,
        contextlib.ExitStack() as stack,
    ):
        tmp = Path(tmpdir)
        echo = start_echo(tmp)
        stack.callback(echo.stop)
        setups: list[tuple[str, list[Server], str | None]] = [
            ("baseline: Starlette TwiML echo + signature", [echo], None)
        ]
        trees = [("", ROOT)]
        if args.baseline_tree:
            trees.append((" (before)", args.baseline_tree.resolve()))
        for suffix, root in trees:
            for name, url in database_urls(args, tmp, stack, str(len(setups))):
                label = f"Muster /twilio/sms on {name}{suffix}"
                server = start_muster(url, tmp, label, root=root)
                stack.callback(server.stop)
                setups.append((label, [server], url))
        good, _ = measure(args, setups)
    print(f"  load average at the end: {os.getloadavg()[0]:.2f}")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
