"""Per-definition saga counters, kept outside the coordinator so they survive its restarts."""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass

#: Upper bounds (seconds) of the saga duration histogram's buckets; a last one is +Inf.
DURATION_BUCKETS_S: tuple[float, ...] = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                                         10.0, 30.0, 60.0, 300.0, 1800.0)


@dataclass(frozen=True, slots=True)
class SagaMetrics:
    """One saga definition's counters since the coordinator first started.

    `in_flight` counts sagas started or recovered and not yet ended.
    `duration_buckets[i]` counts ended sagas that took at most
    `DURATION_BUCKETS_S[i]` seconds (from creation to the end, cumulative;
    the last entry counts all); `duration_sum_s` is their total.
    """

    definition: str
    started: int
    completed: int
    compensated: int
    compensation_failed: int
    stuck: int
    in_flight: int
    duration_buckets: tuple[int, ...]
    duration_sum_s: float


class _Definition:
    __slots__ = ("buckets", "ended", "in_flight", "started", "stuck", "total_s")

    def __init__(self) -> None:
        self.started = 0
        self.stuck = 0
        self.ended: dict[str, int] = {}
        self.in_flight: set[str] = set()
        self.buckets = [0] * (len(DURATION_BUCKETS_S) + 1)
        self.total_s = 0.0


class SagaCounters:
    """Thread-safe counters the coordinator updates and `Sagas.metrics()` reads."""

    def __init__(self, definitions: list[str]) -> None:
        self._lock = threading.Lock()
        self._by_definition = {name: _Definition() for name in definitions}

    def started(self, definition: str, saga_id: str) -> None:
        """A saga was created."""
        with self._lock:
            counts = self._by_definition[definition]
            counts.started += 1
            counts.in_flight.add(saga_id)

    def resumed(self, definition: str, saga_id: str) -> None:
        """A saga was recovered from the log (or retried by an operator)."""
        with self._lock:
            self._by_definition[definition].in_flight.add(saga_id)

    def stuck(self, definition: str) -> None:
        """A step gave up and the saga waits for an operator."""
        with self._lock:
            self._by_definition[definition].stuck += 1

    def finished(self, definition: str, saga_id: str, status: str, duration_s: float) -> None:
        """A saga ended with `status` after `duration_s` seconds."""
        with self._lock:
            counts = self._by_definition[definition]
            counts.ended[status] = counts.ended.get(status, 0) + 1
            counts.in_flight.discard(saga_id)
            duration_s = max(0.0, duration_s)
            counts.buckets[bisect.bisect_left(DURATION_BUCKETS_S, duration_s)] += 1
            counts.total_s += duration_s

    def snapshot(self) -> dict[str, SagaMetrics]:
        """Every definition's counters now."""
        with self._lock:
            result = {}
            for name, counts in self._by_definition.items():
                cumulative, running = [], 0
                for count in counts.buckets:
                    running += count
                    cumulative.append(running)
                result[name] = SagaMetrics(
                    name, counts.started, counts.ended.get("completed", 0),
                    counts.ended.get("compensated", 0),
                    counts.ended.get("compensation_failed", 0), counts.stuck,
                    len(counts.in_flight), tuple(cumulative), counts.total_s)
            return result
