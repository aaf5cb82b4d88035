"""Adaptive concurrency limits: the in-flight bound learns from measured latency.

A fixed mailbox size is a guess. An `AdaptiveLimit` admits a call while fewer
than `limit` are in flight, and moves `limit` after each outcome with a
pluggable algorithm (`AimdLimit`, `GradientLimit`, after Netflix's
concurrency-limits), within `[min_limit, max_limit]`. Pure and thread-safe:
no threads, an injected clock, one short lock per outcome.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from actors.core import ConfigError, LibraryLogger, StanchionError, validate as check

_log = LibraryLogger("stanchion.bulkhead")


class LimitReached(StanchionError):
    """Refused at once: the service's adaptive in-flight limit is reached; run your fallback."""

    def __init__(self, name: str, limit: int) -> None:
        super().__init__(f"adaptive limit {name!r} reached ({limit} calls in flight); "
                         "the call was not started: run your fallback")
        self.name = name
        self.limit = limit


@runtime_checkable
class LimitAlgorithm(Protocol):
    """How the limit moves: `update(limit, rtt, in_flight, dropped) -> new limit` (unclamped).

    `rtt` is the call's seconds (ignored when `dropped`); `dropped` means it
    timed out or was refused downstream. Called under the limit's lock.
    """

    name: str

    def update(self, limit: float, rtt: float, in_flight: int, dropped: bool) -> float: ...


@dataclass(slots=True)
class AimdLimit:
    """Additive increase, multiplicative decrease (TCP-style).

    A success slower than `latency_threshold`, or a drop, multiplies the limit
    by `backoff_ratio`; a fast success while at least half the limit is in use
    adds `increase / limit` (about +`increase` per limit's worth of calls).

    Example:
        >>> aimd = AimdLimit(latency_threshold=0.1)
        >>> aimd.update(10.0, 0.01, 8, False), aimd.update(10.0, 0.5, 8, False)
        (10.1, 9.0)
    """

    latency_threshold: float = 0.1
    backoff_ratio: float = 0.9
    increase: float = 1.0
    name: str = "aimd"

    def __post_init__(self) -> None:
        check.name("name", self.name)
        check.seconds("latency_threshold", self.latency_threshold)
        check.number("backoff_ratio", self.backoff_ratio, minimum=0.5, maximum=1.0)
        if self.backoff_ratio == 1.0:
            raise ConfigError("backoff_ratio", self.backoff_ratio,
                              "a fraction in [0.5, 1): 1 would never decrease")
        check.number("increase", self.increase, minimum=0.0, exclusive_minimum=True,
                     maximum=1000.0)

    def update(self, limit: float, rtt: float, in_flight: int, dropped: bool) -> float:
        if dropped or rtt > self.latency_threshold:
            return limit * self.backoff_ratio
        if in_flight * 2 >= limit:
            return limit + self.increase / limit
        return limit


