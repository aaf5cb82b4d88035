"""Bus events carry the trace: in-memory and durable deliveries, retries included."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from actors.backends import MemoryTaskStore
from actors.bus import EventBus, EventBusConfig
from actors.core import context
from actors.retry import RetryPolicy
from actors.supervision import ActorSystem
from tests.observability.conftest import by_name

FAST = RetryPolicy(max_attempts=3, base_delay=0.005, max_delay=0.02)


def test_one_event_fans_out_to_every_subscriber_inside_the_publishers_trace(
        spans: InMemorySpanExporter) -> None:
    calls: Counter[str] = Counter()
    done = threading.Barrier(3, timeout=10)

    def flaky(_: Any) -> None:
        calls["flaky"] += 1
        if calls["flaky"] == 1:
            raise ConnectionError("down")
        done.wait()

    def steady(_: Any) -> None:
        done.wait()

    with ActorSystem() as system:
        bus = EventBus.start(system, EventBusConfig(retry=FAST), store=MemoryTaskStore())
        bus.subscribe("order.*", flaky, name="flaky")
        bus.subscribe("order.*", steady, name="audit", durable=True)
        with context.tracer.span("request", {}) as root:  # type: ignore[union-attr]
            bus.publish("order.placed", {"id": 1})
        done.wait()
    finished = spans.get_finished_spans()
    trace_id = int(root.carrier().split("-")[1], 16)  # type: ignore[union-attr]
    [_publish] = by_name(finished, "bus.publish")
    delivered = by_name(finished, "bus.deliver")
    attempts = sorted((s.attributes["stanchion.subscriber"], s.attributes["stanchion.attempt"])  # type: ignore[index]
                      for s in delivered)
    assert attempts == [("audit", 1), ("flaky", 1), ("flaky", 2)]
    by_id = {s.context.span_id: s for s in finished}

    def ancestors(span: Any) -> list[str]:
        names = []
        while span.parent is not None and span.parent.span_id in by_id:
            span = by_id[span.parent.span_id]
            names.append(span.name)
        return names

    for span in delivered:
        assert span.context.trace_id == trace_id
        assert ancestors(span)[-2:] == ["bus.publish", "request"], ancestors(span)
    errors = [s.attributes["stanchion.attempt"] for s in delivered  # type: ignore[index]
              if s.status.status_code is StatusCode.ERROR]
    assert errors == [1]
