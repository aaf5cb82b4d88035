"""Observability: OpenTelemetry traces and Prometheus / OpenTelemetry metrics for the runtime.

Optional extras: `stanchion[otel]` (traces, on `opentelemetry-api`) and
`stanchion[metrics]` (adds `prometheus-client`). `import actors` never loads
this package; the runtime keeps one hook slot (`actors.core.context.tracer`)
that is `None` until `enable_tracing` (or metrics that time mailboxes) fills it.
See docs/observability.md.

    >>> from opentelemetry.sdk.trace import TracerProvider
    >>> from actors.observability import enable_tracing, disable_tracing
    >>> enable_tracing(TracerProvider())
    >>> disable_tracing()
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors.core import lazy_names
from actors.observability._errors import ObservabilityNotInstalled

if TYPE_CHECKING:
    from actors.observability._metrics import (
        HistogramValue,
        MetricFamily,
        Sample,
        StanchionMetrics,
    )
    from actors.observability._otel_metrics import register_otel_metrics
    from actors.observability._prometheus import (
        PrometheusServer,
        prometheus_text,
        start_prometheus_server,
    )
    from actors.observability._tracing import (
        disable_tracing,
        enable_tracing,
        parse_traceparent,
        tracing_enabled,
    )

__all__ = [
    "HistogramValue",
    "MetricFamily",
    "ObservabilityNotInstalled",
    "PrometheusServer",
    "Sample",
    "StanchionMetrics",
    "disable_tracing",
    "enable_tracing",
    "parse_traceparent",
    "prometheus_text",
    "register_otel_metrics",
    "start_prometheus_server",
    "tracing_enabled",
]

_TRACING = "actors.observability._tracing"
_METRICS = "actors.observability._metrics"
_PROMETHEUS = "actors.observability._prometheus"
_OTEL_METRICS = "actors.observability._otel_metrics"

_lazy = lazy_names(__name__, globals(), lazy={
    "disable_tracing": _TRACING,
    "enable_tracing": _TRACING,
    "parse_traceparent": _TRACING,
    "tracing_enabled": _TRACING,
    "HistogramValue": _METRICS,
    "MetricFamily": _METRICS,
    "Sample": _METRICS,
    "StanchionMetrics": _METRICS,
    "register_otel_metrics": _OTEL_METRICS,
    "PrometheusServer": _PROMETHEUS,
    "prometheus_text": _PROMETHEUS,
    "start_prometheus_server": _PROMETHEUS,
})


def __getattr__(name: str) -> object:
    try:
        return _lazy(name)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing in ("opentelemetry", "prometheus_client"):
            raise ObservabilityNotInstalled(f"actors.observability.{name}", missing) from exc
        raise
