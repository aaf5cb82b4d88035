"""Hostile input at the observability entry points: typed errors, never a crash or a bad row."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from actors import ConfigError
from actors.observability import (
    StanchionMetrics,
    enable_tracing,
    parse_traceparent,
    start_prometheus_server,
    tracing_enabled,
)
from actors.saga._log import decode
from actors.saga._machine import Saga, SagaStatus
from actors.taskqueue import NewTask
from tests.hypothesis_profiles import examples

HOSTILE = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
    st.just(math.inf), st.text(max_size=80), st.binary(max_size=40),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=4),
    st.lists(st.integers(), max_size=3), st.just("00-" + "a" * 32 + "-" + "b" * 16 + "-01 x"),
)
VALID = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"


@settings(max_examples=examples(150))
@given(HOSTILE)
def test_a_task_takes_a_traceparent_or_refuses_it(trace: Any) -> None:
    try:
        task = NewTask("q", {"n": 1}, trace=trace)
    except ConfigError as exc:
        assert exc.field == "trace"  # noqa: PT017 - which field, as the message says
    else:
        assert trace is None or task.trace == trace == VALID


@settings(max_examples=examples(150))
@given(HOSTILE)
def test_parsing_a_stored_traceparent_never_raises(text: Any) -> None:
    assert parse_traceparent(text) is None or isinstance(text, str)


@settings(max_examples=examples(100))
@given(HOSTILE)
def test_a_damaged_trace_in_a_saga_log_is_dropped_not_fatal(trace: Any) -> None:
    saga = Saga("s-1", "checkout", SagaStatus.RUNNING, {}, [], 1.0, 1.0)
    state = saga.to_json()
    state["trace"] = trace
    import json  # noqa: PLC0415 - only this test encodes by hand

    try:
        raw = json.dumps(state, allow_nan=False)
    except (TypeError, ValueError):
        return
    stored = json.loads(raw)["trace"]
    assert decode(raw).trace == (stored if stored == VALID else None)


@pytest.mark.parametrize("bad", ["provider", 3, object()])
def test_tracing_refuses_what_is_not_a_tracer_provider(bad: Any) -> None:
    with pytest.raises(ConfigError, match="tracer_provider"):
        enable_tracing(bad)
    assert not tracing_enabled()


@pytest.mark.parametrize("bad", [{"port": -1}, {"port": 70000}, {"port": 1.5}, {"port": True},
                                 {"port": math.nan},
                                 {"port": "9464"}, {"host": ""}, {"host": "\ud800"},
                                 {"host": 7}])
def test_the_endpoint_refuses_bad_settings(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        start_prometheus_server(StanchionMetrics(time_mailboxes=False), **bad)


@pytest.mark.parametrize("bad", ["system", 3, None])
def test_metrics_refuse_what_they_cannot_read(bad: Any) -> None:
    metrics = StanchionMetrics(time_mailboxes=False)
    for add in (metrics.add_breaker, metrics.add_sagas, metrics.add_task_queue,
                metrics.add_bus, metrics.add_rate_limiter):
        with pytest.raises(ConfigError):
            add(bad)
    with pytest.raises(ConfigError):
        metrics.add_retry_budget("\ud800", bad)
    with pytest.raises(ConfigError):
        StanchionMetrics(time_mailboxes=bad)