@dataclass(slots=True)
class GradientLimit:
    """The latency gradient (Netflix Gradient2): shrink while latency rises above its trend.

    Keeps a long-term average RTT (`long_window` samples) and a short one
    (`short_window`); gradient = clamp(tolerance * long / short, 0.5, 1);
    new = limit * gradient + sqrt(limit) (headroom), smoothed by `smoothing`.
    When latency jumps, the short average leaves the long one behind and the
    limit halves step by step; as the long average catches up, it grows again
    by its headroom only. A drop counts as a gradient of 0.5. The long
    average rises over `long_window` samples but falls over `short_window`:
    it follows the least-queued latency, so a steady overload does not teach
    it that a long queue is normal.

    Example:
        >>> gradient, limit = GradientLimit(), 20.0
        >>> for _ in range(50):  # steady latency, the limit in use: it grows by its headroom
        ...     limit = gradient.update(limit, 0.002, int(limit), False)
        >>> round(limit)
        89
        >>> for _ in range(20):  # latency x10: it shrinks
        ...     limit = gradient.update(limit, 0.02, int(limit), False)
        >>> round(limit)
        23
    """

    tolerance: float = 1.5
    smoothing: float = 0.2
    long_window: int = 600
    short_window: int = 10
    name: str = "gradient"
    _long: float = field(default=0.0, init=False, repr=False)
    _short: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        check.name("name", self.name)
        check.number("tolerance", self.tolerance, minimum=1.0, maximum=10.0)
        check.number("smoothing", self.smoothing, minimum=0.0, exclusive_minimum=True,
                     maximum=1.0)
        check.integer("long_window", self.long_window, minimum=2, maximum=1_000_000)
        check.integer("short_window", self.short_window, minimum=1, maximum=self.long_window)

    def update(self, limit: float, rtt: float, in_flight: int, dropped: bool) -> float:
        if dropped:
            gradient = 0.5
        else:
            if self._long == 0.0:
                self._long = self._short = rtt
            self._short += (rtt - self._short) / self.short_window
            # The baseline rises slowly and falls fast: it tracks the latency with
            # the least queueing, so steady overload cannot teach it that a long
            # queue is normal (Gradient2's drift).
            window = self.long_window if rtt > self._long else self.short_window
            self._long += (rtt - self._long) / window
            short = self._short  # 0.0 after only zero RTTs (a coarse clock): no queueing
            gradient = max(0.5, min(1.0, self.tolerance * self._long / short)) if short else 1.0
        target = limit * gradient + math.sqrt(limit)
        if not dropped and in_flight * 2 < limit and target > limit:
            return limit  # not using the limit we have: no evidence to grow it
        return limit * (1.0 - self.smoothing) + target * self.smoothing


@dataclass(slots=True)
class FixedLimit:
    """A limit that never moves (the baseline to compare with)."""

    name: str = "fixed"

    def __post_init__(self) -> None:
        check.name("name", self.name)

    def update(self, limit: float, rtt: float, in_flight: int, dropped: bool) -> float:
        return limit


@dataclass(frozen=True, slots=True)
class AdaptiveLimitConfig:
    """The bounds and the algorithm of an `AdaptiveLimit`.

    Args:
        initial_limit: calls in flight allowed at start; default 20.
        min_limit: the floor (>= 1); default 2: one queued call keeps the
            service busy while another is served.
        max_limit: the ceiling (<= 1,000,000); default 1000.
        algorithm: an `AimdLimit`, `GradientLimit` or `FixedLimit` (or any
            `LimitAlgorithm`); default a `GradientLimit()`. Each `AdaptiveLimit`
            works on its own copy, so one config can serve many limits.

    Example:
        >>> AdaptiveLimitConfig(min_limit=10, max_limit=5)  # doctest: +NORMALIZE_WHITESPACE
        Traceback (most recent call last):
        ...
        actors.ConfigError: max_limit=5 is invalid: expected an integer from min_limit (10)
        to 1,000,000
    """

    initial_limit: int = 20
    min_limit: int = 2
    max_limit: int = 1000
    algorithm: LimitAlgorithm | None = None

    def __post_init__(self) -> None:
        check.integer("min_limit", self.min_limit, minimum=1, maximum=1_000_000)
        try:
            check.integer("max_limit", self.max_limit, minimum=self.min_limit,
                          maximum=1_000_000)
        except ConfigError:
            raise ConfigError("max_limit", self.max_limit,
                              f"an integer from min_limit ({self.min_limit}) to "
                              "1,000,000") from None
        try:
            check.integer("initial_limit", self.initial_limit, minimum=self.min_limit,
                          maximum=self.max_limit)
        except ConfigError:
            raise ConfigError("initial_limit", self.initial_limit,
                              f"an integer from min_limit ({self.min_limit}) to max_limit "
                              f"({self.max_limit})") from None
        if self.algorithm is not None and not isinstance(self.algorithm, LimitAlgorithm):
            raise ConfigError("algorithm", self.algorithm,
                              "an AimdLimit, GradientLimit, FixedLimit, or None")


@dataclass(frozen=True, slots=True)
class AdaptiveLimitMetrics:
    """An adaptive limit now: `limit`, `in_flight`, and its outcomes since the start."""

    name: str
    algorithm: str
    limit: int
    in_flight: int
    min_limit: int
    max_limit: int
    accepted: int
    rejected: int
    dropped: int
    succeeded: int


