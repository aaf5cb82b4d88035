"""Latency samples per phase, with percentiles."""

from __future__ import annotations

import math
import threading


class LatencyRecorder:
    """The last `capacity` latencies (seconds): percentiles, and `reset()` to start a phase.

    Example:
        >>> rec = LatencyRecorder()
        >>> for ms in range(1, 101):
        ...     rec.record(ms / 1000)
        >>> rec.percentile(50), rec.percentile(99)
        (0.05, 0.099)
    """

    def __init__(self, capacity: int = 100_000) -> None:
        self._samples: list[float] = []
        self._capacity = capacity
        self._lock = threading.Lock()

    def record(self, seconds: float) -> None:
        with self._lock:
            if len(self._samples) >= self._capacity:
                del self._samples[: self._capacity // 10]
            self._samples.append(seconds)

    def percentile(self, p: float) -> float | None:
        """The p-th percentile (nearest rank) of the samples, or None with no samples."""
        with self._lock:
            ordered = sorted(self._samples)
        if not ordered:
            return None
        rank = math.ceil(p / 100 * len(ordered))
        return ordered[min(len(ordered), max(1, rank)) - 1]

    def count(self) -> int:
        with self._lock:
            return len(self._samples)

    def reset(self) -> None:
        with self._lock:
            self._samples.clear()
