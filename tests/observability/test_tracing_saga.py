"""One checkout saga (examples/shop) is one trace: every service, a retry, compensations."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from actors.backends import MemorySagaLog, SqliteSagaLog
from actors.core import context
from actors.saga import SagaDefinition, SagaStatus, SagaStep
from actors.supervision import ChildSpec
from examples.shop import CHECKOUT
from tests.observability.conftest import by_name
from tests.saga.saga_helpers import FAST_RETRY, FAST_UNDO, Gate, order, running_shop
from tests.saga.test_saga_coordinator import Hung


def test_a_compensated_checkout_with_a_retry_is_one_trace_naming_every_service(
        spans: InMemorySpanExporter) -> None:
    data = order(process_payment={"do": {"kind": "error", "times": 1}},
                 schedule_shipping={"do": {"kind": "reject"}})
    with running_shop(MemorySagaLog()) as shop:
        with context.tracer.span("checkout.request", {}) as root:  # type: ignore[union-attr]
            saga_id = shop.sagas.start_saga("checkout", data)
        assert shop.sagas.wait(saga_id, timeout=10).status is SagaStatus.COMPENSATED
        metrics = shop.sagas.metrics()["checkout"]
    finished = spans.get_finished_spans()
    trace_id = int(root.carrier().split("-")[1], 16)  # type: ignore[union-attr]
    assert {s.context.trace_id for s in finished} == {trace_id}

    [saga] = by_name(finished, "saga")
    assert saga.attributes["stanchion.status"] == "compensated"  # type: ignore[index]
    steps = by_name(finished, "saga.step")
    assert [(s.attributes["stanchion.step"], s.attributes["stanchion.attempt"])  # type: ignore[index]
            for s in steps] == [("create_order", 1), ("reserve_inventory", 1),
                                ("process_payment", 1), ("process_payment", 2),
                                ("schedule_shipping", 1)]
    failed = [s.attributes["stanchion.step"] for s in steps  # type: ignore[index]
              if s.status.status_code is StatusCode.ERROR]
    assert failed == ["process_payment", "schedule_shipping"]
    compensations = by_name(finished, "saga.compensation")
    assert [s.attributes["stanchion.step"] for s in compensations] == [  # type: ignore[index]
        "process_payment", "reserve_inventory", "create_order"]
    for span in steps + compensations:
        assert span.parent is not None
        assert span.parent.span_id == saga.context.span_id
    handled = {s.attributes["stanchion.service"] for s in by_name(finished, "actor.handle")}  # type: ignore[index]
    assert handled >= {"sagas", "orders", "inventory", "payments", "shipping"}
    # every service's handling is a child of the step or compensation that asked it
    by_id = {s.context.span_id: s for s in finished}
    for span in by_name(finished, "actor.handle"):
        if span.attributes["stanchion.service"] != "sagas":  # type: ignore[index]
            assert span.parent is not None
            assert by_id[span.parent.span_id].name in ("saga.step", "saga.compensation")
    assert (metrics.started, metrics.compensated, metrics.in_flight) == (1, 1, 0)
    assert metrics.duration_buckets[-1] == 1


def test_a_saga_recovered_from_its_log_by_a_new_coordinator_joins_its_first_trace(
        spans: InMemorySpanExporter, tmp_path: Path) -> None:
    gate = Gate()
    hold = SagaDefinition("checkout", [
        SagaStep(s.name, "tiny" if s.name == "schedule_shipping" else s.service, s.command,
                 s.compensation, retry=FAST_RETRY, compensation_retry=FAST_UNDO)
        for s in CHECKOUT.steps])
    log = SqliteSagaLog(tmp_path / "sagas.sqlite3")
    with running_shop(log, definitions=[hold],
                      extra=[ChildSpec("tiny", Hung, args=(gate,))]) as shop:
        with context.tracer.span("checkout.request", {}) as root:  # type: ignore[union-attr]
            saga_id = shop.sagas.start_saga("checkout", order())
        assert gate.entered.wait(5)
        log.flush()
        shop.system.shutdown(timeout=0.5)  # the process "dies" with shipping hung
    log.close()
    gate.release.set()
    trace_id = int(root.carrier().split("-")[1], 16)  # type: ignore[union-attr]
    log = SqliteSagaLog(tmp_path / "sagas.sqlite3")
    try:
        with running_shop(log) as shop:
            assert shop.sagas.wait(saga_id, timeout=10).status is SagaStatus.COMPLETED
    finally:
        log.close()
    resumed = [s for s in by_name(spans.get_finished_spans(), "saga")
               if (s.attributes or {}).get("stanchion.resumed") == "recovered"]
    assert len(resumed) == 1
    assert resumed[0].context.trace_id == trace_id
    shipping = [s for s in by_name(spans.get_finished_spans(), "saga.step")
                if s.context.trace_id == trace_id
                and s.attributes["stanchion.step"] == "schedule_shipping"]  # type: ignore[index]
    assert any(s.parent is not None and s.parent.span_id == resumed[0].context.span_id
               for s in shipping)
