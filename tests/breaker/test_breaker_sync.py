"""Breakers in several processes share transitions over Redis; each still decides locally."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.backends.redis import RedisBreakerSync
from actors.breaker import (
    BreakerConfig,
    BreakerState,
    BreakerSync,
    BreakerSyncConfig,
    CircuitBreaker,
)
from actors.testing import FakeSmsProvider
from tests.conftest import named
from tests.redis_server import redis_server

ROOT = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def pair(grace: float = 0.5) -> tuple[CircuitBreaker, CircuitBreaker, Clock]:
    clock = Clock()
    config = BreakerConfig(window_size=4, minimum_calls=2, wait_in_open=5.0, wait_jitter=0.0)
    a = CircuitBreaker("sms", config, clock=clock)
    b = CircuitBreaker("sms", config, clock=clock)
    sync_b = BreakerSync([b], send=lambda message: None, origin="b",
                         config=BreakerSyncConfig(follower_grace=grace))
    BreakerSync([a], send=sync_b.receive, origin="a")
    return a, b, clock


def trip(breaker: CircuitBreaker) -> None:
    for _ in range(2):
        breaker.on_error(breaker.acquire(), 0.1, ConnectionError("refused"))


def test_an_open_opens_the_others_for_the_same_wait_plus_the_grace() -> None:
    a, b, clock = pair(grace=0.5)
    trip(a)
    assert a.state is BreakerState.OPEN
    assert b.state is BreakerState.OPEN
    assert b.metrics().retry_after == pytest.approx(5.5)
    assert b.metrics().consecutive_trips == 0  # its own next trip waits its own first wait
    clock.now += 5.0
    assert a.state is BreakerState.HALF_OPEN
    assert b.state is BreakerState.OPEN  # the first one probes first
    a.on_success(a.acquire(), 0.1)
    a.on_success(a.acquire(), 0.1)
    a.on_success(a.acquire(), 0.1)
    assert a.state is BreakerState.CLOSED
    assert b.state is BreakerState.HALF_OPEN  # told to probe now, on its own judgement


def test_outcomes_shared_in_batches_trip_on_the_evidence_of_all() -> None:
    clock = Clock()
    config = BreakerConfig(window_size=10, minimum_calls=6, failure_rate_threshold=50.0,
                           wait_jitter=0.0)
    breakers = [CircuitBreaker("sms", config, clock=clock) for _ in range(3)]
    syncs = [BreakerSync([b], send=lambda message: None, origin=f"p{i}")
             for i, b in enumerate(breakers)]
    for breaker in breakers:  # two failures each: no process trips on its own
        trip(breaker)
        assert breaker.state is BreakerState.CLOSED
    for i, sync in enumerate(syncs):  # one batch each, delivered to the two others
        for message in sync.window_messages():
            for j, other in enumerate(syncs):
                if j != i:
                    other.receive(message)
    assert all(b.state is BreakerState.OPEN for b in breakers)
    assert syncs[0].window_messages() == []  # nothing new since the last batch


def test_force_open_and_reset_reach_the_others_and_are_not_echoed() -> None:
    a, b, _ = pair()
    a.force_open("maintenance")
    assert b.state is BreakerState.FORCED_OPEN
    assert b.metrics().state is BreakerState.FORCED_OPEN
    a.reset("maintenance over")
    assert b.state is BreakerState.CLOSED


def test_malformed_or_own_messages_are_ignored() -> None:
    breaker = CircuitBreaker("sms")
    sync = BreakerSync([breaker], send=lambda message: None, origin="me")
    for raw in ("not json", "[]", json.dumps({"v": 1}), b"\xff\xfe",
                json.dumps({"v": 1, "origin": "me", "breaker": "sms", "kind": "opened",
                            "wait": 5, "reason": "x"}),
                json.dumps({"v": 1, "origin": "x", "breaker": "sms", "kind": "opened",
                            "wait": float("inf"), "reason": "x"}),
                json.dumps({"v": 1, "origin": "x", "breaker": "other", "kind": "opened",
                            "wait": 5, "reason": "x"})):
        assert sync.receive(raw) is False
    assert breaker.state is BreakerState.CLOSED
    assert sync.metrics().ignored == 7


def test_over_redis_and_local_decisions_when_redis_is_down(tmp_path: Path, events: Any) -> None:
    with redis_server(tmp_path / "redis") as server:
        a, b = CircuitBreaker("sms"), CircuitBreaker("sms")
        with RedisBreakerSync(server.url, [a], origin="a") as sync_a, \
                RedisBreakerSync(server.url, [b], origin="b") as sync_b:
            assert sync_a.wait_subscribed(10)
            assert sync_b.wait_subscribed(10)
            applied = threading.Event()
            b.add_listener(lambda event: applied.set())
            a.force_open("maintenance")
            assert applied.wait(10)
            assert b.state is BreakerState.FORCED_OPEN
            server.stop()
            a.reset("back")  # Redis is down: a decides alone, and says so
            deadline = time.monotonic() + 10
            while sync_a.metrics().connected and time.monotonic() < deadline:
                time.sleep(0.01)  # the publisher thread notices the failure
            assert not sync_a.metrics().connected
            assert a.state is BreakerState.CLOSED
            assert b.state is BreakerState.FORCED_OPEN
    assert named(events, "breaker.sync_unavailable")[0]["decisions"] == "local"


# -- three processes against the fake SMS provider in an outage ------------------------------

HEALTHY_BEFORE, OUTAGE, HEALTHY_AFTER = 1.5, 4.0, 0.5


@pytest.fixture
def provider() -> Iterator[FakeSmsProvider]:
    with FakeSmsProvider(seed=5) as fake:
        yield fake


def _outage(provider: FakeSmsProvider, processes: int, redis_url: str) -> int:
    """Provider requests during the outage with `processes` workers, each the same load."""
    provider.clear()
    duration = HEALTHY_BEFORE + OUTAGE + HEALTHY_AFTER
    children = [subprocess.Popen(
        [sys.executable, "-m", "tests.procs.breaker_sync_proc", provider.base_url, redis_url,
         f"w{i}", str(duration)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"}) for i in range(processes)]
    try:
        for child in children:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
        time.sleep(HEALTHY_BEFORE)  # the load's own pace: healthy, then the outage
        down_at = time.time()
        provider.outage("503")
        time.sleep(OUTAGE)
        up_at = time.time()
        provider.recover()
        for child in children:
            out, _ = child.communicate(timeout=60)
            assert child.returncode == 0, out
        during = provider.requests(since=down_at, until=up_at)
        if os.environ.get("SHOW_OUTAGE"):
            print(processes, redis_url != "-", [round(r.at - down_at, 2) for r in during])
        return len(during)
    finally:
        for child in children:
            child.kill()
            child.wait(10)


@pytest.mark.slow
def test_three_processes_cost_the_provider_at_most_one_and_a_half_times_one(
        tmp_path: Path, provider: FakeSmsProvider) -> None:
    with redis_server(tmp_path / "redis") as server:
        single = _outage(provider, 1, server.url)
        shared = _outage(provider, 3, server.url)
        alone = _outage(provider, 3, "-")
    print(f"provider requests during the outage: 1 process {single}, 3 sharing {shared}, "
          f"3 alone {alone}")
    assert single > 0
    assert shared <= 1.5 * single, (single, shared, alone)


def test_deep_nesting_lone_surrogates_and_long_origins_are_ignored() -> None:
    breaker = CircuitBreaker("sms")
    sync = BreakerSync([breaker], send=lambda message: None, origin="me")
    deep = "[" * 100_000 + "]" * 100_000
    hostile = [deep, '{"v": 1, "origin": "\\ud800", "breaker": "sms", "kind": "opened",'
                     ' "wait": 5, "reason": "x"}',
               '{"v": 1, "origin": "x", "breaker": "sms", "kind": "opened",'
               ' "wait": 5, "reason": "\\udfff"}',
               '{"v": 1, "origin": "x", "breaker": "sms", "kind": "window", "wait": 0,'
               ' "calls": 10, "failures": 10, "slow": 0, "reason": "", "pad": 0}'
               .replace('"origin": "x"', '"origin": "' + "o" * 600 + '"'),
               '{"v": 1, "origin": "x", "breaker": "sms", "kind": "window", "wait": 0,'
               ' "calls": 10, "failures": NaN, "slow": 0, "reason": ""}']
    for raw in hostile:
        assert sync.receive(raw) is False, raw[:80]
    assert breaker.state is BreakerState.CLOSED
