"""The front door: a token bucket that refuses excess requests before any service is touched."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from actors.core import LibraryLogger, validate as check
from actors.ratelimit import RateLimited, TokenBucket

_log = LibraryLogger("stanchion.bulkhead")


@dataclass(frozen=True, slots=True)
class IngressMetrics:
    """Requests admitted and refused at the front door."""

    limiter: str
    admitted: int
    rejected: int

    @property
    def offered(self) -> int:
        """Every request that knocked."""
        return self.admitted + self.rejected


class Ingress:
    """Applies a `TokenBucket` to incoming requests: `admit()` or `RateLimited`, at once.

    Call `admit()` first thing for each request, before any service is asked:
    a refused request costs nothing downstream. Each refusal is logged as
    `ingress.rejected` with the limiter, the reason and `retry_after_s`, plus
    the correlation ids bound in the caller's context.

    Example:
        >>> from actors.ratelimit import RateLimited, TokenBucket
        >>> gate = Ingress(TokenBucket(1, 2, name="orders", clock=lambda: 0.0))
        >>> gate.admit(); gate.admit()
        >>> try:
        ...     gate.admit()
        ... except RateLimited as error:
        ...     print(error)  # doctest: +NORMALIZE_WHITESPACE
        rate limit 'orders' reached: retry after 1.000s, or run your fallback
        (the request was not started)
        >>> gate.metrics()
        IngressMetrics(limiter='orders', admitted=2, rejected=1)
    """

    def __init__(self, limiter: TokenBucket) -> None:
        check.instance("limiter", limiter, TokenBucket, "an actors.ratelimit.TokenBucket")
        self.limiter = limiter
        self._lock = threading.Lock()
        self._admitted = 0
        self._rejected = 0

    def admit(self, n: int = 1) -> None:
        """Let the request in (taking `n` tokens), or raise `RateLimited` with `retry_after`."""
        try:
            self.limiter.acquire_or_raise(n)
        except RateLimited as exc:
            with self._lock:
                self._rejected += 1
            _log.info("ingress.rejected", limiter=exc.limiter, reason="rate_limited",
                      retry_after_s=round(exc.retry_after, 6))
            raise
        with self._lock:
            self._admitted += 1

    def metrics(self) -> IngressMetrics:
        """Admitted and refused so far."""
        with self._lock:
            return IngressMetrics(self.limiter.name, self._admitted, self._rejected)

    counts = metrics  # the name before issue #12; every pattern now has metrics()
