"""Sliding windows of call outcomes, with running totals: O(1) to record and to read.

Both keep `calls`, `failures` and `slow` as plain attributes so the breaker
reads them under its lock without building an object per call.
"""

from __future__ import annotations

from dataclasses import dataclass

from actors.breaker._config import MAX_COUNT_WINDOW, MAX_TIME_WINDOW
from actors.core import validate as check


@dataclass(frozen=True, slots=True)
class WindowTotals:
    """Calls, failures and slow calls currently in a window."""

    calls: int
    failures: int
    slow: int

    @property
    def failure_rate(self) -> float:
        """Percent of calls that failed (0 with no calls)."""
        return 100.0 * self.failures / self.calls if self.calls else 0.0

    @property
    def slow_rate(self) -> float:
        """Percent of calls that were slow (0 with no calls)."""
        return 100.0 * self.slow / self.calls if self.calls else 0.0


class CountWindow:
    """The last `size` calls, in a ring buffer.

    Example:
        >>> window = CountWindow(3)
        >>> for failed in (True, False, True, False):
        ...     window.record(failed=failed, slow=False, now=0.0)
        >>> window.totals(0.0)
        WindowTotals(calls=3, failures=1, slow=0)
    """

    __slots__ = ("_next", "_ring", "_size", "calls", "failures", "slow")

    def __init__(self, size: int) -> None:
        self._size = check.integer("size", size, minimum=1, maximum=MAX_COUNT_WINDOW)
        self._ring = bytearray(size)  # per call: bit 0 failed, bit 1 slow
        self._next = 0
        self.calls = self.failures = self.slow = 0

    def record(self, *, failed: bool, slow: bool, now: float) -> None:
        """Add one call, evicting the oldest when full (`now` is unused)."""
        index = self._next
        if self.calls == self._size:
            old = self._ring[index]
            self.failures -= old & 1
            self.slow -= old >> 1
        else:
            self.calls += 1
        self._ring[index] = failed | (slow << 1)
        self.failures += failed
        self.slow += slow
        index += 1
        self._next = 0 if index == self._size else index

    def advance(self, now: float) -> None:
        """Nothing to evict by time in a count window."""

    def totals(self, now: float) -> WindowTotals:
        """What the window holds."""
        return WindowTotals(self.calls, self.failures, self.slow)

    def reset(self) -> None:
        """Forget every call."""
        self._ring = bytearray(self._size)
        self._next = 0
        self.calls = self.failures = self.slow = 0


class TimeWindow:
    """The calls of the last `seconds` seconds, in one-second buckets.

    Totals are kept running: moving to a new second evicts the buckets that
    fell out of the window, so neither recording nor reading sums the buckets.

    Example:
        >>> window = TimeWindow(10)
        >>> window.record(failed=True, slow=False, now=100.2)
        >>> window.record(failed=False, slow=True, now=104.9)
        >>> window.totals(105.0), window.totals(110.5)
        (WindowTotals(calls=2, failures=1, slow=1), WindowTotals(calls=1, failures=0, slow=1))
    """

    __slots__ = ("_bucket_calls", "_bucket_failures", "_bucket_slow", "_head", "_seconds",
                 "calls", "failures", "slow")

    def __init__(self, seconds: int) -> None:
        self._seconds = check.integer("seconds", seconds, minimum=1, maximum=MAX_TIME_WINDOW)
        self._bucket_calls = [0] * seconds
        self._bucket_failures = [0] * seconds
        self._bucket_slow = [0] * seconds
        self._head: int | None = None  # the newest second the buckets describe
        self.calls = self.failures = self.slow = 0

    def advance(self, now: float) -> None:
        """Evict the buckets older than `seconds` before `now`."""
        second = int(now)
        head = self._head
        if head is None:
            self._head = second
            return
        if second <= head:
            return  # same second, or a clock that stepped back: keep the newer view
        if second - head >= self._seconds:
            self._clear()
        else:
            size = self._seconds
            calls, failures, slow = self._bucket_calls, self._bucket_failures, self._bucket_slow
            for moved in range(head + 1, second + 1):
                index = moved % size
                self.calls -= calls[index]
                self.failures -= failures[index]
                self.slow -= slow[index]
                calls[index] = failures[index] = slow[index] = 0
        self._head = second

    def record(self, *, failed: bool, slow: bool, now: float) -> None:
        """Add one call at time `now` (seconds)."""
        self.advance(now)
        assert self._head is not None
        index = self._head % self._seconds
        self._bucket_calls[index] += 1
        self._bucket_failures[index] += failed
        self._bucket_slow[index] += slow
        self.calls += 1
        self.failures += failed
        self.slow += slow

    def totals(self, now: float) -> WindowTotals:
        """The calls recorded within the last `seconds` seconds of `now`."""
        self.advance(now)
        return WindowTotals(self.calls, self.failures, self.slow)

    def reset(self) -> None:
        """Forget every call."""
        self._clear()
        self._head = None

    def _clear(self) -> None:
        self._bucket_calls = [0] * self._seconds
        self._bucket_failures = [0] * self._seconds
        self._bucket_slow = [0] * self._seconds
        self.calls = self.failures = self.slow = 0
