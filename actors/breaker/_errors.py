"""The breaker's error: a call refused without being attempted."""

from __future__ import annotations

from actors.core import StanchionError


class CircuitOpen(StanchionError):
    """A circuit breaker refused the call without attempting it.

    The breaker judged the downstream unhealthy (or an operator forced it open).
    Nothing was sent and nothing was queued. Run your fallback (defer the work,
    use another provider) and try again after `retry_after` seconds.

    Example:
        >>> error = CircuitOpen("sms", 4.5)
        >>> error.breaker, error.retry_after
        ('sms', 4.5)
        >>> print(error)  # doctest: +NORMALIZE_WHITESPACE
        circuit breaker 'sms' is open: the call was not attempted;
        run a fallback or retry after 4.5s
    """

    def __init__(self, breaker: str, retry_after: float, state: str = "open") -> None:
        # The message is built in __str__: rejecting must stay cheap, and most
        # rejections are handled without ever being printed.
        super().__init__(breaker, retry_after, state)
        self.breaker = breaker
        self.retry_after = retry_after
        self.state = state

    def __str__(self) -> str:
        if self.state == "forced_open":
            why = "was forced open by an operator"
            hint = "reset it when the downstream is healthy, or run a fallback"
            return (f"circuit breaker {self.breaker!r} {why}: the call was not attempted; "
                    f"{hint} (retry after {self.retry_after:.3g}s at the earliest)")
        if self.state == "half_open":
            return (f"circuit breaker {self.breaker!r} is half-open and its trial calls are "
                    "all in flight: the call was not attempted; run a fallback or retry "
                    f"after {self.retry_after:.3g}s")
        return (f"circuit breaker {self.breaker!r} is open: the call was not attempted; "
                f"run a fallback or retry after {self.retry_after:.3g}s")
