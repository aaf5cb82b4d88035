"""Trace context travels in actor envelopes (tell and ask); log lines carry trace_id/span_id."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from actors import ServiceActor, capture_logs, get_logger
from actors.core import context
from actors.supervision import ActorSystem, ChildSpec
from tests.observability.conftest import by_name

done = threading.Event()


class Front(ServiceActor):
    def on_receive(self, message: Any) -> Any:
        back = self.back  # type: ignore[attr-defined]
        if message == "fail":
            return back.ask("fail", timeout=5)
        reply = back.ask("ping", timeout=5)
        back.tell("note")
        return reply


class Back(ServiceActor):
    def on_receive(self, message: Any) -> Any:
        if message == "fail":
            raise ValueError("no")
        if message == "note":
            get_logger().info("back.noted")
            done.set()
        return "pong"


def test_ask_and_tell_make_one_trace_with_a_span_per_handled_message(
        spans: InMemorySpanExporter) -> None:
    done.clear()
    with ActorSystem([ChildSpec("back", Back), ChildSpec("front", Front)]) as system:
        Front.back = system.service("back")  # type: ignore[attr-defined]
        with capture_logs() as logs, \
                context.tracer.span("request", {}) as root:  # type: ignore[union-attr]
            assert system.service("front").ask("go", timeout=5) == "pong"
            assert done.wait(5)
    finished = spans.get_finished_spans()
    handled = by_name(finished, "actor.handle")
    services = sorted(s.attributes["stanchion.service"] for s in handled)  # type: ignore[index]
    assert services == ["back", "back", "front"]
    trace_ids = {s.context.trace_id for s in handled}
    assert trace_ids == {by_name(finished, "request")[0].context.trace_id}
    front = next(s for s in handled if s.attributes["stanchion.service"] == "front")  # type: ignore[index]
    for span in handled:
        if span is not front:
            assert span.parent is not None
            assert span.parent.span_id == front.context.span_id
        assert span.attributes["stanchion.mailbox_wait_s"] >= 0  # type: ignore[index,operator]
    assert front.parent is not None
    assert f"{front.parent.span_id:016x}" == root.carrier().split("-")[2]  # type: ignore[union-attr]
    noted = next(e for e in logs if e["event"] == "back.noted")
    assert noted["trace_id"] == f"{front.context.trace_id:032x}"
    note_span = next(s for s in handled if s.attributes["stanchion.message_type"] == "str"
                     and s.end_time is not None and f"{s.context.span_id:016x}" == noted["span_id"])
    assert note_span.attributes["stanchion.service"] == "back"  # type: ignore[index]


def test_a_failing_handler_sets_the_span_status(spans: InMemorySpanExporter) -> None:
    with ActorSystem([ChildSpec("back", Back), ChildSpec("front", Front)]) as system:
        Front.back = system.service("back")  # type: ignore[attr-defined]
        with contextlib.suppress(ValueError):
            system.service("front").ask("fail", timeout=5)
    handled = by_name(spans.get_finished_spans(), "actor.handle")
    assert len(handled) == 2
    assert all(s.status.status_code is StatusCode.ERROR for s in handled)
    assert len({s.context.trace_id for s in handled}) == 1


def test_tracing_off_leaves_the_context_untouched() -> None:
    assert context.tracer is None
    assert context.capture() is context.current_context()
