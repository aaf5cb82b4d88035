"""The Prometheus text endpoint, on `prometheus-client`.

Why `prometheus-client` and not the OpenTelemetry Prometheus exporter: the
metrics are read at scrape time from counters the runtime already keeps, which
is exactly a `prometheus_client` custom collector (no SDK pipeline, no second
copy of every value, no background reader); it is stable and its text format
is what Prometheus itself ships, while the OpenTelemetry exporter is still a
pre-release that needs the whole SDK and converts names. Applications on
OpenTelemetry use `register_otel_metrics` instead (or as well).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from actors.core import validate as check
from actors.observability._metrics import HistogramValue, MetricFamily, StanchionMetrics


class StanchionCollector(Collector):
    """A `prometheus_client` collector that reads a `StanchionMetrics` at each scrape."""

    def __init__(self, metrics: StanchionMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        """Every family, converted (label names in a fixed order per family)."""
        for family in self.metrics.collect():
            yield _convert(family)


def _convert(family: MetricFamily) -> Metric:
    label_names = list(family.samples[0].labels) if family.samples else []
    metric: Any
    if family.kind == "histogram":
        metric = HistogramMetricFamily(family.name, family.help, labels=label_names)
        for sample in family.samples:
            value = sample.value
            assert isinstance(value, HistogramValue)
            buckets = [(_le(bound), count) for bound, count in zip(value.bounds, value.buckets,
                                                                   strict=False)]
            buckets.append(("+Inf", value.buckets[-1]))
            metric.add_metric([sample.labels[n] for n in label_names], buckets, value.sum)
        return metric  # type: ignore[no-any-return]
    cls = CounterMetricFamily if family.kind == "counter" else GaugeMetricFamily
    metric = cls(family.name, family.help, labels=label_names)
    for sample in family.samples:
        metric.add_metric([sample.labels[n] for n in label_names], float(sample.value))  # type: ignore[arg-type]
    return metric  # type: ignore[no-any-return]


def _le(bound: float) -> str:
    return repr(float(bound))


def prometheus_text(metrics: StanchionMetrics) -> str:
    """The metrics in the Prometheus text format (what the endpoint serves)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StanchionCollector(metrics))
    return generate_latest(registry).decode()


class PrometheusServer:
    """A running `/metrics` endpoint; `stop()` (or leaving the `with` block) ends it."""

    def __init__(self, metrics: StanchionMetrics, host: str, port: int) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StanchionCollector(metrics))
        self._server, self._thread = start_http_server(port, host, self.registry)
        self.host = host
        self.port: int = self._server.server_address[1]
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        """Where Prometheus scrapes: `http://host:port/metrics`."""
        return f"http://{self.host}:{self.port}/metrics"

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5.0)

    def __enter__(self) -> PrometheusServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def start_prometheus_server(metrics: StanchionMetrics, *, host: str = "127.0.0.1",
                            port: int = 9464) -> PrometheusServer:
    """Serve `metrics` at `http://host:port/metrics` on a daemon thread.

    Binds 127.0.0.1 unless told otherwise; `port=0` picks a free port (see
    `.port`). Raises `ConfigError` for a bad host or port, `OSError` if the
    port is taken.

    Example:
        >>> from actors.supervision import ActorSystem
        >>> from actors.observability import StanchionMetrics, start_prometheus_server
        >>> with ActorSystem() as system, StanchionMetrics(system) as metrics:
        ...     with start_prometheus_server(metrics, port=0) as server:
        ...         server.url.startswith("http://127.0.0.1:")
        True
    """
    check.instance("metrics", metrics, StanchionMetrics,
                   "an actors.observability.StanchionMetrics")
    check.name("host", host)
    check.integer("port", port, minimum=0, maximum=65535)
    return PrometheusServer(metrics, host, port)
