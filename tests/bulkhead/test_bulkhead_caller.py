"""ServiceCaller, Ingress and LatencyRecorder one outcome at a time: which reason, what is
logged with which fields, what is counted, and how long the caller waited."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from actors import ConfigError, ServiceActor, ServiceRef, bind_context
from actors.bulkhead import Ingress, LatencyRecorder, LatencySnapshot, ServiceCaller
from actors.ratelimit import RateLimited, TokenBucket
from actors.supervision import ActorSystem, ChildSpec
from tests.conftest import named


class Gate(ServiceActor):
    """Answers at once, or blocks on `release` for "block" (and says it started), or raises."""

    def __init__(self, started: threading.Event, release: threading.Event) -> None:
        super().__init__()
        self.started, self.release = started, release

    def on_receive(self, message: Any) -> Any:
        if message == "block":
            self.started.set()
            self.release.wait(10)
        if message == "boom":
            raise ValueError("bad order: 'boom' is not an order")
        return f"ok:{message}"


class Service:
    def __init__(self, system: ActorSystem, started: threading.Event,
                 release: threading.Event) -> None:
        self.system, self.started, self.release = system, started, release
        self.ref: ServiceRef[Any] = system.service("stock")

    def occupy(self) -> None:
        """The only worker is busy and the mailbox (capacity 1) holds one more: full."""
        self.ref.tell("block")
        assert self.started.wait(5)
        self.ref.tell("queued")


@pytest.fixture
def stock() -> Iterator[Service]:
    started, release = threading.Event(), threading.Event()
    with ActorSystem([ChildSpec("stock", Gate, args=(started, release),
                                mailbox_size=1)]) as system:
        try:
            yield Service(system, started, release)
        finally:
            release.set()


def fallback(reason: str, error: BaseException) -> str:
    return f"fallback:{reason}:{type(error).__name__}"


def test_an_answer_in_time_is_accepted_and_timed(stock: Service) -> None:
    caller = ServiceCaller(stock.ref, timeout=1.0, fallback=fallback)
    assert caller.call("sku-1") == "ok:sku-1"
    counts = caller.metrics()
    assert (counts.accepted, counts.fallbacks, counts.offered) == (1, 0, 1)
    assert counts.p50_ms is not None
    assert counts.p99_ms is not None
    assert 0 < counts.p50_ms < 1000
    assert caller.latency_snapshot().count == 1


def test_a_full_bulkhead_refuses_at_once_and_the_fallback_answers(
        stock: Service, events: list[dict[str, Any]]) -> None:
    caller = ServiceCaller(stock.ref, timeout=5.0, fallback=fallback)
    stock.occupy()
    start = time.perf_counter()
    with bind_context(order_id="o-17"):
        answer = caller.call("sku-2", correlation_id="req-9")
    waited = time.perf_counter() - start
    assert answer == "fallback:rejected:MailboxFull"
    assert waited < 0.5, f"a refusal should not wait; waited {waited * 1000:.1f} ms"
    [event] = named(events, "call.rejected")
    # The full mailbox warns itself (mailbox.rejected, counted): each call's line is info.
    assert event["level"] == "info"
    assert event["service"] == "stock"
    assert event["reason"] == "rejected"
    assert event["correlation_id"] == "req-9"
    assert event["order_id"] == "o-17"
    assert event["timeout_s"] == 5.0
    assert "is full (1/1)" in event["error"]
    assert event["waited_ms"] < 500
    [fell_back] = named(events, "call.fell_back")
    assert (fell_back["service"], fell_back["reason"], fell_back["correlation_id"]) == (
        "stock", "rejected", "req-9")
    counts = caller.metrics()
    assert (counts.rejected, counts.fallbacks, counts.accepted, counts.offered) == (1, 1, 0, 1)


def test_no_answer_within_the_timeout_falls_back_after_the_timeout_not_later(
        stock: Service, events: list[dict[str, Any]]) -> None:
    caller = ServiceCaller(stock.ref, timeout=0.05, fallback=fallback)
    stock.ref.tell("block")
    assert stock.started.wait(5)
    start = time.perf_counter()
    answer = caller.call("sku-3")
    waited = time.perf_counter() - start
    assert answer == "fallback:timed_out:AskTimeout"
    assert 0.05 <= waited < 0.05 + 0.5, f"waited {waited * 1000:.1f} ms for a 50 ms timeout"
    [event] = named(events, "call.timed_out")
    assert event["reason"] == "timed_out"
    assert event["waited_ms"] >= 50
    assert caller.metrics().timed_out == 1


def test_a_stopped_service_is_unavailable(stock: Service, events: list[dict[str, Any]]) -> None:
    caller = ServiceCaller(stock.ref, timeout=1.0, fallback=fallback)
    stock.ref.stop(timeout=5)
    assert caller.call("sku-4") == "fallback:unavailable:ServiceStopped"
    assert named(events, "call.unavailable")[0]["service"] == "stock"
    assert caller.metrics().unavailable == 1


def test_the_handlers_own_error_is_not_hidden_by_the_fallback(stock: Service) -> None:
    caller = ServiceCaller(stock.ref, timeout=1.0, fallback=fallback)
    with pytest.raises(ValueError, match="'boom' is not an order"):
        caller.call("boom")
    counts = caller.metrics()
    assert (counts.failed, counts.fallbacks, counts.offered) == (1, 0, 1)


def test_a_failing_fallback_is_logged_and_raised(stock: Service,
                                                 events: list[dict[str, Any]]) -> None:
    def broken(reason: str, error: BaseException) -> str:
        raise RuntimeError("the fallback's store is down")

    caller = ServiceCaller(stock.ref, timeout=1.0, fallback=broken)
    stock.occupy()
    with pytest.raises(RuntimeError, match="store is down"):
        caller.call("sku-5")
    [event] = named(events, "call.fallback_failed")
    assert (event["level"], event["reason"]) == ("error", "rejected")
    assert named(events, "call.fell_back") == []


def test_the_limiter_refuses_before_the_service_is_touched(
        stock: Service, events: list[dict[str, Any]]) -> None:
    bucket = TokenBucket(1, 1, name="checkout", clock=lambda: 0.0)
    caller = ServiceCaller(stock.ref, timeout=1.0, fallback=fallback, limiter=bucket)
    assert caller.call("a") == "ok:a"
    assert caller.call("b") == "fallback:rate_limited:RateLimited"
    assert stock.ref.stats().processed == 1
    [event] = named(events, "call.rate_limited")
    assert event["level"] == "info"
    assert "retry after 1.000s" in event["error"]


def test_the_async_variant_has_the_same_outcomes(stock: Service) -> None:
    caller = ServiceCaller(stock.ref, timeout=0.05, fallback=fallback)

    async def main() -> list[Any]:
        first = await caller.call_async("x", correlation_id="a-1")
        stock.ref.tell("block")
        assert stock.started.wait(5)  # busy, and the mailbox has room: the ask will time out
        second = await caller.call_async("y")
        return [first, second]

    assert asyncio.run(main()) == ["ok:x", "fallback:timed_out:AskTimeout"]
    counts = caller.metrics()
    assert (counts.accepted, counts.timed_out, counts.fallbacks) == (1, 1, 1)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"timeout": 0}, "timeout=0 is invalid"),
    ({"timeout": math.inf}, "timeout=inf is invalid: expected a finite number of seconds > 0"),
    ({"timeout": True}, "timeout=True is invalid"),
    ({"fallback": None}, "fallback=None is invalid: expected a callable"),
    ({"limiter": 5}, "limiter=5 is invalid: expected None or an actors.ratelimit.TokenBucket"),
    ({"latency_window": 0}, "latency_window=0 is invalid"),
])
def test_a_caller_refuses_bad_settings_clearly(stock: Service, kwargs: dict[str, Any],
                                               message: str) -> None:
    settings: dict[str, Any] = {"timeout": 1.0, "fallback": fallback, **kwargs}
    with pytest.raises(ConfigError, match=message):
        ServiceCaller(stock.ref, **settings)


def test_a_caller_needs_a_service_ref_not_a_name() -> None:
    with pytest.raises(ConfigError, match=r"ref='payment' is invalid: expected a ServiceRef: "
                                          r"look the service up with system.service\(name\)"):
        ServiceCaller("payment", timeout=1.0, fallback=fallback)  # type: ignore[arg-type]


def test_ingress_admits_within_the_rate_and_refuses_the_rest_with_retry_after(
        events: list[dict[str, Any]]) -> None:
    now = [10.0]
    gate = Ingress(TokenBucket(4, 2, name="orders", clock=lambda: now[0]))
    gate.admit()
    gate.admit()
    with bind_context(order_id="o-3"), pytest.raises(RateLimited) as refused:
        gate.admit()
    assert refused.value.retry_after == pytest.approx(0.25)
    assert "rate limit 'orders' reached: retry after 0.250s" in str(refused.value)
    [event] = named(events, "ingress.rejected")
    assert (event["limiter"], event["reason"], event["order_id"]) == (
        "orders", "rate_limited", "o-3")
    assert event["retry_after_s"] == pytest.approx(0.25)
    now[0] += 0.25
    gate.admit()
    counts = gate.metrics()
    assert (counts.admitted, counts.rejected, counts.offered) == (3, 1, 4)
    with pytest.raises(ConfigError, match="limiter=None is invalid"):
        Ingress(None)  # type: ignore[arg-type]


def test_latency_window_keeps_the_newest_samples_and_reset_closes_a_phase() -> None:
    rec = LatencyRecorder(capacity=3)
    for ms in (100, 1, 2, 3):
        rec.record(ms / 1000)
    assert rec.count() == 3
    assert rec.snapshot() == LatencySnapshot(count=3, p50_ms=2.0, p99_ms=3.0, max_ms=3.0)
    assert rec.reset().max_ms == 3.0
    assert rec.snapshot() == LatencySnapshot(0, None, None, None)
    assert rec.percentile(99) is None
    with pytest.raises(ConfigError, match="p=101 is invalid"):
        rec.percentile(101)
