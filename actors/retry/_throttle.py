"""Retry throttling with gRPC's token semantics, shareable between processes in batches.

A token count starts at `max_tokens`; every failed call takes one token,
every successful call gives back `token_ratio`; retries are allowed only
while more than half the tokens are left. When a dependency fails for
everyone, retries stop after about `max_tokens / 2` failures, and resume as
successes refill the count.

`RetryThrottle` is the pure core: thread-safe, no I/O. For several processes,
its local changes are taken in batches (`take_delta`) and the count agreed by
all is put back (`set_shared`): see `actors.backends.redis.RedisRetryThrottle`.
The call path never waits for anything but a short lock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from actors.core import validate as check


@dataclass(frozen=True, slots=True)
class RetryThrottleConfig:
    """gRPC's `retryThrottling`: `max_tokens` (0 < x <= 1000) and `token_ratio` (0 < x <= 1).

    Example:
        >>> RetryThrottleConfig(max_tokens=0)  # doctest: +NORMALIZE_WHITESPACE
        Traceback (most recent call last):
        ...
        actors.ConfigError: max_tokens=0 is invalid: expected a finite number > 0 and <= 1000
    """

    max_tokens: float = 10.0
    token_ratio: float = 0.1

    def __post_init__(self) -> None:
        check.number("max_tokens", self.max_tokens, minimum=0.0, exclusive_minimum=True,
                     maximum=1000.0)
        check.number("token_ratio", self.token_ratio, minimum=0.0, exclusive_minimum=True,
                     maximum=1.0)


@dataclass(frozen=True, slots=True)
class RetryThrottleMetrics:
    """The token count as this process sees it, and what it allowed and refused."""

    tokens: float
    max_tokens: float
    retries_allowed: int
    retries_refused: int
    successes: int
    failures: int
    pending_delta: float


class RetryThrottle:
    """Allows retries while more than half of `max_tokens` are left (gRPC retry throttling).

    Example:
        >>> throttle = RetryThrottle(RetryThrottleConfig(max_tokens=4, token_ratio=0.5))
        >>> for _ in range(2):
        ...     throttle.record_failure()
        >>> throttle.allow_retry()  # 2 tokens left: not more than half
        False
        >>> throttle.record_success(); throttle.allow_retry()
        True
    """

    def __init__(self, config: RetryThrottleConfig | None = None) -> None:
        config = config if config is not None else RetryThrottleConfig()
        check.instance("config", config, RetryThrottleConfig, "a RetryThrottleConfig, or None")
        self.config = config
        self._lock = threading.Lock()
        self._shared = config.max_tokens  # the count last agreed with the others
        self._delta = 0.0  # local changes not yet sent
        self._allowed = self._refused = self._successes = self._failures = 0

    def _tokens(self) -> float:
        return min(self.config.max_tokens, max(0.0, self._shared + self._delta))

    def record_success(self) -> None:
        """A call succeeded: give back `token_ratio` tokens."""
        with self._lock:
            self._successes += 1
            if self._tokens() < self.config.max_tokens:
                self._delta += self.config.token_ratio

    def record_failure(self) -> None:
        """A call failed (worth a retry): take one token."""
        with self._lock:
            self._failures += 1
            if self._tokens() > 0.0:
                self._delta -= 1.0

    def allow_retry(self) -> bool:
        """Whether a retry may be sent now (more than half the tokens left)."""
        with self._lock:
            allowed = self._tokens() > self.config.max_tokens / 2
            if allowed:
                self._allowed += 1
            else:
                self._refused += 1
            return allowed

    def take_delta(self) -> float:
        """The local change since the last call, handed to the transport (then zero)."""
        with self._lock:
            delta, self._delta = self._delta, 0.0
            return delta

    def give_back(self, delta: float) -> None:
        """A batch the transport could not send: kept for the next one (a finite number)."""
        check.number("delta", delta)
        with self._lock:
            self._delta += delta

    def set_shared(self, tokens: float) -> None:
        """The count agreed by every process after a batch (the local delta stays pending)."""
        if not check.is_finite_number(tokens):
            return
        with self._lock:
            self._shared = min(self.config.max_tokens, max(0.0, float(tokens)))

    def metrics(self) -> RetryThrottleMetrics:
        """The tokens as seen here, and the counts since the start."""
        with self._lock:
            return RetryThrottleMetrics(round(self._tokens(), 6), self.config.max_tokens,
                                        self._allowed, self._refused, self._successes,
                                        self._failures, round(self._delta, 6))
