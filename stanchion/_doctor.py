"""What `python -m stanchion doctor` checks: the install, the extras, the `supervisor` name."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
import sys
from collections.abc import Sequence

from actors.testing import facade_problem

# extra -> (the module it installs, what it adds)
EXTRAS = {
    "redis": ("redis", "the Redis backends: task queue, saga log, bus groups (docs/backends.md)"),
    "demo": ("rich", "the demo's live terminal view (demo.py)"),
}

USAGE = "usage: python -m stanchion doctor"


def report() -> tuple[list[str], bool]:
    """The lines of the report, and whether everything stanchion needs is in order."""
    try:
        version = importlib.metadata.version("stanchion")
    except importlib.metadata.PackageNotFoundError:
        version = "not installed (running from a source tree)"
    lines = [f"stanchion {version} on Python {platform.python_version()}"]
    for extra, (module, adds) in EXTRAS.items():
        have = importlib.util.find_spec(module) is not None
        state = "installed" if have else f"not installed (pip install 'stanchion[{extra}]')"
        lines.append(f"extra {extra!r}: {state}: {adds}")
    problem = facade_problem()
    if problem is None:
        lines.append("`supervisor` package: stanchion's facade")
    else:
        lines.append(f"PROBLEM: {problem}")
    return lines, problem is None


def main(argv: Sequence[str]) -> int:
    """Print the report; exit status 1 when something needs fixing, 2 on a usage error."""
    if list(argv) not in (["doctor"], []):
        print(USAGE, file=sys.stderr)
        return 2
    lines, ok = report()
    for line in lines:
        print(line)
    return 0 if ok else 1
