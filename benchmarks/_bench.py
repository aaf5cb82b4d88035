"""Imported first by every benchmark script: the import path, and the helpers they share.

Run as `python benchmarks/<name>.py`, a script has this directory first on
`sys.path`: a benchmark named after its package (`core.py`, `bus.py`, ...)
could shadow a module of that name for every import that follows, so the
directory is taken off. The repository root goes first instead, so that a
benchmark can drive `examples/` (not installed with the library).
"""

import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(_HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != _HERE)]


def percentile(samples: Sequence[float], q: float) -> float:
    """The `q` quantile (0..1) of `samples` by rank; NaN when there are none."""
    ordered = sorted(samples)
    if not ordered:
        return math.nan
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


def placement() -> str:
    """Where this process may run: "pinned to cpu 0 of 2" or "unpinned (2 cpus)"."""
    cpus = sorted(os.sched_getaffinity(0))
    total = os.cpu_count() or len(cpus)
    if len(cpus) < total:
        return f"pinned to cpu {','.join(map(str, cpus))} of {total}"
    return f"unpinned ({total} cpus)"
