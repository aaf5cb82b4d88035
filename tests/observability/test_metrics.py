"""The metrics: read from the runtime's counters, served as Prometheus text on 127.0.0.1."""

from __future__ import annotations

import json
import re
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client.parser import text_string_to_metric_families

from actors import ConfigError, ServiceActor
from actors.backends import MemorySagaLog, MemoryTaskStore
from actors.breaker import BreakerConfig, CircuitBreaker, CircuitOpen
from actors.bus import EventBus
from actors.core import context
from actors.observability import (
    StanchionMetrics,
    prometheus_text,
    register_otel_metrics,
    start_prometheus_server,
)
from actors.observability._metrics import FAMILIES
from actors.ratelimit import TokenBucket
from actors.retry import RetryBudget
from actors.saga import SagaStatus
from actors.supervision import ChildSpec
from actors.taskqueue import QueueSpec, TaskQueueService
from tests.saga.saga_helpers import order, running_shop

reached = threading.Event()


class Slow(ServiceActor):
    mailbox_size = 3

    def on_receive(self, message: Any) -> Any:
        return message


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_a_scrape_reads_every_part_of_the_runtime(tmp_path: Any) -> None:
    breaker = CircuitBreaker("sms", BreakerConfig(minimum_calls=1), clock=lambda: 0.0)
    limiter = TokenBucket(1, 2, name="ingress", clock=lambda: 0.0)
    budget = RetryBudget()
    delivered = threading.Event()
    with running_shop(MemorySagaLog(), extra=[ChildSpec("slow", Slow)]) as shop, \
            StanchionMetrics(shop.system) as metrics:
        queues = TaskQueueService.start(shop.system, MemoryTaskStore(),
                                        [QueueSpec("mail", lambda task: delivered.set())])
        bus = EventBus.start(shop.system)
        bus.subscribe("order.*", lambda event: None, name="audit")
        for source in (breaker,):
            metrics.add_breaker(source)
        metrics.add_sagas(shop.sagas)
        metrics.add_task_queue(queues)
        metrics.add_bus(bus)
        metrics.add_rate_limiter(limiter)
        metrics.add_retry_budget("sms", budget)
        saga_id = shop.sagas.start_saga("checkout", order(schedule_shipping={
            "do": {"kind": "reject"}}))
        assert shop.sagas.wait(saga_id, timeout=10).status is SagaStatus.COMPENSATED
        with pytest.raises(ConnectionError):
            breaker.call(_refuse)
        with pytest.raises(CircuitOpen):
            breaker.call(lambda: None)
        assert [limiter.try_acquire() for _ in range(3)] == [True, True, False]
        budget.record_attempt()
        queues.enqueue("mail", {"to": "a"})
        assert delivered.wait(5)
        assert queues.wait_until_drained("mail", 5)
        slow = shop.system.service("slow")
        for _ in range(5):
            assert slow.ask("x", timeout=5) == "x"
        with start_prometheus_server(metrics, port=0) as server:
            assert server.host == "127.0.0.1"
            with urllib.request.urlopen(server.url, timeout=5) as response:
                text = response.read().decode()
        with pytest.raises(OSError, match="refused"):  # stopped: nothing listens any more
            urllib.request.urlopen(server.url, timeout=1)
    found = samples(text)
    assert found[("stanchion_mailbox_capacity", (("service", "slow"),))] == 3
    assert found[("stanchion_mailbox_depth", (("service", "slow"),))] == 0
    assert found[("stanchion_messages_processed_total", (("service", "slow"),))] == 5
    assert found[("stanchion_mailbox_wait_seconds_count", (("service", "slow"),))] == 5
    assert found[("stanchion_mailbox_wait_seconds_bucket", (("le", "+Inf"),
                                                             ("service", "slow")))] == 5
    assert found[("stanchion_service_restarts_total", (("service", "slow"),))] == 0
    assert found[("stanchion_breaker_state", (("breaker", "sms"), ("state", "open")))] == 1
    assert found[("stanchion_breaker_state", (("breaker", "sms"), ("state", "closed")))] == 0
    assert found[("stanchion_breaker_calls_total", (("breaker", "sms"),
                                                    ("outcome", "failed")))] == 1
    assert found[("stanchion_breaker_not_permitted_total", (("breaker", "sms"),))] == 1
    assert found[("stanchion_breaker_transitions_total", (
        ("breaker", "sms"), ("from_state", "closed"), ("to_state", "open")))] == 1
    checkout = (("definition", "checkout"),)
    assert found[("stanchion_sagas_started_total", checkout)] == 1
    assert found[("stanchion_sagas_compensated_total", checkout)] == 1
    assert found[("stanchion_sagas_in_flight", checkout)] == 0
    assert found[("stanchion_saga_duration_seconds_count", checkout)] == 1
    assert found[("stanchion_queue_delivered_total", (("queue", "mail"),))] == 1
    assert found[("stanchion_queue_depth", (("queue", "mail"),))] == 0
    assert ("stanchion_queue_lag_seconds", (("queue", "mail"),)) in found
    assert found[("stanchion_bus_backlog", (("bus", "bus"), ("subscriber", "audit")))] == 0
    assert found[("stanchion_ratelimit_refused_total", (("limiter", "ingress"),))] == 1
    assert found[("stanchion_retry_budget_attempts_total", (("budget", "sms"),))] == 1
    # closed: the mailbox timing hook is gone again
    assert context.tracer is None


