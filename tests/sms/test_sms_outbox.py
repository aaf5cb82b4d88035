"""The outbox's retry timing: a delivery can say "no sooner than N seconds", and it is honoured."""

from __future__ import annotations

import random
import threading
import time

import pytest

from actors import ConfigError
from actors.backends import MemoryTaskStore
from actors.retry import RetryPolicy
from actors.supervision import ActorSystem
from actors.taskqueue import (
    QueueSpec,
    RetryAfter,
    RetryAt,
    Task,
    TaskQueue,
    TaskQueueConfig,
    TaskQueueService,
    TaskSchedule,
)

FAST = RetryPolicy(max_attempts=None, base_delay=0.01, max_delay=0.02, jitter="none")


def test_retry_after_raises_the_backoff_delay_and_never_lowers_it():
    schedule = TaskSchedule(RetryPolicy(base_delay=1.0, jitter="none"), clock=lambda: 100.0,
                            rng=random.Random(0))
    assert schedule.after_failure(1, retry_after=5.0) == RetryAt(105.0, 5.0)
    assert schedule.after_failure(1, retry_after=0.2) == RetryAt(101.0, 1.0)
    assert schedule.after_failure(2) == RetryAt(102.0, 2.0)
    with pytest.raises(ConfigError, match="retry_after"):
        schedule.after_failure(1, retry_after=-1.0)


def test_task_queue_fail_applies_retry_after_and_logs_the_delay(events):
    now = [1000.0]
    tasks = TaskQueue(MemoryTaskStore(TaskQueueConfig(retry=FAST)), clock=lambda: now[0])
    tasks.enqueue("sms", {"n": 1})
    [claimed] = tasks.claim("sms", "w-1")
    decision = tasks.fail(claimed, "HTTP 429", retry_after=30.0)
    assert decision == RetryAt(1030.0, 30.0)
    now[0] = 1029.9
    assert tasks.claim("sms", "w-1") == []
    now[0] = 1030.0
    assert len(tasks.claim("sms", "w-1")) == 1
    [retried] = [e for e in events if e["event"] == "task.retried"]
    assert retried["delay_s"] == 30.0


@pytest.mark.parametrize("delay", [-1.0, float("nan"), float("inf"), "5"])
def test_retry_after_refuses_a_bad_delay(delay):
    with pytest.raises(ConfigError, match="delay"):
        RetryAfter(delay)


def test_a_worker_honours_retry_after_raised_by_a_delivery():
    calls: list[float] = []
    done = threading.Event()

    def deliver(task: Task) -> None:
        calls.append(time.time())
        if len(calls) == 1:
            raise RetryAfter(0.4, "HTTP 429")
        done.set()

    store = MemoryTaskStore(TaskQueueConfig(retry=FAST))
    with ActorSystem() as system:
        tasks = TaskQueueService.start(system, store, [
            QueueSpec("sms", deliver, workers=1, poll_interval=0.02)])
        tasks.enqueue("sms", {"n": 1})
        assert done.wait(5)
    assert len(calls) == 2
    assert calls[1] - calls[0] >= 0.4  # the backoff alone would have been 10 ms
