"""gRPC-style retry throttling, alone and shared between processes through Redis in batches."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from actors import ConfigError
from actors.backends.redis import RedisRetryThrottle
from actors.retry import RetryThrottle, RetryThrottleConfig
from tests.conftest import named
from tests.hypothesis_profiles import examples
from tests.redis_server import redis_server


@pytest.mark.parametrize(("field", "value"), [
    ("max_tokens", 0), ("max_tokens", 1001), ("max_tokens", float("nan")),
    ("token_ratio", 0), ("token_ratio", 1.5), ("token_ratio", "0.1"),
])
def test_bad_config_names_the_field(field: str, value: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        RetryThrottleConfig(**{field: value})
    assert caught.value.field == field


def test_grpc_semantics() -> None:
    throttle = RetryThrottle(RetryThrottleConfig(max_tokens=10, token_ratio=0.1))
    for _ in range(5):
        assert throttle.allow_retry()
        throttle.record_failure()
    assert not throttle.allow_retry()  # 5 left: not more than half
    for _ in range(10):
        throttle.record_success()
    assert throttle.allow_retry()  # 6 left
    metrics = throttle.metrics()
    assert (metrics.tokens, metrics.retries_refused) == (6.0, 1)


@settings(max_examples=examples(60))
@given(st.lists(st.sampled_from(["ok", "fail", "flush"]), max_size=300))
def test_the_count_stays_within_zero_and_max(ops: list[str]) -> None:
    throttle = RetryThrottle(RetryThrottleConfig(max_tokens=3, token_ratio=0.5))
    shared = 3.0
    for op in ops:
        if op == "ok":
            throttle.record_success()
        elif op == "fail":
            throttle.record_failure()
        else:
            shared = min(3.0, max(0.0, shared + throttle.take_delta()))
            throttle.set_shared(shared)
        assert 0.0 <= throttle.metrics().tokens <= 3.0


def test_processes_share_one_count_in_batches(tmp_path: Path, events: Any) -> None:
    with redis_server(tmp_path / "redis") as server:
        config = RetryThrottleConfig(max_tokens=10, token_ratio=0.1)
        workers = [RedisRetryThrottle(server.url, "sms", config, flush_interval=0.01)
                   for _ in range(3)]
        try:
            for worker in workers:  # 2 failures each: 6 in all, 4 tokens left
                worker.record_failure()
                worker.record_failure()
                assert worker.allow_retry()  # locally each still has 8
            for worker in workers:
                assert worker.flush()
            for worker in workers:
                assert worker.flush()  # a batch after everyone's: the shared count
            assert [w.allow_retry() for w in workers] == [False, False, False]
            assert workers[0].metrics().tokens == pytest.approx(4.0)
            server.stop()
            workers[0].record_failure()
            assert not workers[0].flush(timeout=5)  # Redis down: local decisions
            assert not workers[0].connected
            assert workers[0].metrics().tokens == pytest.approx(3.0)
        finally:
            for worker in workers:
                worker.stop()
    assert named(events, "retry.throttle_unavailable")[0]["decisions"] == "local"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), True, "1", None])
def test_give_back_refuses_a_delta_that_is_not_a_finite_number(bad: Any) -> None:
    throttle = RetryThrottle()
    throttle.record_failure()
    with pytest.raises(ConfigError):
        throttle.give_back(bad)
    throttle.set_shared(bad)  # ignored: the shared count stays a number
    assert math.isfinite(throttle.metrics().tokens)
