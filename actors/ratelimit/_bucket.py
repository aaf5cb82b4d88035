"""A token bucket: a steady rate with bursts, thread-safe, with an injected clock."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from actors._errors import StanchionError, require


class RateLimited(StanchionError):
    """The rate limiter refused a call; try again after `retry_after` seconds."""

    def __init__(self, limiter: str, retry_after: float) -> None:
        self.limiter = limiter
        self.retry_after = retry_after
        super().__init__(f"rate limit {limiter!r} reached: retry after {retry_after:.3f}s, "
                         "or run your fallback (the request was not started)")

    def __reduce__(self) -> tuple[type[RateLimited], tuple[str, float]]:
        return (RateLimited, (self.limiter, self.retry_after))


class TokenBucket:
    """`rate_per_second` tokens flow in, up to `burst` saved; each call takes some.

    Never blocks: `try_acquire` answers at once, `wait_time` says how long until
    enough tokens would be there.

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
        require(isinstance(rate_per_second, int | float) and not isinstance(rate_per_second, bool)
                and math.isfinite(rate_per_second) and rate_per_second > 0,
                "rate_per_second", rate_per_second, "a finite number > 0")
        require(isinstance(burst, int) and not isinstance(burst, bool) and burst >= 1,
                "burst", burst, "an integer >= 1")
        self.rate = float(rate_per_second)
        self.burst = burst
        self.name = name
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()
        self._lock = threading.Lock()
        self.granted = 0
        self.refused = 0

    def _refill(self) -> None:
        now = self._clock()
        if now > self._stamp:
            self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
        self._stamp = max(self._stamp, now)

    def _check(self, n: int) -> None:
        require(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= self.burst, "n", n,
                f"an integer from 1 to burst ({self.burst})")

    def try_acquire(self, n: int = 1) -> bool:
        """Take `n` tokens if there are enough; `False` (and nothing taken) if not."""
        self._check(n)
        with self._lock:
            self._refill()
            if self._tokens >= n:
                self._tokens -= n
                self.granted += 1
                return True
            self.refused += 1
            return False

    def acquire_or_raise(self, n: int = 1) -> None:
        """Take `n` tokens, or raise `RateLimited` with when to come back."""
        if not self.try_acquire(n):
            raise RateLimited(self.name, self.wait_time(n))

    def wait_time(self, n: int = 1) -> float:
        """Seconds until `n` tokens would be available (0 if they are now)."""
        self._check(n)
        with self._lock:
            self._refill()
            return max(0.0, (n - self._tokens) / self.rate)

    def available(self) -> float:
        """Tokens in the bucket now."""
        with self._lock:
            self._refill()
            return self._tokens
