"""Calls into a service with a timeout and a fallback, counted and timed."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from actors.bulkhead._latency import MAX_SAMPLES, LatencyRecorder, LatencySnapshot
from actors.core import (
    AskTimeout,
    LibraryLogger,
    MailboxFull,
    ServiceCrashed,
    ServiceRef,
    ServiceStopped,
    UnknownService,
    bind_context,
    validate as check,
)
from actors.ratelimit import RateLimited, TokenBucket

_log = LibraryLogger("stanchion.bulkhead")

T = TypeVar("T")

Reason = Literal["rejected", "timed_out", "unavailable", "rate_limited"]
"""Why a call fell back (see `ServiceCaller`)."""

#: fallback(reason, error) -> the value the caller gets instead
Fallback = Callable[[str, BaseException], T]

_UNAVAILABLE = (ServiceStopped, ServiceCrashed, UnknownService)


@dataclass(frozen=True, slots=True)
class CallerMetrics:
    """A service's call outcomes as seen by its callers, and the latency of the accepted ones.

    `offered` is every call made; `accepted + rejected + timed_out + unavailable
    + rate_limited + failed == offered` always holds. `fallbacks` counts the
    fallbacks run (every outcome but accepted and failed). `p50_ms`/`p99_ms`
    cover the accepted calls since the caller's last `latency.reset()`.

    Example:
        >>> c = CallerMetrics("payment", accepted=7, rejected=2, timed_out=1, unavailable=0,
        ...                rate_limited=0, failed=0, fallbacks=3, p50_ms=1.1, p99_ms=2.5)
        >>> c.offered
        10
    """

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
        """Every call made through the caller, whatever its outcome."""
        return (self.accepted + self.rejected + self.timed_out + self.unavailable
                + self.rate_limited + self.failed)


class ServiceCaller(Generic[T]):
    """Every call has a timeout and a fallback; every outcome is counted and logged.

    Reasons for a fallback: `rejected` (the service's bulkhead, its bounded
    mailbox, is full: refused at once), `timed_out` (no reply within
    `timeout`), `unavailable` (stopped, crashed with the call queued, or
    unknown), `rate_limited` (the optional `limiter` said no, before the
    service was touched). Each is logged as `call.<reason>` with the service,
    the reason and the correlation ids bound in the caller's context, then the
    fallback's value is returned. An exception raised by the handler itself is
    not hidden: it is counted as `failed` and re-raised.

    Args:
        ref: the service, as returned by `system.service(name)`.
        timeout: seconds a call may wait for the answer (finite, > 0, at most ten years).
        fallback: `(reason, error) -> value` returned instead of the answer.
        limiter: an optional `TokenBucket` applied before each call.
        clock: seconds, monotonic; for the latencies and `waited_ms`.
        latency_window: accepted-call latencies kept for the percentiles (1 to 10,000,000).

    Example:
        >>> from actors import ServiceActor
        >>> from actors.supervision import ActorSystem, ChildSpec
        >>> class Stock(ServiceActor):
        ...     def on_receive(self, message):
        ...         return 3
        >>> with ActorSystem([ChildSpec("inventory", Stock)]) as system:
        ...     caller = ServiceCaller(system.service("inventory"), timeout=1.0,
        ...                            fallback=lambda reason, error: 0)
        ...     caller.call("sku-1"), caller.metrics().accepted
        (3, 1)
    """

    def __init__(self, ref: ServiceRef[Any], *, timeout: float, fallback: Fallback[T],
                 limiter: TokenBucket | None = None,
                 clock: Callable[[], float] = time.perf_counter,
                 latency_window: int = 10_000) -> None:
        check.instance("ref", ref, ServiceRef,
                       "a ServiceRef: look the service up with system.service(name)")
        check.seconds("timeout", timeout)  # every call has a deadline
        check.callable_("fallback", fallback, "a callable (reason, error) -> value")
        check.optional(check.instance, "limiter", limiter, kind=TokenBucket,
                       what="an actors.ratelimit.TokenBucket")
        check.callable_("clock", clock, "a function returning monotonic seconds")
        check.integer("latency_window", latency_window, minimum=1, maximum=MAX_SAMPLES)
        self.ref = ref
        self.service = ref.name
        self.timeout = float(timeout)
        self.fallback = fallback
        self.limiter = limiter
        self.latency = LatencyRecorder(latency_window)
        self._clock = clock
        self._lock = threading.Lock()
        self._counts = {"accepted": 0, "rejected": 0, "timed_out": 0, "unavailable": 0,
                        "rate_limited": 0, "failed": 0, "fallbacks": 0}

    def call(self, message: Any, *, correlation_id: str | None = None) -> Any:
        """The service's answer, or the fallback's value; never waits past `timeout`.

        `correlation_id`, if given, is bound for the call: the service's log
        lines and this caller's `call.*` events carry it.
        """
        with _bound(correlation_id):
            start = self._clock()
            refused = self._rate_limited()
            if refused is not None:
                return self._fall_back("rate_limited", refused, start)
            try:
                answer = self.ref.ask(message, timeout=self.timeout)
            except Exception as exc:  # noqa: BLE001 - _failed re-raises what is not a refusal
                return self._failed(exc, start)
            return self._accepted(answer, start)

    async def call_async(self, message: Any, *, correlation_id: str | None = None) -> Any:
        """`call` for asyncio code: awaits the answer without blocking the event loop."""
        with _bound(correlation_id):
            start = self._clock()
            refused = self._rate_limited()
            if refused is not None:
                return self._fall_back("rate_limited", refused, start)
            try:
                answer = await self.ref.ask_async(message, timeout=self.timeout)
            except Exception as exc:  # noqa: BLE001 - _failed re-raises what is not a refusal
                return self._failed(exc, start)
            return self._accepted(answer, start)

    def _rate_limited(self) -> RateLimited | None:
        """The refusal if the limiter has no token for this call, else None."""
        limiter = self.limiter
        if limiter is None or limiter.try_acquire():
            return None
        return RateLimited(limiter.name, limiter.wait_time())

    def _accepted(self, answer: Any, start: float) -> Any:
        self.latency.record(self._clock() - start)
        self._count("accepted")
        return answer

    def _failed(self, error: Exception, start: float) -> T:
        """The fallback for a refusal, timeout or outage; anything else is counted and re-raised."""
        reason = _reason_of(error)
        if reason is None:
            self._count("failed")
            raise error
        return self._fall_back(reason, error, start)

    def _fall_back(self, reason: Reason, error: BaseException, start: float) -> T:
        self._count(reason, "fallbacks")
        waited_ms = round((self._clock() - start) * 1000, 3)
        # Refusals by our own limiter are expected traffic shaping, not trouble; a full
        # mailbox already says so itself (`mailbox.rejected`, counted), so not per call.
        level = _log.info if reason in ("rate_limited", "rejected") else _log.warning
        level(f"call.{reason}", service=self.service, reason=reason, error=str(error),
              waited_ms=waited_ms, timeout_s=self.timeout)
        fallback_start = self._clock()
        try:
            value = self.fallback(reason, error)
        except Exception as exc:
            _log.error("call.fallback_failed", service=self.service, reason=reason,
                       error=repr(exc))
            raise
        _log.debug("call.fell_back", service=self.service, reason=reason,
                   fallback_ms=round((self._clock() - fallback_start) * 1000, 3))
        return value

    def _count(self, *keys: str) -> None:
        # One step, so that a reader never sees a refusal without its fallback.
        with self._lock:
            for key in keys:
                self._counts[key] += 1

    def metrics(self) -> CallerMetrics:
        """The outcomes so far, and the accepted calls' p50/p99 since the last `latency.reset()`."""
        with self._lock:
            counts = dict(self._counts)
        latency = self.latency.snapshot()
        return CallerMetrics(self.service, **counts, p50_ms=latency.p50_ms, p99_ms=latency.p99_ms)

    counts = metrics  # the name before issue #12; every pattern now has metrics()

    def latency_snapshot(self) -> LatencySnapshot:
        """The accepted calls' latency since the last `latency.reset()`."""
        return self.latency.snapshot()


@contextlib.contextmanager
def _bound(correlation_id: str | None) -> Iterator[None]:
    if correlation_id is None:
        yield
        return
    with bind_context(correlation_id=correlation_id):
        yield


def _reason_of(error: Exception) -> Reason | None:
    if isinstance(error, MailboxFull):
        return "rejected"
    if isinstance(error, AskTimeout):
        return "timed_out"
    if isinstance(error, _UNAVAILABLE):
        return "unavailable"
    return None

