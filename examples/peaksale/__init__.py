"""The peak-sale story that `demo.py` tells: every pattern, the way users meet them first.

Bulkheaded services, the SMS path behind a circuit breaker, checkouts as sagas,
events on the bus and profile updates through the durable task queue, run
phase by phase, with every figure of the summary measured. See docs/demo.md.
"""

from examples.peaksale._run import run_story
from examples.peaksale._snapshot import snapshot
from examples.peaksale._story import SCENARIOS, Story, StoryConfig

__all__ = ["SCENARIOS", "Story", "StoryConfig", "run_story", "snapshot"]
