"""A breaker-gated call is a span with the breaker's state; a refusal is an error."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from actors.breaker import BreakerConfig, CircuitBreaker, CircuitOpen
from tests.observability.conftest import by_name


def boom() -> None:
    raise ConnectionError("refused")


def test_breaker_calls_are_spans_with_the_state_they_were_made_in(
        spans: InMemorySpanExporter) -> None:
    breaker = CircuitBreaker("sms", BreakerConfig(minimum_calls=1, failure_rate_threshold=50),
                             clock=lambda: 0.0)
    assert breaker.call(lambda: 1) == 1
    with pytest.raises(ConnectionError):
        breaker.call(boom)
    with pytest.raises(CircuitOpen):
        breaker.call(lambda: 1)
    calls = by_name(spans.get_finished_spans(), "breaker.call")
    assert [s.attributes["stanchion.state"] for s in calls] == [  # type: ignore[index]
        "closed", "closed", "open"]
    assert [s.status.status_code for s in calls] == [
        StatusCode.UNSET, StatusCode.ERROR, StatusCode.ERROR]
    assert {s.attributes["stanchion.breaker"] for s in calls} == {"sms"}  # type: ignore[index]
