"""The bus's delivery loops share the task queue's engine and failure step (see docs/bus.md)."""

from __future__ import annotations

import random
import threading
from typing import Any

from actors import CorruptData, capture_logs
from actors.backends import SqliteTaskStore
from actors.bus import EventBus, EventBusConfig
from actors.retry import RetryPolicy
from actors.supervision import ActorSystem
from actors.taskqueue import PermanentDeliveryError, RetryAfter, TaskQueueConfig


def test_the_in_memory_bus_takes_the_same_step():
    """A handler steers its subscriber as a delivery function steers its queue."""
    policy = RetryPolicy(max_attempts=5, base_delay=0.001, max_delay=0.001, jitter="none")
    seen: list[Any] = []
    done = threading.Event()

    def handler(payload: Any) -> None:
        kind = payload["kind"]
        if kind == "permanent":
            raise PermanentDeliveryError("the destination refused it")
        if kind == "corrupt":
            raise CorruptData("is not an order")
        if kind == "later" and payload["kind"] not in [s["kind"] for s in seen]:
            seen.append(payload)
            raise RetryAfter(0.05, "busy")
        seen.append(payload)
        done.set()

    with ActorSystem() as system, capture_logs(level="info") as events:
        bus = EventBus.start(system, EventBusConfig(retry=policy), rng=random.Random(1))
        bus.subscribe("order.*", handler, name="audit")
        bus.publish("order.a", {"kind": "permanent"})
        bus.publish("order.b", {"kind": "corrupt"})
        assert bus.wait_for_dead_letters(2, "audit", timeout=10)
        bus.publish("order.c", {"kind": "later"})
        assert done.wait(10)
        reasons = {d.event.name: (d.reason, d.attempts) for d in bus.dead_letters("audit")}
        assert reasons == {"order.a": ("rejected", 1), "order.b": ("corrupt", 1)}
        metrics = bus.metrics()["audit"]
        assert (metrics.dead_lettered, metrics.retried, metrics.failed_attempts) == (2, 1, 3)
    [retried] = [e for e in events if e["event"] == "event.retried"]
    assert retried["delay_s"] == 0.05  # RetryAfter raised the 1 ms backoff


def test_a_durable_group_is_ordered_per_event_name(tmp_path):
    """A failing event holds back the later events of its name only."""
    released = threading.Event()
    seen: list[Any] = []
    cond = threading.Condition()

    def handler(payload: Any) -> None:
        if payload == "order-1" and not released.is_set():
            raise RuntimeError("not yet")
        with cond:
            seen.append(payload)
            cond.notify_all()

    store = SqliteTaskStore(TaskQueueConfig(sqlite_path=tmp_path / "bus.sqlite3"))
    policy = RetryPolicy(max_attempts=None, base_delay=0.005, max_delay=0.02, jitter="none")
    with ActorSystem() as system:
        bus = EventBus.start(system, EventBusConfig(retry=policy), store=store)
        subscription = bus.subscribe("#", handler, name="audit", durable=True)
        for name, payload in [("order.created", "order-1"), ("user.renamed", "user-1"),
                              ("order.created", "order-2"), ("user.renamed", "user-2")]:
            bus.publish(name, payload)
        with cond:
            assert cond.wait_for(lambda: seen == ["user-1", "user-2"], 10), seen
        assert subscription.metrics().retried >= 1
        assert "order-2" not in seen
        released.set()
        with cond:
            assert cond.wait_for(lambda: len(seen) == 4, 10), seen
        assert seen[2:] == ["order-1", "order-2"]
        metrics = subscription.metrics()
        assert (metrics.delivered, metrics.dead_lettered, metrics.pattern) == (4, 0, "#")
    store.close()
