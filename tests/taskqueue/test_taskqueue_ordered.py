"""Ordered queues (`QueueSpec(ordered_by=...)`) and the one failure step every loop shares."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from actors import ConfigError, CorruptData, capture_logs
from actors.backends import MemoryTaskStore, SqliteTaskStore
from actors.retry import RetryPolicy
from actors.supervision import ActorSystem
from actors.taskqueue import (
    GiveUp,
    PermanentDeliveryError,
    QueueSpec,
    RetryAfter,
    RetryAt,
    Task,
    TaskQueueConfig,
    TaskQueueService,
    TaskSchedule,
)

QUICK = RetryPolicy(max_attempts=None, base_delay=0.005, max_delay=0.02, jitter="none")


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path: Path):
    config = TaskQueueConfig(visibility_timeout=30.0, sqlite_path=tmp_path / "tasks.sqlite3")
    store = MemoryTaskStore(config) if request.param == "memory" else SqliteTaskStore(config)
    yield store
    store.close()


class Destination:
    """Records deliveries in order; `fails(payload)` says whether this attempt raises."""

    def __init__(self, fails: Callable[[Any], bool]) -> None:
        self.fails = fails
        self.delivered: list[Any] = []
        self.attempts: list[Any] = []
        self.cond = threading.Condition()

    def __call__(self, task: Task) -> None:
        with self.cond:
            self.attempts.append(task.payload["id"])
            self.cond.notify_all()
        if self.fails(task.payload["id"]):
            raise RuntimeError(f"{task.payload['id']} refused")
        with self.cond:
            self.delivered.append(task.payload["id"])
            self.cond.notify_all()

    def wait(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        with self.cond:
            assert self.cond.wait_for(predicate, timeout), (self.attempts, self.delivered)


def by_key(task: Task) -> str:
    return str(task.payload["key"])


def payloads(*ids: str) -> list[dict[str, str]]:
    return [{"key": i[0], "id": i} for i in ids]


@pytest.mark.parametrize("batch_size", [1, 100])
def test_a_retrying_task_holds_back_its_key_only(store, batch_size):
    released = threading.Event()
    destination = Destination(lambda i: i == "a1" and not released.is_set())
    spec = QueueSpec("q", destination, workers=2, batch_size=batch_size, ordered_by=by_key,
                     retry=QUICK, poll_interval=0.05)
    with ActorSystem() as system:
        tasks = TaskQueueService.start(system, store, [spec], rng=random.Random(3))
        tasks.enqueue_many("q", payloads("a1", "a2", "b1", "a3", "b2", "c1"))
        # a1 keeps failing (retried in place); b and c are not held up by it ...
        destination.wait(lambda: {"b1", "b2", "c1"} <= set(destination.delivered)
                         and destination.attempts.count("a1") >= 3)
        # ... while a2 and a3 wait behind it, never tried.
        assert "a2" not in destination.attempts
        assert "a3" not in destination.attempts
        released.set()
        assert tasks.wait_until_drained("q", 10)
        delivered = destination.delivered
        assert [i for i in delivered if i[0] == "a"] == ["a1", "a2", "a3"]
        assert [i for i in delivered if i[0] == "b"] == ["b1", "b2"]
        metrics = tasks.metrics("q")
        assert metrics.delivered == 6
        assert metrics.retried == metrics.failed_attempts == destination.attempts.count("a1") - 1
        assert metrics.dead_lettered == 0
        assert tasks.dead_letters("q") == []


def test_a_dead_lettered_task_unblocks_its_key(store):
    destination = Destination(lambda i: i == "a1")  # a1 never succeeds
    policy = RetryPolicy(max_attempts=3, base_delay=0.005, max_delay=0.01, jitter="none")
    spec = QueueSpec("q", destination, workers=1, ordered_by=by_key, retry=policy,
                     poll_interval=0.05)
    with ActorSystem() as system, capture_logs(level="info") as events:
        tasks = TaskQueueService.start(system, store, [spec])
        tasks.enqueue_many("q", payloads("a1", "a2", "b1", "a3"))
        assert tasks.wait_until_drained("q", 10)
        assert destination.attempts.count("a1") == 3
        assert destination.delivered == ["b1", "a2", "a3"]
        [dead] = tasks.dead_letters("q")
        assert (dead.task.payload["id"], dead.reason) == ("a1", "max_attempts")
        metrics = tasks.metrics("q")
        assert (metrics.delivered, metrics.retried, metrics.dead_lettered,
                metrics.failed_attempts) == (3, 2, 1, 3)
        assert metrics.backlog == 0
    retried = [e for e in events if e["event"] == "task.retried"]
    assert [(e["task_id"], e["attempts"]) for e in retried] == [(dead.task.id, 1),
                                                                (dead.task.id, 2)]


def test_a_task_whose_key_cannot_be_computed_is_quarantined_alone(store):
    destination = Destination(lambda _: False)

    def key(task: Task) -> str:
        if "key" not in task.payload:
            raise CorruptData(f"has no key: {task.payload!r}")
        return str(task.payload["key"])

    spec = QueueSpec("q", destination, workers=1, ordered_by=key, retry=QUICK,
                     poll_interval=0.05)
    with ActorSystem() as system:
        tasks = TaskQueueService.start(system, store, [spec])
        tasks.enqueue_many("q", [{"key": "a", "id": "a1"}, {"id": "x"}, {"key": "a", "id": "a2"}])
        assert tasks.wait_until_drained("q", 10)
        assert destination.delivered == ["a1", "a2"]
        [dead] = tasks.dead_letters("q")
        assert (dead.task.payload, dead.reason) == ({"id": "x"}, "corrupt")


def test_ordered_by_and_retry_are_validated():
    with pytest.raises(ConfigError, match="ordered_by"):
        QueueSpec("q", print, ordered_by="key")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="retry"):
        QueueSpec("q", print, retry=3)  # type: ignore[arg-type]


# -- the one failure step (TaskSchedule.after_error) ------------------------------------------


def test_the_shared_step_decides_retry_dead_letter_or_quarantine():
    policy = RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=8.0, jitter="none")
    schedule = TaskSchedule(policy, clock=lambda: 100.0, rng=random.Random(0))
    assert schedule.after_error(OSError("503"), 1) == RetryAt(101.0, 1.0)
    assert schedule.after_error(OSError("503"), 2) == RetryAt(102.0, 2.0)
    assert schedule.after_error(OSError("503"), 3) == GiveUp("max_attempts", 3)
    assert schedule.after_error(RetryAfter(30.0), 1) == RetryAt(130.0, 30.0)
    assert schedule.after_error(RetryAfter(0.5), 2) == RetryAt(102.0, 2.0)  # a floor only
    assert schedule.after_error(RetryAfter(30.0), 3) == GiveUp("max_attempts", 3)
    assert schedule.after_error(CorruptData("is not JSON"), 1) == GiveUp("corrupt", 1)
    assert schedule.after_error(PermanentDeliveryError("400"), 1) == GiveUp("rejected", 1)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_per_key_order_holds_across_workers_under_random_failures(seed):
    """Three workers, small batches, one attempt in three failing: each key in enqueue order."""
    rng = random.Random(seed)
    failing = {f"{key}{n}" for key in "abcde" for n in range(8) if rng.random() < 0.3}
    tried: set[str] = set()
    lock = threading.Lock()

    def fails(task_id: str) -> bool:
        with lock:  # each chosen task fails its first attempt only
            first = task_id not in tried
            tried.add(task_id)
        return first and task_id in failing

    destination = Destination(fails)
    ids = [f"{key}{n}" for n in range(8) for key in "abcde"]
    spec = QueueSpec("q", destination, workers=3, batch_size=4, ordered_by=by_key,
                     retry=QUICK, poll_interval=0.05)
    store = MemoryTaskStore(TaskQueueConfig(visibility_timeout=30.0))
    with ActorSystem() as system:
        tasks = TaskQueueService.start(system, store, [spec], rng=random.Random(seed))
        tasks.enqueue_many("q", payloads(*ids))
        assert tasks.wait_until_drained("q", 20)
    for key in "abcde":
        assert [i for i in destination.delivered if i[0] == key] == [f"{key}{n}" for n in range(8)]
    assert tasks.metrics("q").retried == len(failing)
