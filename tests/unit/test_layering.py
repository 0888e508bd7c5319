"""The rule of the arrows (docs/architecture.md), read from the source with `ast`: no project
code is imported. `bot` and `scheduler` use `handlers`, `handlers` uses `storage`, never the
other way; no two modules import each other (function-level imports count); no module past
MAX_LINES, the benchmarks' and the tests' own included."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "handlers", "storage", "scheduler")
SIZED_TOO = ("bench", "tests")  # held to MAX_LINES, not to the arrows
MAX_LINES = 400
FORBIDDEN = {
    "storage": {"handlers", "bot", "scheduler"},
    "handlers": {"bot", "scheduler", "slack_bolt", "slack_sdk", "twilio", "starlette", "uvicorn"},
    "scheduler": {"bot"},
}

# Known violations, each to be deleted when its fix lands. Nothing may be added here: a new
# violation is fixed, not listed.
ALLOWED_SIZES: set[str] = set()
ALLOWED_IMPORTS: set[tuple[str, str]] = set()
ALLOWED_CYCLES: set[frozenset[str]] = set()


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                found[_module_name(path)] = path
    return found


def _is_project_module(name: str) -> bool:
    return name in modules()


@cache
def imports_of(module: str) -> frozenset[str]:
    """Every module `module` imports, anywhere in its body (a `from pkg import name` of a
    submodule counts as importing that submodule)."""
    path = modules()[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                names.add(sub if _is_project_module(sub) else target)
    return frozenset(names)


def test_the_walk_finds_every_package_and_its_imports() -> None:
    """(The rules below are only as good as this: a walk that found nothing would pass them.)"""
    found = modules()
    for package in PACKAGES:
        assert package in found
    assert "storage.models" in imports_of("handlers.shifts")
    assert "bot.bootstrap" in imports_of("bot.process")  # under `if TYPE_CHECKING:`
    assert "scheduler.sender" in imports_of("bot.parts")  # inside a function


def test_dependencies_point_inward() -> None:
    wrong = []
    for module in modules():
        forbidden = FORBIDDEN.get(module.split(".")[0], set())
        for name in imports_of(module):
            if name.split(".")[0] in forbidden and (module, name) not in ALLOWED_IMPORTS:
                wrong.append(f"{module} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_no_two_modules_import_each_other() -> None:
    cycles = set()
    for module in modules():
        for name in imports_of(module):
            if name != module and _is_project_module(name) and module in imports_of(name):
                cycles.add(frozenset({module, name}))
    found = [" <-> ".join(sorted(pair)) for pair in cycles - ALLOWED_CYCLES]
    assert not found, "\n".join(sorted(found))


def test_no_module_is_past_the_line_limit() -> None:
    long = []
    for module, path in modules().items():
        lines = path.read_text().count("\n")
        if lines > MAX_LINES and module not in ALLOWED_SIZES:
            long.append(f"{module}: {lines} lines")
    assert not long, "\n".join(long)


def test_no_benchmark_or_test_module_is_past_the_line_limit() -> None:
    """A newcomer finds a test or a benchmark by what it is about, as they do the code."""
    paths = [p for d in SIZED_TOO for p in sorted((ROOT / d).rglob("*.py"))]
    assert len(paths) > 50  # (the walk found them)
    long = [
        f"{path.relative_to(ROOT)}: {lines} lines"
        for path in paths
        if (lines := path.read_text().count("\n")) > MAX_LINES
    ]
    assert not long, "\n".join(long)


def test_the_allow_list_holds_only_what_is_still_true() -> None:
    """An entry whose violation is gone is deleted, so the list cannot hide a new one later."""
    stale = [
        m
        for m in ALLOWED_SIZES
        if m not in modules() or modules()[m].read_text().count("\n") <= MAX_LINES
    ]
    stale += [f"{a} -> {b}" for a, b in ALLOWED_IMPORTS if b not in imports_of(a)]
    stale += [
        " <-> ".join(sorted(pair))
        for pair in ALLOWED_CYCLES
        if not all(m in modules() for m in pair)
        or not all(set(pair) - {m} <= imports_of(m) for m in pair)
    ]
    assert not stale, "\n".join(stale)
