"""A token bucket: a steady rate with bursts, thread-safe, with an injected clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from actors.core import ConfigError, StanchionError, validate as check


class RateLimited(StanchionError):
    """The rate limiter refused a call; try again after `retry_after` seconds.

    Nothing was started: the refusal happens before any service is touched.

    Example:
        >>> error = RateLimited("checkout", 0.25)
        >>> error.limiter, error.retry_after
        ('checkout', 0.25)
        >>> print(error)  # doctest: +NORMALIZE_WHITESPACE
        rate limit 'checkout' reached: retry after 0.250s, or run your fallback
        (the request was not started)
    """

    def __init__(self, limiter: str, retry_after: float) -> None:
        self.limiter = limiter
        self.retry_after = retry_after
        super().__init__(f"rate limit {limiter!r} reached: retry after {retry_after:.3f}s, "
                         "or run your fallback (the request was not started)")

    def __reduce__(self) -> tuple[type[RateLimited], tuple[str, float]]:
        return (RateLimited, (self.limiter, self.retry_after))


#: The highest rate and burst a bucket takes: beyond, it limits nothing.
MAX_RATE = 1e9


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    """A token bucket's settings, validated at construction.

    Args:
        rate_per_second: tokens added per second (the steady rate), a finite
            number > 0 and at most 1e9.
        burst: the most tokens saved up while idle (the largest burst), an
            integer from 1 to 1e9. The bucket starts full.
        name: names the limiter in `RateLimited` errors and log events (see
            `actors.core._validate.name`: printable, at most 200 characters).

    Example:
        >>> RateLimitConfig(100, 20, name="checkout").burst
        20
        >>> RateLimitConfig(0, 1)
        Traceback (most recent call last):
        ...
        actors.ConfigError: rate_per_second=0 is invalid: expected a finite number \
of tokens per second > 0 and <= 1000000000
    """

    rate_per_second: float
    burst: int
    name: str = "ingress"

    def __post_init__(self) -> None:
        check.number("rate_per_second", self.rate_per_second, minimum=0.0,
                     exclusive_minimum=True, maximum=MAX_RATE, unit="tokens per second")
        check.integer("burst", self.burst, minimum=1, maximum=int(MAX_RATE))
        check.name("name", self.name)


@dataclass(frozen=True, slots=True)
class RateLimitMetrics:
    """A bucket's answers so far, and the tokens in it at that instant."""

    limiter: str
    granted: int
    refused: int
    tokens: float


class TokenBucket:
    """`rate_per_second` tokens flow in, up to `burst` saved; each call takes some.

    Never blocks: `try_acquire` answers at once, `wait_time` says how long until
    enough tokens would be there, `acquire_or_raise` raises `RateLimited` with
    that wait. Thread-safe: concurrent callers never get more tokens than there
    are. A clock that goes backwards adds nothing.

    Example:
        >>> now = [0.0]
        >>> bucket = TokenBucket(10, 2, clock=lambda: now[0])
        >>> [bucket.try_acquire() for _ in range(3)]
        [True, True, False]
        >>> round(bucket.wait_time(), 3)
        0.1
        >>> now[0] = 0.1
        >>> bucket.try_acquire()
        True
    """

    def __init__(self, rate_per_second: float, burst: int, *, name: str = "ingress",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = RateLimitConfig(rate_per_second, burst, name)
        check.callable_("clock", clock, "a function returning monotonic seconds")
        self.rate = float(rate_per_second)
        self.burst = burst
        self.name = name
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()
        self._lock = threading.Lock()
        self.granted = 0
        """Calls that got their tokens."""
        self.refused = 0
        """Calls refused for want of tokens."""

    @classmethod
    def from_config(cls, config: RateLimitConfig, *,
                    clock: Callable[[], float] = time.monotonic) -> TokenBucket:
        """A bucket with `config`'s settings."""
        check.instance("config", config, RateLimitConfig, "an actors.ratelimit.RateLimitConfig")
        return cls(config.rate_per_second, config.burst, name=config.name, clock=clock)

    def _refill(self) -> None:
        now = self._clock()
        if now > self._stamp:
            self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now

    def _check(self, n: int) -> None:
        try:
            check.integer("n", n, minimum=1, maximum=self.burst)
        except ConfigError:
            raise ConfigError("n", n, f"an integer from 1 to burst ({self.burst}): a request "
                              "larger than the burst could never be granted") from None

    def _take(self, n: int) -> float:
        """Take `n` tokens and return 0, or take nothing and return the wait."""
        if n.__class__ is not int or not 1 <= n <= self.burst:  # the hot path skips the call
            self._check(n)
        with self._lock:
            self._refill()
            if self._tokens >= n:
                self._tokens -= n
                self.granted += 1
                return 0.0
            self.refused += 1
            return (n - self._tokens) / self.rate

    def try_acquire(self, n: int = 1) -> bool:
        """Take `n` tokens if there are enough; `False` (and nothing taken) if not."""
        return self._take(n) == 0.0

    def acquire_or_raise(self, n: int = 1) -> None:
        """Take `n` tokens, or raise `RateLimited` saying when to come back."""
        wait = self._take(n)
        if wait > 0.0:
            raise RateLimited(self.name, wait)

    def wait_time(self, n: int = 1) -> float:
        """Seconds until `n` tokens would be available (0 if they are now); takes nothing."""
        self._check(n)
        with self._lock:
            self._refill()
            return max(0.0, (n - self._tokens) / self.rate)

    def available(self) -> float:
        """Tokens in the bucket now."""
        with self._lock:
            self._refill()
            return self._tokens

    def metrics(self) -> RateLimitMetrics:
        """Calls granted and refused so far, and the tokens there are now.

        Example:
            >>> bucket = TokenBucket(10, 2, name="sms", clock=lambda: 0.0)
            >>> [bucket.try_acquire() for _ in range(3)]
            [True, True, False]
            >>> bucket.metrics()
            RateLimitMetrics(limiter='sms', granted=2, refused=1, tokens=0.0)
        """
        with self._lock:
            self._refill()
            return RateLimitMetrics(self.name, self.granted, self.refused, self._tokens)
