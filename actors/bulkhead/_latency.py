"""Latency samples over a sliding window, with percentiles, snapshotted per phase."""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass

from actors.core import validate as check


@dataclass(frozen=True, slots=True)
class LatencySnapshot:
    """Percentiles of the samples in the window at one moment (milliseconds).

    The percentiles are `None` when there were no samples.
    """

    count: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None


def _nearest_rank(ordered: list[float], p: float) -> float:
    rank = math.ceil(p / 100 * len(ordered))
    return ordered[min(len(ordered), max(1, rank)) - 1]


#: The most samples a recorder keeps (each costs a float; sorting ten million takes seconds).
MAX_SAMPLES = 10_000_000


class LatencyRecorder:
    """The last `capacity` latencies (seconds): percentiles, `snapshot()`, and `reset()` per phase.

    Measure phases separately ("p99 before the slowdown", "p99 during it"):
    `reset()` returns the snapshot of the phase that ended and starts an empty one.

    Example:
        >>> rec = LatencyRecorder()
        >>> for ms in range(1, 101):
        ...     rec.record(ms / 1000)
        >>> rec.percentile(50), rec.percentile(99)
        (0.05, 0.099)
        >>> rec.reset()
        LatencySnapshot(count=100, p50_ms=50.0, p99_ms=99.0, max_ms=100.0)
        >>> rec.snapshot()
        LatencySnapshot(count=0, p50_ms=None, p99_ms=None, max_ms=None)
    """

    def __init__(self, capacity: int = 10_000) -> None:
        check.integer("capacity", capacity, minimum=1, maximum=MAX_SAMPLES)
        self.capacity = capacity
        self._samples: deque[float] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def record(self, seconds: float) -> None:
        """Add one latency; the oldest falls out of a full window."""
        with self._lock:
            self._samples.append(seconds)

    def percentile(self, p: float) -> float | None:
        """The p-th percentile (nearest rank, seconds) of the window, or None with no samples."""
        check.number("p", p, minimum=0.0, maximum=100.0, unit="percent")
        with self._lock:
            ordered = sorted(self._samples)
        return _nearest_rank(ordered, p) if ordered else None

    def count(self) -> int:
        """Samples in the window."""
        with self._lock:
            return len(self._samples)

    def snapshot(self) -> LatencySnapshot:
        """Count, p50, p99 and max of the window now, in milliseconds."""
        with self._lock:
            ordered = sorted(self._samples)
        return _snapshot(ordered)

    def reset(self) -> LatencySnapshot:
        """Empty the window; return the snapshot of what it held (the phase that ended)."""
        with self._lock:
            ordered = sorted(self._samples)
            self._samples.clear()
        return _snapshot(ordered)


def _snapshot(ordered: list[float]) -> LatencySnapshot:
    if not ordered:
        return LatencySnapshot(0, None, None, None)
    return LatencySnapshot(len(ordered), _ms(_nearest_rank(ordered, 50)),
                           _ms(_nearest_rank(ordered, 99)), _ms(ordered[-1]))


def _ms(seconds: float) -> float:
    # Rounded to nanoseconds so that figures print as measured, without float noise.
    return round(seconds * 1000, 6)
