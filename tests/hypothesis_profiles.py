"""Hypothesis budgets: bounded and derandomised by default (CI), larger and random on request.

`make test` (and CI) runs the `ci` profile: every property test uses a fixed
seed and a bounded example count, so a run is reproducible and fast. For a
longer hunt, run `HYPOTHESIS_PROFILE=long make test` (or `make test-long`):
20 times the examples, fresh random seeds, and Hypothesis's example database
so a failure found once is replayed first next time.
"""

from __future__ import annotations

import os

from hypothesis import settings

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
SCALE = 20 if PROFILE == "long" else 1

settings.register_profile("ci", derandomize=True, deadline=None, database=None,
                          print_blob=True)
settings.register_profile("long", derandomize=False, deadline=None, max_examples=100 * SCALE,
                          print_blob=True)
settings.load_profile(PROFILE)


def examples(count: int) -> int:
    """`count` examples under the `ci` profile, 20 times as many under `long`."""
    return count * SCALE
