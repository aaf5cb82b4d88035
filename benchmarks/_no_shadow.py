"""Imported first by every benchmark script.

Run as `python benchmarks/X.py`, a script has this directory first on
`sys.path`, where `queue.py` (the task-queue benchmark, named by the issue that
asked for it) would shadow the standard library's `queue` module for every
import that follows. Taking the directory off `sys.path` prevents that.
"""

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
