"""The same metrics through the OpenTelemetry metrics API: observable instruments.

Each instrument's callback reads a snapshot of `StanchionMetrics.collect()`
(taken at most once per `min_interval` seconds, so one export reads the
sources once, not once per instrument). Counters become observable counters,
gauges observable gauges, and a histogram two observable counters,
`<name>_sum` and `<name>_count` (the API has no observable histogram; the
Prometheus endpoint serves the buckets).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from opentelemetry import metrics as otel_metrics
from opentelemetry.metrics import CallbackOptions, Observation

from actors.core import validate as check
from actors.observability._metrics import (
    FAMILIES,
    HistogramValue,
    MetricFamily,
    StanchionMetrics,
    unit_of,
)


class _Snapshot:
    def __init__(self, metrics: StanchionMetrics, min_interval: float) -> None:
        self.metrics = metrics
        self.min_interval = min_interval
        self._lock = threading.Lock()
        self._taken = -float("inf")
        self._families: dict[str, MetricFamily] = {}

    def family(self, name: str) -> MetricFamily | None:
        with self._lock:
            now = time.monotonic()
            if now - self._taken >= self.min_interval:
                self._families = {f.name: f for f in self.metrics.collect()}
                self._taken = now
            return self._families.get(name)


def register_otel_metrics(metrics: StanchionMetrics,
                          meter_provider: otel_metrics.MeterProvider | None = None, *,
                          min_interval: float = 1.0) -> None:
    """Expose `metrics` as observable instruments of the `stanchion` meter.

    `meter_provider` defaults to the application's global one. Instrument names
    are the Prometheus names without `_total` (an OpenTelemetry Prometheus
    exporter adds it back).

    Example:
        >>> from opentelemetry.sdk.metrics import MeterProvider
        >>> from actors.observability import StanchionMetrics, register_otel_metrics
        >>> register_otel_metrics(StanchionMetrics(time_mailboxes=False), MeterProvider())
    """
    check.instance("metrics", metrics, StanchionMetrics,
                   "an actors.observability.StanchionMetrics")
    check.seconds("min_interval", min_interval, allow_zero=True)
    provider = meter_provider if meter_provider is not None else otel_metrics.get_meter_provider()
    meter = provider.get_meter("stanchion")
    snapshot = _Snapshot(metrics, min_interval)
    for name, (kind, _) in FAMILIES.items():
        if kind == "histogram":
            meter.create_observable_counter(f"{name}_sum", [_reader(snapshot, name, "sum")],
                                            unit=unit_of(name))
            meter.create_observable_counter(f"{name}_count",
                                            [_reader(snapshot, name, "count")], unit="1")
        elif kind == "counter":
            meter.create_observable_counter(name.removesuffix("_total"),
                                            [_reader(snapshot, name, "value")],
                                            unit=unit_of(name))
        else:
            meter.create_observable_gauge(name, [_reader(snapshot, name, "value")],
                                          unit=unit_of(name))


def _reader(snapshot: _Snapshot, name: str,
            part: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def observe(_: CallbackOptions) -> Iterable[Observation]:
        family = snapshot.family(name)
        if family is None:
            return []
        observations = []
        for sample in family.samples:
            value = sample.value
            if isinstance(value, HistogramValue):
                number: float = value.sum if part == "sum" else value.count
            else:
                number = value
            observations.append(Observation(number, dict(sample.labels)))
        return observations

    return observe
