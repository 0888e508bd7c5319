"""`muster`: the console script. Every process and operator command of the contract."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

# Settings, the database and the app are imported once the command is known, so that a process
# catches SIGTERM (bot.process.catch_signals_early) before its slow imports.
if TYPE_CHECKING:
    from bot.bootstrap import Container
    from bot.settings import Settings

log = logging.getLogger("muster")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="muster", description="Muster volunteer bot")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="the web app (and, unless --web-only, clock and sender)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--web-only", action="store_true", help="no clock or sender here")

    sub.add_parser("worker", help="the sender: drains the outbox")
    sub.add_parser("clock", help="the APScheduler timetable (one leader at a time)")

    db = sub.add_parser("db", help="database commands")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    db_sub.add_parser("upgrade", help="apply Alembic migrations to head")
    copy = db_sub.add_parser("copy", help="copy every row of one database into another")
    copy.add_argument("--from", dest="source", required=True, help="source DATABASE_URL")
    copy.add_argument("--to", dest="target", help="target URL (default: DATABASE_URL)")

    seed = sub.add_parser("seed", help="fill an empty database with demo data")
    seed.add_argument("--demo", action="store_true", required=True)
    seed.add_argument("--if-empty", action="store_true", help="do nothing when data exists")

    imp = sub.add_parser("import", help="import data from CSV")
    imp.add_argument("what", choices=["volunteers"])
    imp.add_argument("file")
    imp.add_argument("--rejects", help="write rejected rows with reasons to this CSV")

    exp = sub.add_parser("export", help="export data as CSV")
    exp.add_argument("what", choices=["volunteers", "roster"])
    exp.add_argument("shift", nargs="?", type=int, help="shift number (for roster)")
    exp.add_argument("--output", help="file to write (default: standard output)")

    forget = sub.add_parser("forget", help="erase a volunteer's personal data")
    forget.add_argument("phone")

    districts = sub.add_parser("districts", help="the ZIP-to-district crosswalk")
    d_sub = districts.add_subparsers(dest="districts_command", required=True, metavar="WHAT")
    d_load = d_sub.add_parser("load", help="load a crosswalk CSV (zip,district[,share])")
    d_load.add_argument("file")
    d_load.add_argument("--vintage", help="the data's vintage (default: the file's name)")
    d_show = d_sub.add_parser("show", help="the districts of a ZIP code")
    d_show.add_argument("zip")

    legislators = sub.add_parser("legislators", help="the legislators directory (Open States)")
    l_sub = legislators.add_subparsers(dest="legislators_command", required=True, metavar="WHAT")
    l_load = l_sub.add_parser("load", help="load an Open States people CSV (one state a file)")
    l_load.add_argument("file")
    l_show = l_sub.add_parser("show", help="who sits for a district (short or full OCD id)")
    l_show.add_argument("district")
    l_sub.add_parser(
        "fetch", help="ask Open States (OPENSTATES_API_KEY) for every district volunteers live in"
    )

    sync = sub.add_parser("sync", help="sync with a peer service now (Mobilize, Action Network)")
    sync.add_argument("what", choices=["mobilize", "action_network"])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in {"serve", "worker", "clock"}:
        from bot.process import catch_signals_early

        catch_signals_early()
    from bot.logs import configure_logging
    from bot.settings import settings_or_exit

    settings = settings_or_exit()
    configure_logging(settings.log_level, log_format=settings.log_format, log_sql=settings.log_sql)
    try:
        return _run(args, settings)
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from bot import process
    from bot.bootstrap import bootstrap

    if args.command == "db" and args.db_command == "upgrade":
        from storage.migrate import upgrade

        upgrade(settings.database_url)
        log.info("database at head")
        from bot.districts_cli import load_default

        container = bootstrap(settings)
        try:
            load_default(container)
        finally:
            container.close()
        return 0
    if args.command == "db" and args.db_command == "copy":
        from storage.copy import copy_database

        return copy_database(args.source, args.target or settings.database_url)

    if args.command in {"serve", "worker", "clock"}:
        from storage.db import is_in_memory

        if is_in_memory(settings.database_url):
            print(
                "muster: DATABASE_URL is an in-memory SQLite database, which each process would "
                "have its own of and which is gone at exit; use a file (sqlite:///muster.db) "
                "or PostgreSQL",
                file=sys.stderr,
            )
            return 2
    container = bootstrap(settings)
    if args.command in {"serve", "worker", "clock"}:
        if args.command == "serve" and settings.is_sqlite:
            from storage.migrate import upgrade

            upgrade(settings.database_url)  # the embedded default migrates itself
            from bot.districts_cli import load_default

            load_default(container)
        from bot.schema_check import check_at_start

        refused = check_at_start(container, wait_for_database=args.command != "serve")
        if refused is not None:
            container.close()
            return refused
    if args.command == "serve":
        container.extras["listen"] = (args.host, args.port)  # for the console's address
        return process.serve(container, host=args.host, port=args.port, web_only=args.web_only)
    if args.command == "worker":
        from bot.parts import RUNNERS, worker_parts

        return process.run_parts(container, {n: RUNNERS[n] for n in worker_parts(settings)})
    if args.command == "clock":
        from bot.parts import run_clock

        return process.run_parts(container, {"clock": run_clock})
    return _run_operator_command(args, container)


def _run_operator_command(args: argparse.Namespace, container: Container) -> int:
    try:
        if args.command == "seed":
            from bot.seed import seed_demo

            return seed_demo(container, if_empty=args.if_empty)
        if args.command == "import":
            from bot.csv_import import import_volunteers

            return import_volunteers(container, args.file, rejects=args.rejects)
        if args.command == "export":
            from bot.csv_export import export

            return export(container, args.what, shift_id=args.shift, output=args.output)
        if args.command == "forget":
            from bot.privacy import forget

            return forget(container, args.phone)
        if args.command == "districts":
            from bot import districts_cli

            if args.districts_command == "load":
                return districts_cli.load(container, args.file, vintage=args.vintage)
            return districts_cli.show(container, args.zip)
        if args.command == "legislators":
            from bot import legislators_cli

            if args.legislators_command == "load":
                return legislators_cli.load(container, args.file)
            if args.legislators_command == "fetch":
                return legislators_cli.fetch(container)
            return legislators_cli.show(container, args.district)
        if args.command == "sync":
            from bot.integrations import sync_command

            return sync_command(container, args.what)
    finally:
        container.close()
    print(f"muster: unknown command {args.command}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