class Permit:
    """One admitted call; hand it back once: `on_success`, `on_dropped` or `release`."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = False


class AdaptiveLimit:
    """Admits calls while fewer than `limit` are in flight; the limit follows latency.

    Share one between every caller of a service to bound the service's
    in-flight work, or give one to a single `ServiceCaller` (`limit=`).

    Example:
        >>> limit = AdaptiveLimit("payment", AdaptiveLimitConfig(
        ...     initial_limit=2, min_limit=1, max_limit=4,
        ...     algorithm=AimdLimit(latency_threshold=0.1)))
        >>> first, second = limit.try_acquire(), limit.try_acquire()
        >>> limit.try_acquire() is None
        True
        >>> limit.on_success(first, 0.5)  # slow: the limit shrinks
        >>> limit.release(second)
        >>> limit.metrics().limit, limit.metrics().in_flight
        (1, 0)
    """

    def __init__(self, name: str, config: AdaptiveLimitConfig | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        check.name("name", name)
        config = config if config is not None else AdaptiveLimitConfig()
        check.instance("config", config, AdaptiveLimitConfig, "an AdaptiveLimitConfig, or None")
        check.callable_("clock", clock, "a function returning monotonic seconds")
        self.name = name
        self.config = config
        self.clock = clock
        self.algorithm: LimitAlgorithm = (copy.copy(config.algorithm)
                                          if config.algorithm is not None else GradientLimit())
        self._lock = threading.Lock()
        self._estimate = float(config.initial_limit)
        self._limit = config.initial_limit
        self._logged = config.initial_limit
        self._in_flight = 0
        self._accepted = self._rejected = self._dropped = self._succeeded = 0

    @property
    def limit(self) -> int:
        """Calls allowed in flight now."""
        return self._limit

    def try_acquire(self) -> Permit | None:
        """A permit if fewer than `limit` calls are in flight, else `None` (refused)."""
        with self._lock:
            if self._in_flight >= self._limit:
                self._rejected += 1
                return None
            self._in_flight += 1
            self._accepted += 1
        return Permit()

    def on_success(self, permit: Permit, rtt: float) -> None:
        """The call answered after `rtt` seconds (finite, >= 0; else the permit is
        released, nothing is learned, and `ConfigError` is raised)."""
        if rtt.__class__ is not float or not 0.0 <= rtt < math.inf:  # NaN would poison averages
            try:
                check.seconds("rtt", rtt, allow_zero=True, maximum=None)
            except ConfigError:
                self.release(permit)
                raise
        self._finish(permit, rtt, dropped=False)

    def on_dropped(self, permit: Permit) -> None:
        """The call timed out or was refused downstream: a sign of overload."""
        self._finish(permit, 0.0, dropped=True)

    def release(self, permit: Permit) -> None:
        """The call ended without telling anything about load (e.g. the handler raised)."""
        if permit.done:
            return
        permit.done = True
        with self._lock:
            self._in_flight -= 1

    def _finish(self, permit: Permit, rtt: float, *, dropped: bool) -> None:
        if permit.done:
            return
        permit.done = True
        config = self.config
        with self._lock:
            in_flight = self._in_flight
            self._in_flight -= 1
            if dropped:
                self._dropped += 1
            else:
                self._succeeded += 1
            estimate = self.algorithm.update(self._estimate, rtt, in_flight, dropped)
            if not math.isfinite(estimate):
                estimate = self._estimate  # a broken algorithm must not break admission
            estimate = min(float(config.max_limit), max(float(config.min_limit), estimate))
            self._estimate = estimate
            self._limit = int(estimate)
            limit, logged = self._limit, self._logged
            changed = abs(limit - logged) * 4 >= max(logged, 4)
            if changed:
                self._logged = limit
        if changed:
            _log.info("bulkhead.limit_changed", limit_name=self.name,
                      algorithm=self.algorithm.name, limit=limit, previous=logged,
                      rtt_ms=round(rtt * 1000, 3), dropped=dropped)

    def metrics(self) -> AdaptiveLimitMetrics:
        """The current limit, calls in flight, and the counts since the start."""
        config = self.config
        with self._lock:
            return AdaptiveLimitMetrics(self.name, self.algorithm.name, self._limit,
                                        self._in_flight, config.min_limit, config.max_limit,
                                        self._accepted, self._rejected, self._dropped,
                                        self._succeeded)
