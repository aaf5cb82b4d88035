"""A retry budget: retries may add at most a set fraction on top of first attempts.

Backoff spaces out one caller's retries; it does nothing about how many
callers retry at once. When a dependency fails, every request becomes two,
three, five requests, and the retries keep it down (a retry storm). A budget
caps the total: over a sliding window, retries are allowed up to `ratio`
times the first attempts seen, plus a small floor so that a quiet service
can still retry at all (Finagle's `RetryBudget`, gRPC's retry throttling).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from actors.core import validate as check


@dataclass(frozen=True, slots=True)
class RetryBudgetConfig:
    """How many retries a budget allows.

    Args:
        ratio: retries allowed per first attempt over the window, from 0 to
            1000; default 0.2 (a fully failing dependency sees at most 1.2x the
            normal load, Finagle's default).
        window: seconds of history counted, finite, > 0; default 10.0.
        min_retries_per_second: the floor, allowed whatever the traffic, from
            0 to 1e9; default 1.0, so a rarely used path still retries once a second.
        buckets: how finely the window slides (its resolution is
            `window / buckets` seconds), an integer from 1 to 1000; default 10.

    Example:
        >>> RetryBudgetConfig().ratio
        0.2
        >>> RetryBudgetConfig(ratio=-1)
        Traceback (most recent call last):
        ...
        actors.ConfigError: ratio=-1 is invalid: expected a finite number of retries \
per first attempt >= 0 and <= 1000
    """

    ratio: float = 0.2
    window: float = 10.0
    min_retries_per_second: float = 1.0
    buckets: int = 10

    def __post_init__(self) -> None:
        check.number("ratio", self.ratio, minimum=0.0, maximum=1000.0,
                     unit="retries per first attempt")
        check.seconds("window", self.window)
        check.number("min_retries_per_second", self.min_retries_per_second, minimum=0.0,
                     maximum=1e9, unit="retries per second always allowed")
        check.integer("buckets", self.buckets, minimum=1, maximum=1000)


@dataclass(frozen=True, slots=True)
class RetryBudgetMetrics:
    """A budget at one instant: the window's counts, and the totals since the start.

    `available` is how many more retries the window allows now.
    """

    attempts: int
    retries: int
    available: int
    attempts_total: int
    retries_total: int
    denied_total: int


class RetryBudget:
    """Allows a retry only while retries stay within `ratio` of first attempts (plus a floor).

    Call `record_attempt()` for every first attempt and `try_spend_retry()`
    before every retry: `False` means skip this retry (fail, queue, or try
    much later). Thread-safe; the clock (monotonic seconds) is injected.

    Example:
        >>> now = [0.0]
        >>> budget = RetryBudget(RetryBudgetConfig(ratio=0.2, window=10.0,
        ...                                        min_retries_per_second=0.0),
        ...                      clock=lambda: now[0])
        >>> for _ in range(10):
        ...     budget.record_attempt()
        >>> [budget.try_spend_retry() for _ in range(3)]
        [True, True, False]
        >>> now[0] = 10.5  # the attempts slid out of the window
        >>> budget.try_spend_retry()
        False
        >>> budget.metrics().denied_total
        2
    """

    def __init__(self, config: RetryBudgetConfig | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        config = config if config is not None else RetryBudgetConfig()
        check.instance("config", config, RetryBudgetConfig, "a RetryBudgetConfig, or None")
        check.callable_("clock", clock, "a function returning monotonic seconds")
        self.config = config
        self._clock = clock
        self._width = config.window / config.buckets
        self._floor = config.min_retries_per_second * config.window
        self._lock = threading.Lock()
        self._attempts = [0] * config.buckets
        self._retries = [0] * config.buckets
        self._epoch = [-1] * config.buckets  # which bucket-period each slot holds
        self._attempts_total = self._retries_total = self._denied_total = 0

    def record_attempt(self) -> None:
        """Count one first attempt (each one earns `ratio` of a retry)."""
        with self._lock:
            slot = self._slot(self._clock())
            self._attempts[slot] += 1
            self._attempts_total += 1

    def try_spend_retry(self) -> bool:
        """Take one retry from the budget; `False` (and nothing taken) if it is spent."""
        with self._lock:
            slot = self._slot(self._clock())
            if self._available() < 1:
                self._denied_total += 1
                return False
            self._retries[slot] += 1
            self._retries_total += 1
            return True

    def metrics(self) -> RetryBudgetMetrics:
        """The window's attempts and retries, what is left, and the totals."""
        with self._lock:
            self._slot(self._clock())
            return RetryBudgetMetrics(
                attempts=sum(self._attempts), retries=sum(self._retries),
                available=max(0, math.floor(self._available())),
                attempts_total=self._attempts_total, retries_total=self._retries_total,
                denied_total=self._denied_total)

    def _available(self) -> float:
        allowed = self.config.ratio * sum(self._attempts) + self._floor
        return allowed - sum(self._retries)

    def _slot(self, now: float) -> int:
        """The slot for `now`, after clearing every slot that slid out of the window."""
        period = math.floor(now / self._width)
        buckets = self.config.buckets
        slot = period % buckets
        epochs = self._epoch
        if epochs[slot] != period:
            oldest = period - buckets + 1
            for index in range(buckets):
                if epochs[index] < oldest or epochs[index] > period:
                    epochs[index] = -1
                    self._attempts[index] = self._retries[index] = 0
            epochs[slot] = period
        return slot

    def __repr__(self) -> str:
        return f"<RetryBudget ratio={self.config.ratio:g} window={self.config.window:g}s>"

