"""Worker actors deliver queued tasks: retries, a destination that is down, convergence."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from actors import ConfigError, StanchionError
from actors.backends import MemoryTaskStore, SqliteTaskStore
from actors.retry import RetryPolicy
from actors.supervision import ActorSystem, ChildSpec
from actors.taskqueue import (
    DeliveryEngine,
    PayloadNotSerializable,
    PermanentDeliveryError,
    QueueSpec,
    Task,
    TaskQueue,
    TaskQueueConfig,
    TaskQueueService,
)
from examples.profiles import ProfileReplica, ProfileUpdate, propagate, queue_name

FAST_RETRY = RetryPolicy(max_attempts=None, base_delay=0.01, max_delay=0.05, jitter="full")
DESTINATIONS = ("billing", "search", "mail")


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path: Path):
    config = TaskQueueConfig(retry=FAST_RETRY, visibility_timeout=2.0,
                             sqlite_path=tmp_path / "tasks.sqlite3")
    store = MemoryTaskStore(config) if request.param == "memory" else SqliteTaskStore(config)
    yield store
    store.close()


def test_profile_updates_converge_on_every_service_while_one_is_down(store):
    rng = random.Random(5)
    users, versions = 200, 10
    updates = [ProfileUpdate(f"u{u}", v, {"name": f"n{v}"})
               for u in range(users) for v in range(1, versions + 1)]
    rng.shuffle(updates)
    specs = [ChildSpec(dest, ProfileReplica) for dest in DESTINATIONS]
    with ActorSystem(specs) as system:
        replicas = {d: system.service(d)._actor_weakref() for d in DESTINATIONS}
        replicas["search"].down.set()  # search is down for the first part of the run
        tasks = TaskQueueService.start(system, store, [
            QueueSpec(queue_name(dest), dest, workers=2, delivery_timeout=2.0,
                      poll_interval=0.02) for dest in DESTINATIONS])
        for update in updates[: len(updates) // 2]:
            propagate(tasks, update, DESTINATIONS)
        assert tasks.wait_for(queue_name("search"), lambda m: m.failed_attempts > 50, 20)
        replicas["search"].down.clear()  # back up: the retries get through
        for update in updates[len(updates) // 2:]:
            propagate(tasks, update, DESTINATIONS)
        for dest in DESTINATIONS:
            assert tasks.wait_until_drained(queue_name(dest), 30)
        latest = {f"u{u}": versions for u in range(users)}
        for dest, replica in replicas.items():
            assert replica.versions() == latest, f"{dest} did not converge"
            assert replica.applied + replica.stale == len(updates)  # no loss, no extra
        search = tasks.metrics(queue_name("search"))
        assert search.failed_attempts > 0
        assert search.stats.dead_lettered == 0
        assert search.delivered == len(updates)


def test_delayed_task_waits_and_max_attempts_dead_letters_then_replay(tmp_path):
    calls: list[tuple[str, float]] = []
    fail = threading.Event()
    fail.set()
    delivered = threading.Event()

    def deliver(task: Task) -> None:
        calls.append((task.payload["kind"], time.monotonic()))
        if task.payload["kind"] == "flaky" and fail.is_set():
            raise ConnectionError("destination refused the connection")
        if task.payload["kind"] == "never":
            raise PermanentDeliveryError("destination rejected the payload: bad schema")
        delivered.set()

    config = TaskQueueConfig(retry=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02))
    with ActorSystem() as system:
        store = MemoryTaskStore(config)
        tasks = TaskQueueService.start(system, store,
                                       [QueueSpec("q", deliver, poll_interval=0.02)])
        start = time.monotonic()
        tasks.enqueue("q", {"kind": "later"}, at=time.time() + 0.3)
        assert delivered.wait(5)
        assert calls[0][1] - start >= 0.29  # wall clock and monotonic clock differ by rounding
        with pytest.raises(ConfigError, match="either delay or at"):
            tasks.enqueue("q", {}, delay=1.0, at=time.time())
        flaky = tasks.enqueue("q", {"kind": "flaky"})
        never = tasks.enqueue("q", {"kind": "never"})
        assert tasks.wait_for("q", lambda m: m.stats.dead_lettered == 2, 10)
        letters = {d.task.id: d for d in tasks.dead_letters("q")}
        assert letters[flaky].reason == "max_attempts"
        assert letters[flaky].task.attempts == 3
        assert "refused the connection" in (letters[flaky].task.last_error or "")
        assert letters[never].reason == "rejected"
        assert letters[never].task.attempts == 1  # no retry for a permanent error
        fail.clear()
        tasks.replay(flaky)
        assert tasks.wait_for("q", lambda m: [k for k, _ in calls].count("flaky") == 4, 10)
        assert tasks.wait_until_drained("q", 10)
        assert [d.task.id for d in tasks.dead_letters("q")] == [never]


def test_a_crashed_worker_loses_nothing(store):
    delivered: list[int] = []
    lock = threading.Lock()
    crash_once = threading.Event()
    crash_once.set()

    def deliver(task: Task) -> None:
        if crash_once.is_set() and task.payload["n"] == 3:
            crash_once.clear()
            raise SystemExit("worker died mid-batch")  # not an Exception: kills the actor
        with lock:
            delivered.append(task.payload["n"])

    with ActorSystem() as system:
        tasks = TaskQueueService.start(system, store, [
            QueueSpec("q", deliver, workers=1, batch_size=10, poll_interval=0.02)])
        tasks.enqueue_many("q", [{"n": n} for n in range(10)])
        assert tasks.wait_for("q", lambda m: set(delivered) == set(range(10)), 10)  # lease: 2 s
        assert tasks.metrics("q").stats.in_flight == 0


def test_bad_input_is_refused_with_typed_errors(store):
    with ActorSystem() as system:
        tasks = TaskQueueService.start(system, store, [QueueSpec("q", lambda task: None)])
        with pytest.raises(PayloadNotSerializable, match=r"\$.when"):
            tasks.enqueue("q", {"when": object()})
        with pytest.raises(StanchionError, match="no workers serve queue 'other'"):
            tasks.enqueue("other", {})
        assert tasks.metrics("q").stats.depth == 0
    with pytest.raises(ConfigError, match="workers=0"):
        QueueSpec("q", "svc", workers=0)
    with pytest.raises(ConfigError, match="deliver=42"):
        QueueSpec("q", 42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="version=0"):
        ProfileUpdate("u-1", 0, {})


def test_a_worker_claims_again_while_batches_come_and_a_stale_nudge_claims_nothing() -> None:
    claims: list[int] = []
    store = MemoryTaskStore()
    original = store.claim

    def counting_claim(queue: str, worker_id: str, limit: int, now: float) -> list[Any]:
        batch = original(queue, worker_id, limit, now)
        claims.append(len(batch))
        return batch

    store.claim = counting_claim  # type: ignore[method-assign]
    delivered: list[Any] = []
    engine = DeliveryEngine(
        QueueSpec("q", lambda task: delivered.append(task.payload), batch_size=2,
                  claim_linger=0),
        TaskQueue(store), resolve=mock.Mock(), call_later=mock.Mock())
    TaskQueue(store).enqueue_many("q", [1, 2, 3, 4, 5])
    engine.pending = True  # as a nudge leaves it
    engine.run("w1")
    assert delivered == [1, 2, 3, 4, 5]
    assert claims == [2, 2, 1, 0]  # one nudge: claimed until a claim came back empty
    engine.run("w1")  # a nudge sent before those claims began: absorbed
    assert claims == [2, 2, 1, 0]


def test_each_claim_acks_the_batch_before_and_a_short_batch_ends_the_run(
        tmp_path: Path) -> None:
    store = SqliteTaskStore(TaskQueueConfig(sqlite_path=tmp_path / "t.sqlite3"))
    tasks = TaskQueue(store)
    calls: list[str] = []
    for name in ("claim", "ack", "ack_then_claim"):
        method = getattr(tasks, name)
        setattr(tasks, name, lambda *a, _m=method, _n=name, **k: (calls.append(_n), _m(*a, **k))[1])
    call_later = mock.Mock()
    engine = DeliveryEngine(QueueSpec("q", lambda task: None, batch_size=2, claim_linger=1.0),
                            tasks, resolve=mock.Mock(), call_later=call_later)
    tasks.enqueue_many("q", [1, 2, 3, 4, 5])
    before = store.write_stats().transactions
    engine.pending = True
    engine.run("w1")
    # [1, 2], then [3, 4] with the ack of [1, 2], then [5] with the ack of [3, 4]; [5]
    # is short, so the run ends (no empty claim) acking it on its own, and the pool
    # claims again once the linger has passed since that claim.
    assert calls == ["claim", "ack_then_claim", "ack_then_claim", "ack"]
    assert store.write_stats().transactions - before == 4
    assert store.stats("q", time.time()).in_flight == 0
    assert engine.counts.delivered == 5
    [(wait, fire)] = [c.args for c in call_later.call_args_list]
    assert 0 < wait <= 1.0
    assert fire == engine._linger_over
    store.close()


def test_a_short_batch_that_outlasted_the_linger_claims_again_at_once(
        tmp_path: Path) -> None:
    store = SqliteTaskStore(TaskQueueConfig(sqlite_path=tmp_path / "t.sqlite3"))
    tasks = TaskQueue(store)
    clock = [1000.0]
    call_later = mock.Mock()

    def slow(task: Task) -> None:
        clock[0] += 0.5  # each delivery takes longer than the linger

    engine = DeliveryEngine(QueueSpec("q", slow, batch_size=2, claim_linger=0.1), tasks,
                            resolve=mock.Mock(), call_later=call_later)
    tasks.enqueue_many("q", [1])
    engine.pending = True
    with mock.patch("actors.taskqueue._workers.time.monotonic", side_effect=lambda: clock[0]):
        engine.run("w1")
    # [1] was short, but its delivery outlasted the linger: claimed again at once (what
    # another process enqueued meanwhile would come now), found nothing: the idle poll.
    assert store.stats("q", time.time()).in_flight == 0
    assert engine.counts.delivered == 1
    [(wait, _)] = [c.args for c in call_later.call_args_list]
    assert wait == engine.spec.poll_interval  # the idle poll, after an empty claim
    store.close()


def test_an_enqueue_soon_after_a_claim_waits_for_the_linger_and_shares_its_claim() -> None:
    call_later = mock.Mock()
    ref = mock.Mock()
    engine = DeliveryEngine(QueueSpec("q", lambda task: None, claim_linger=0.5),
                            TaskQueue(MemoryTaskStore()), resolve=mock.Mock(),
                            call_later=call_later)
    engine.ref = ref
    engine.enqueued()  # nobody claimed lately: claimed at once
    assert ref.offer.call_count == 1
    assert not call_later.called
    engine.last_claim = time.monotonic()
    engine.enqueued()
    engine.enqueued()  # the same window: no second timer
    assert ref.offer.call_count == 1
    [(wait, fire), ] = [c.args for c in call_later.call_args_list]
    assert 0 < wait <= 0.5
    fire()  # the linger is over: one nudge claims both
    assert ref.offer.call_count == 2
    engine.enqueued()
    assert call_later.call_count == 2  # still within 0.5 s of that claim: a new timer


def test_claim_linger_is_validated() -> None:
    for bad in (-0.001, 1.5, float("nan"), float("inf"), True, "1"):
        with pytest.raises(ConfigError, match="claim_linger"):
            QueueSpec("q", "svc", claim_linger=bad)  # type: ignore[arg-type]
