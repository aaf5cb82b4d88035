"""Calls into a service with a timeout and a fallback, counted and timed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import structlog

from actors._errors import (
    AskTimeout,
    MailboxFull,
    ServiceCrashed,
    ServiceStopped,
    UnknownService,
    require,
)
from actors._ref import ServiceRef
from actors.bulkhead._latency import LatencyRecorder
from actors.ratelimit import RateLimited, TokenBucket

_log = structlog.get_logger("stanchion.bulkhead")

T = TypeVar("T")

#: fallback(reason, error) -> the value the caller gets instead
Fallback = Callable[[str, BaseException], T]


@dataclass(frozen=True, slots=True)
class CallCounts:
    """A service's call outcomes as seen by its callers."""

    service: str
    accepted: int
    rejected: int
    timed_out: int
    unavailable: int
    rate_limited: int
    failed: int
    fallbacks: int
    p50_ms: float | None
    p99_ms: float | None

    @property
    def offered(self) -> int:
        return (self.accepted + self.rejected + self.timed_out + self.unavailable
                + self.rate_limited + self.failed)


class ServiceCaller(Generic[T]):
    """Every call has a timeout and a fallback; every outcome is counted and logged.

    Reasons for a fallback: `rejected` (the service's bulkhead, its bounded
    mailbox, is full: refused at once), `timed_out` (no reply within
    `timeout`), `unavailable` (stopped, crashed, unknown), `rate_limited` (the
    optional ingress bucket said no, before the service was touched). An
    exception raised by the handler itself is not hidden: it is counted as
    `failed` and re-raised.

    Example:
        >>> from actors import ServiceActor
        >>> from supervisor import ActorSystem, ChildSpec
        >>> class Stock(ServiceActor):
        ...     def on_receive(self, message):
        ...         return 3
        >>> with ActorSystem([ChildSpec("inventory", Stock)]) as system:
        ...     caller = ServiceCaller(system.service("inventory"), timeout=1.0,
        ...                            fallback=lambda reason, error: 0)
        ...     caller.call("sku-1"), caller.counts().accepted
        (3, 1)
    """

    def __init__(self, ref: ServiceRef[Any], *, timeout: float, fallback: Fallback[T],
                 limiter: TokenBucket | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        require(isinstance(timeout, int | float) and timeout > 0, "timeout", timeout,
                "seconds > 0: every call has a deadline")
        require(callable(fallback), "fallback", fallback, "a callable (reason, error) -> value")
        self.ref = ref
        self.timeout = float(timeout)
        self.fallback = fallback
        self.limiter = limiter
        self.latency = LatencyRecorder()
        self._clock = clock
        self._lock = threading.Lock()
        self._counts = {"accepted": 0, "rejected": 0, "timed_out": 0, "unavailable": 0,
                        "rate_limited": 0, "failed": 0, "fallbacks": 0}

    def call(self, message: Any) -> Any:
        """The service's answer, or the fallback's value; never waits past `timeout`."""
        start = self._clock()
        if self.limiter is not None and not self.limiter.try_acquire():
            return self._fall_back("rate_limited", _limited(self.limiter), start)
        try:
            answer = self.ref.ask(message, timeout=self.timeout)
        except MailboxFull as exc:
            return self._fall_back("rejected", exc, start)
        except AskTimeout as exc:
            return self._fall_back("timed_out", exc, start)
        except (ServiceStopped, ServiceCrashed, UnknownService) as exc:
            return self._fall_back("unavailable", exc, start)
        except Exception:
            self._count("failed")
            raise
        self.latency.record(self._clock() - start)
        self._count("accepted")
        return answer

    def _fall_back(self, reason: str, error: BaseException, start: float) -> T:
        self._count(reason)
        self._count("fallbacks")
        level = _log.info if reason == "rate_limited" else _log.warning
        level(f"call.{reason}", service=self.ref.name, error=str(error),
              waited_ms=round((self._clock() - start) * 1000, 3))
        return self.fallback(reason, error)

    def _count(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1

    def counts(self) -> CallCounts:
        """The outcomes so far and the accepted calls' p50/p99 since the last `reset_latency`."""
        with self._lock:
            counts = dict(self._counts)
        p50, p99 = self.latency.percentile(50), self.latency.percentile(99)
        return CallCounts(self.ref.name, **counts,
                          p50_ms=None if p50 is None else p50 * 1000,
                          p99_ms=None if p99 is None else p99 * 1000)


def _limited(limiter: TokenBucket) -> BaseException:
    return RateLimited(limiter.name, limiter.wait_time())
