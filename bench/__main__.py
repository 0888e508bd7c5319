"""`python -m bench` (or `make bench`): run every benchmark in bench/, one after the other.

`python -m bench NAME ... [--option ...]` runs only those, with the options after the names given
to each (`python -m bench inbound_sms --sqlite none`). Each benchmark is a module with a `main()`
that prints its figures; a benchmark that needs something this machine lacks says so and is
skipped.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def benchmarks() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))


def main(argv: list[str]) -> int:
    first_option = next((i for i, arg in enumerate(argv) if arg.startswith("-")), len(argv))
    names, options = argv[:first_option] or benchmarks(), argv[first_option:]
    failed = []
    for name in names:
        print(f"\n=== bench.{name} ===", flush=True)
        started = time.monotonic()
        try:
            module = importlib.import_module(f"bench.{name}")
            if not hasattr(module, "main"):
                status = 0
            elif options:
                status = module.main(options)
            else:
                status = module.main()
        except SystemExit as exc:
            status = exc.code or 0
        except Exception as exc:  # report it and go on to the next benchmark
            print(f"bench.{name} failed: {exc!r}")
            status = 1
        print(f"=== bench.{name} done in {time.monotonic() - started:.1f} s (status {status})")
        if status:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