def _refuse() -> None:
    raise ConnectionError("refused")


def test_every_family_collected_is_in_the_catalogue_the_otel_instruments_use() -> None:
    breaker = CircuitBreaker("b")
    with running_shop(MemorySagaLog()) as shop, StanchionMetrics(shop.system) as metrics:
        metrics.add_breaker(breaker)
        metrics.add_sagas(shop.sagas)
        metrics.add_rate_limiter(TokenBucket(1, 1))
        metrics.add_retry_budget("r", RetryBudget())
        metrics.add_task_queue(TaskQueueService.start(shop.system, MemoryTaskStore(),
                                                      [QueueSpec("q", lambda task: None)]))
        bus = EventBus.start(shop.system)
        bus.subscribe("x", lambda event: None, name="s")
        metrics.add_bus(bus)
        saga_id = shop.sagas.start_saga("checkout", order())
        assert shop.sagas.wait(saga_id, timeout=10).status is SagaStatus.COMPLETED
        collected = {f.name: f.kind for f in metrics.collect()}
    assert "stanchion_mailbox_wait_seconds" in collected
    assert set(collected) <= set(FAMILIES)
    assert all(FAMILIES[name][0] == kind for name, kind in collected.items())


def test_the_otel_instruments_report_the_same_values() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    limiter = TokenBucket(1, 2, name="ingress", clock=lambda: 0.0)
    metrics = StanchionMetrics(time_mailboxes=False)
    metrics.add_rate_limiter(limiter)
    register_otel_metrics(metrics, provider, min_interval=0)
    limiter.try_acquire()
    data = reader.get_metrics_data()
    provider.shutdown()
    points = {m.name: [p.value for p in m.data.data_points]
              for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert points["stanchion_ratelimit_granted"] == [1]
    assert points["stanchion_ratelimit_tokens"] == [1.0]


def test_bad_arguments_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="system"):
        StanchionMetrics("not a system")  # type: ignore[arg-type]
    metrics = StanchionMetrics(time_mailboxes=False)
    with pytest.raises(ConfigError, match="port"):
        start_prometheus_server(metrics, port=70000)
    with pytest.raises(ConfigError, match="breaker"):
        metrics.add_breaker(object())  # type: ignore[arg-type]
    assert "stanchion" not in prometheus_text(metrics)  # nothing registered: nothing read


def test_the_example_grafana_dashboard_queries_only_metrics_that_exist() -> None:
    dashboard = json.loads((Path(__file__).resolve().parents[2] / "docs"
                            / "grafana-dashboard.json").read_text())
    names = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            names |= set(re.findall(r"stanchion_[a-z_]+", target["expr"]))
    known = set(FAMILIES) | {f"{n}_bucket" for n, (kind, _) in FAMILIES.items()
                             if kind == "histogram"}
    assert names, "no queries found"
    assert names <= known, sorted(names - known)
