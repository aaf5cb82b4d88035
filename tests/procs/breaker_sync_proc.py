"""One worker process for the shared-breaker test: steady SMS load for DURATION seconds.

    python -m tests.procs.breaker_sync_proc BASE_URL REDIS_URL|- NAME DURATION

Starts a `NotificationService` against the fake provider at BASE_URL, shares
its breaker's transitions over Redis (unless REDIS_URL is "-"), prints
"ready", sends SMS from THREADS threads at a steady pace for DURATION
seconds, prints "done" and the sync's metrics, and exits.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time

from actors import configure_logging
from actors.backends.redis import RedisBreakerSync
from actors.breaker import BreakerConfig, BreakerSyncConfig
from actors.sms import NotificationService, SmsConfig
from actors.supervision import ActorSystem

THREADS = 4
RATE_PER_THREAD = 30.0
BREAKER = BreakerConfig(window_size=20, minimum_calls=10, failure_rate_threshold=50.0,
                        wait_in_open=0.3, max_wait_in_open=1.2, wait_multiplier=2.0,
                        wait_jitter=0.1, permitted_calls_in_half_open=3)


def main() -> None:
    base_url, redis_url, name, duration = (sys.argv[1], sys.argv[2], sys.argv[3],
                                           float(sys.argv[4]))
    configure_logging(level="error")  # stdout carries the reports, and nothing else
    with ActorSystem(rng=random.Random(hash(name) & 0xFFFF)) as system:
        sms = NotificationService.start(
            system, SmsConfig(base_url, send_timeout=0.5, connect_timeout=0.2,
                              read_timeout=1.0, senders=8, breaker=BREAKER,
                              rate_per_second=1000.0, burst=200, outbox_workers=2,
                              outbox_poll_interval=0.05))
        sync = None
        if redis_url != "-":
            sync = RedisBreakerSync(redis_url, [sms.gate.breaker],
                                    config=BreakerSyncConfig(follower_grace=0.2),
                                    origin=name)
            if not sync.wait_subscribed(10):
                raise SystemExit("could not subscribe to Redis")
        print("ready", flush=True)
        stop = threading.Event()

        def caller(index: int) -> None:
            interval, sent, next_at = 1.0 / RATE_PER_THREAD, 0, time.monotonic()
            while not stop.is_set():
                sms.send_sms(f"+1555{index:03d}{abs(hash(name)) % 10000:04d}",
                             f"message {sent}", idempotency_key=f"{name}-{index}-{sent}")
                sent += 1
                next_at += interval
                stop.wait(max(0.0, next_at - time.monotonic()))  # pacing the load

        threads = [threading.Thread(target=caller, args=(i,)) for i in range(THREADS)]
        for thread in threads:
            thread.start()
        stop.wait(duration)
        stop.set()
        for thread in threads:
            thread.join(10)
        metrics = sync.metrics() if sync is not None else None
        if sync is not None:
            sync.stop()
        sms.stop()
    report = {"sent": metrics.sent, "applied": metrics.applied} if metrics else {}
    print("done", json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
