"""THE outage test: steady load, the provider goes down for seconds, then recovers.

Judged from the fake provider's own request log: during the outage it
receives no more than the breaker needs to trip plus its half-open probes;
callers are answered within their timeout, fast while the breaker is open;
after recovery every accepted SMS is delivered exactly once.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections import Counter
from pathlib import Path

from actors.backends import SqliteTaskStore
from actors.breaker import BreakerConfig
from actors.retry import RetryPolicy
from actors.sms import NotificationService, SmsConfig, SmsOutcome
from actors.supervision import ActorSystem
from actors.taskqueue import TaskQueueConfig
from actors.testing import FakeSmsProvider

THREADS = 4
RATE_PER_THREAD = 30.0  # sends per second per thread: 120/s in all
HEALTHY_BEFORE, OUTAGE, HEALTHY_AFTER = 1.5, 3.0, 1.5
SEND_TIMEOUT = 0.5
OUTBOX_WORKERS = 2
SENDERS = 8
BREAKER = BreakerConfig(window_size=20, minimum_calls=10, failure_rate_threshold=50.0,
                        wait_in_open=0.3, max_wait_in_open=1.2, wait_multiplier=2.0,
                        wait_jitter=0.0, permitted_calls_in_half_open=3)
OPEN_P99_BOUND = 0.05


def half_open_periods_within(config: BreakerConfig, seconds: float) -> int:
    """How many times the breaker can let probes through in `seconds` of outage (no jitter)."""
    periods, elapsed, wait = 0, 0.0, config.wait_in_open
    while elapsed + wait <= seconds:
        elapsed += wait
        periods += 1
        wait = min(config.max_wait_in_open, wait * config.wait_multiplier)
    return periods


def outage_bound(config: BreakerConfig) -> int:
    """Requests the provider may see while down.

    - Failures to trip from a window full of successes: the failure rate must
      reach the threshold over the full count window (50% of 20 = 10).
    - Calls already admitted when it trips: at most one per caller thread and
      outbox worker, as each waits for its call (4 + 2 = 6).
    - Probes: `permitted_calls_in_half_open` (3) in each half-open period that
      starts within the outage (waits 0.3, 0.6, 1.2 s: 3 periods in 3 s).
    Total 10 + 6 + 3 * 3 = 25.
    """
    to_trip = -(-int(config.failure_rate_threshold * config.window_size) // 100)
    in_flight = THREADS + OUTBOX_WORKERS
    probes = config.permitted_calls_in_half_open * half_open_periods_within(config, OUTAGE)
    return to_trip + in_flight + probes


def test_outage_bound_is_what_the_docstring_says():
    assert half_open_periods_within(BREAKER, OUTAGE) == 3
    assert outage_bound(BREAKER) == 25


def test_an_outage_costs_the_provider_a_bounded_trickle_and_loses_no_sms(tmp_path: Path):
    store = SqliteTaskStore(TaskQueueConfig(
        retry=RetryPolicy(max_attempts=None, base_delay=0.05, max_delay=0.5, jitter="full"),
        sqlite_path=tmp_path / "outbox.sqlite3"))
    results: list[tuple[float, float, SmsOutcome, str]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def caller(index: int, sms: NotificationService) -> None:
        number = f"+1555000{index:04d}"
        interval = 1.0 / RATE_PER_THREAD
        sent = 0
        next_at = time.monotonic()
        while not stop.is_set():
            started = time.monotonic()
            wall = time.time()
            outcome = sms.send_sms(number, f"message {sent} from {index}",
                                   idempotency_key=f"t{index}-{sent}")
            elapsed = time.monotonic() - started
            with lock:
                results.append((wall, elapsed, outcome, sms.gate.breaker.state.value))
            sent += 1
            next_at += interval
            stop.wait(max(0.0, next_at - time.monotonic()))  # pacing the load, not a sync

    with FakeSmsProvider(seed=11) as provider, ActorSystem(rng=random.Random(2)) as system:
        sms = NotificationService.start(
            system,
            SmsConfig(provider.base_url, send_timeout=SEND_TIMEOUT, connect_timeout=0.2,
                        read_timeout=1.0, senders=SENDERS, breaker=BREAKER,
                        rate_per_second=1000.0, burst=200, outbox_workers=OUTBOX_WORKERS,
                        outbox_poll_interval=0.05),
            store=store, rng=random.Random(5))
        threads = [threading.Thread(target=caller, args=(i, sms)) for i in range(THREADS)]
        for thread in threads:
            thread.start()
        stop.wait(HEALTHY_BEFORE)
        down_at = time.time()
        provider.outage("503")
        stop.wait(OUTAGE)
        up_at = time.time()
        provider.recover()
        stop.wait(HEALTHY_AFTER)
        stop.set()
        for thread in threads:
            thread.join(10)
        drained = sms.wait_until_drained(30)
        metrics = sms.metrics()
        sms.stop()
    store.close()
    assert drained, f"the outbox did not drain: {metrics.outbox}"

    # The provider's own log, during the outage.
    during = provider.requests(since=down_at, until=up_at)
    offered_during = [r for r in results if down_at <= r[0] <= up_at]
    assert len(offered_during) > 200
    assert 0 < len(during) <= outage_bound(BREAKER), (len(during), outage_bound(BREAKER))

    # Callers: never past their timeout; fast while the breaker was open.
    assert max(r[1] for r in results) <= SEND_TIMEOUT
    open_latencies = sorted(r[1] for r in results if r[2].reason == "circuit_open")
    assert len(open_latencies) > 100
    p99 = open_latencies[int(0.99 * (len(open_latencies) - 1))]
    assert p99 < OPEN_P99_BOUND, (p99, statistics.median(open_latencies))

    # Every accepted SMS delivered exactly once (the provider deduplicates on the key).
    accepted = {r[2].idempotency_key for r in results}
    assert len(accepted) == len(results)
    delivered = provider.delivered()
    assert set(delivered) == accepted
    first_deliveries = Counter(r.key for r in provider.requests()
                               if r.status == 200 and not r.duplicate)
    assert max(first_deliveries.values()) == 1
    assert sum(first_deliveries.values()) == len(accepted)
    queued = [r for r in results if r[2].status == "queued"]
    assert queued
    assert metrics.delivered == len(queued)  # each queued SMS left the outbox once
