"""The event bus: fan-out, isolation of slow and failing subscribers, order, dead letters."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

import pytest
import structlog

from actors import ConfigError, bind_context
from actors.bus import BusStopped, EventBus, EventBusConfig, matches
from actors.retry import RetryPolicy
from actors.supervision import ActorSystem
from tests.conftest import named

FAST = RetryPolicy(max_attempts=3, base_delay=0.005, max_delay=0.02, jitter="full")


class Recorder:
    """A handler that records payloads and lets the test wait for a count."""

    def __init__(self, fail: Callable[[Any], bool] = lambda _: False,
                 gate: threading.Event | None = None) -> None:
        self.seen: list[Any] = []
        self.cond = threading.Condition()
        self.fail = fail
        self.gate = gate
        self.entered = threading.Event()

    def __call__(self, payload: Any) -> None:
        if self.gate is not None:
            self.entered.set()
            self.gate.wait(10)
        if self.fail(payload):
            raise RuntimeError(f"cannot handle {payload!r}")
        with self.cond:
            self.seen.append(payload)
            self.cond.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Any]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.seen) >= count, timeout), self.seen
            return list(self.seen)


@pytest.fixture
def system():
    with ActorSystem(rng=random.Random(1)) as running:
        yield running


def start_bus(system, **config) -> EventBus:
    config.setdefault("retry", FAST)
    return EventBus.start(system, EventBusConfig(**config), rng=random.Random(2))


def test_fan_out_to_many_subscribers_in_publish_order(system):
    bus = start_bus(system)
    recorders = [Recorder() for _ in range(20)]
    for r in recorders:
        bus.subscribe("order.created", r)
    for n in range(200):
        bus.publish("order.created", n)
    for r in recorders:
        assert r.wait_for(200) == list(range(200))
    assert all(m.delivered == 200 for m in bus.metrics().values())


def test_slow_and_failing_subscribers_do_not_hold_up_the_others(system):
    bus = start_bus(system, buffer_size=10, max_backlog=1000)
    gate = threading.Event()
    slow = Recorder(gate=gate)
    failing = Recorder(fail=lambda _: True)
    healthy = [Recorder() for _ in range(3)]
    bus.subscribe("#", slow, name="slow")
    bus.subscribe("#", failing, name="failing")
    for r in healthy:
        bus.subscribe("#", r)
    for n in range(300):
        bus.publish(f"evt.n{n % 7}", n)
    for r in healthy:
        assert sorted(r.wait_for(300)) == list(range(300))  # while slow is still stuck
    assert slow.entered.wait(10)
    assert slow.seen == []
    assert bus.metrics()["slow"].backlog == 300
    gate.set()
    assert sorted(slow.wait_for(300)) == list(range(300))
    assert bus.wait_for_dead_letters(300, "failing", timeout=20)
    dead = bus.dead_letters("failing")
    assert len(dead) == 300
    assert {d.reason for d in dead} == {"max_attempts"}
    assert {d.attempts for d in dead} == {3}
    assert "cannot handle" in (dead[0].error or "")


def test_order_per_event_name_holds_under_retries(system):
    bus = start_bus(system, retry=RetryPolicy(max_attempts=5, base_delay=0.01, max_delay=0.02))
    failed_once: set[int] = set()

    def flaky(payload: Any) -> bool:
        if payload[1] % 4 == 0 and payload[1] not in failed_once:
            failed_once.add(payload[1])
            return True
        return False

    recorder = Recorder(fail=flaky)
    bus.subscribe("stock.*", recorder)
    for n in range(40):
        bus.publish("stock.reserved" if n % 2 else "stock.released", ("x", n))
    seen = recorder.wait_for(40)
    for parity in (0, 1):
        of_name = [n for _, n in seen if n % 2 == parity]
        assert of_name == sorted(of_name), "events of one name were reordered by a retry"
    assert bus.metrics()[next(iter(bus.metrics()))].retried == 10


def test_dead_letters_can_be_replayed(system):
    broken = threading.Event()
    broken.set()
    recorder = Recorder(fail=lambda _: broken.is_set())
    bus = start_bus(system)
    subscription = bus.subscribe("payment.failed", recorder, name="alerts")
    for n in range(3):
        bus.publish("payment.failed", {"order": n})
    assert bus.wait_for_dead_letters(3, "alerts")
    broken.clear()
    assert bus.replay("alerts") == 3
    assert recorder.wait_for(3) == [{"order": 0}, {"order": 1}, {"order": 2}]
    assert bus.dead_letters() == []
    assert subscription.metrics().dead_lettered == 3


def test_overflow_goes_to_the_backlog_then_dead_letters_never_silently(system, events):
    gate = threading.Event()
    recorder = Recorder(gate=gate)
    bus = start_bus(system, buffer_size=2, max_backlog=3)
    bus.subscribe("log.line", recorder, name="tiny")
    bus.publish("log.line", 0)
    assert recorder.entered.wait(5)  # 0 is in the handler
    for n in range(1, 10):
        bus.publish("log.line", n)  # 2 in the mailbox, 3 in the backlog, 4 overflow
    overflow = bus.dead_letters("tiny")
    assert [d.event.payload for d in overflow] == [6, 7, 8, 9]
    assert {d.reason for d in overflow} == {"overflow"}
    gate.set()
    assert recorder.wait_for(6) == [0, 1, 2, 3, 4, 5]
    assert len(named(events, "event.dead_lettered")) == 4


def test_unsubscribe_during_delivery(system):
    gate = threading.Event()
    recorder = Recorder(gate=gate)
    other = Recorder()
    bus = start_bus(system)
    subscription = bus.subscribe("a.b", recorder)
    bus.subscribe("a.b", other)
    bus.publish("a.b", 1)
    assert recorder.entered.wait(5)
    bus.publish("a.b", 2)
    done = threading.Thread(target=subscription.unsubscribe)
    done.start()
    gate.set()  # the running delivery finishes while the subscription ends
    done.join(10)
    assert not done.is_alive()
    bus.publish("a.b", 3)
    assert other.wait_for(3) == [1, 2, 3]
    assert recorder.seen in ([1], [1, 2])  # 2 may or may not have started before the end
    assert subscription.name not in bus.metrics()


def test_a_crashed_delivery_actor_is_restarted_and_delivery_goes_on(system):
    crashed = threading.Event()

    def handler(payload: Any) -> None:
        if payload == "boom" and not crashed.is_set():
            crashed.set()
            raise SystemExit("the handler killed its thread")
        recorder(payload)

    recorder = Recorder()
    bus = start_bus(system)
    bus.subscribe("x", handler)
    for payload in ("a", "boom", "b"):
        bus.publish("x", payload)
    assert recorder.wait_for(3) == ["a", "boom", "b"]  # the crashing event was redelivered


def test_correlation_ids_reach_the_handler(system, events):
    done = threading.Event()

    def handler(payload: Any) -> None:
        structlog.get_logger().info("order.audited", order_id=payload)
        done.set()

    bus = start_bus(system)
    bus.subscribe("order.paid", handler)
    with bind_context(request_id="req-9"):
        bus.publish("order.paid", "o-1")
    assert done.wait(5)
    audited = named(events, "order.audited")[0]
    assert audited["request_id"] == "req-9"
    assert audited["actor"].startswith("bus:sub:")


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [("order.*", "order.created", True), ("order.*", "order", False),
     ("order.#", "order", True), ("#", "anything.at.all", True),
     ("*.created", "user.created", True), ("order.#.late", "order.paid.very.late", True),
     ("order.#.late", "order.paid", False)],
)
def test_patterns(pattern, name, expected):
    assert matches(pattern, name) is expected


def test_bad_input_is_refused_and_the_bus_keeps_serving(system):
    bus = start_bus(system)
    recorder = Recorder()
    bus.subscribe("ok", recorder)
    with pytest.raises(ConfigError, match="event_name=''"):
        bus.publish("", 1)
    with pytest.raises(ConfigError, match="wildcards belong in subscription patterns"):
        bus.publish("order.*", 1)
    with pytest.raises(ConfigError, match=r"pattern='order\.\.x'"):
        bus.subscribe("order..x", recorder)
    with pytest.raises(ConfigError, match="handler="):
        bus.subscribe("ok", "not callable")  # type: ignore[arg-type]
    bus.subscribe("elsewhere", lambda _: None, name="dup")
    with pytest.raises(ConfigError, match="not already in use"):
        bus.subscribe("elsewhere", lambda _: None, name="dup")
    with pytest.raises(ConfigError, match="buffer_size=0"):
        EventBusConfig(buffer_size=0)
    bus.publish("ok", "still serving")
    assert recorder.wait_for(1) == ["still serving"]
    bus.stop()
    with pytest.raises(BusStopped):
        bus.publish("ok", 1)


def test_publish_after_the_actor_system_shut_down_is_refused() -> None:
    with ActorSystem([]) as system:
        bus = EventBus.start(system)
        bus.publish("order.placed", {"id": 1})
    with pytest.raises(BusStopped, match="actor system"):
        bus.publish("order.placed", {"id": 2})  # taken, it would reach nobody
