"""The task store contract, run against every backend, plus the pure scheduling rules.

The Redis runs start a redis-server of their own on 127.0.0.1 (tests/redis_server.py).
"""

from __future__ import annotations

import itertools
import math
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import given, strategies as st

from actors import ConfigError, StanchionError, capture_logs
from actors.backends import MemoryTaskStore, SqliteTaskStore
from actors.backends.redis import RedisTaskStore
from actors.retry import RetryPolicy
from actors.taskqueue import (
    AckThenClaim,
    GiveUp,
    Lease,
    NewTask,
    PayloadNotSerializable,
    QueueStats,
    RetryAt,
    TaskNotFound,
    TaskQueue,
    TaskQueueConfig,
    TaskSchedule,
    TaskStore,
    TaskStoreClosed,
    TaskStoreError,
    TaskStoreTimeout,
)
from actors.testing.redis_server import redis_server
from tests.backends.redis_layout import overwrite_task

T0 = 1_000_000.0
Q = "profile->billing"
VT = 10.0


@dataclass
class Backend:
    name: str
    make: Callable[..., TaskStore]
    corrupt: Callable[[TaskStore, str, Any], None]


def _corrupt_memory(store: TaskStore, task_id: str, raw: Any) -> None:
    assert isinstance(store, MemoryTaskStore)
    store._rows[int(task_id)].payload_json = raw


def _corrupt_sqlite(store: TaskStore, task_id: str, raw: Any) -> None:
    assert isinstance(store, SqliteTaskStore)
    with sqlite3.connect(store.config.sqlite_path, isolation_level=None) as conn:
        conn.execute("UPDATE tasks SET payload = ? WHERE id = ?", (raw, int(task_id)))
    conn.close()


def _corrupt_redis(store: TaskStore, task_id: str, raw: Any) -> None:
    assert isinstance(store, RedisTaskStore)
    overwrite_task(store, Q, task_id, payload=raw)


_redis_prefixes = itertools.count()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    stores: list[TaskStore] = []
    url = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    prefix = f"test{next(_redis_prefixes)}"  # a fresh key space per test on the shared server

    def make(**overrides: Any) -> TaskStore:
        overrides.setdefault("visibility_timeout", VT)
        config = TaskQueueConfig(sqlite_path=tmp_path / "tasks.sqlite3", **overrides)
        store: TaskStore
        if request.param == "memory":
            store = MemoryTaskStore(config)
        elif request.param == "sqlite":
            store = SqliteTaskStore(config)
        else:
            store = RedisTaskStore(url, config, prefix=prefix)
        stores.append(store)
        return store

    corrupt = {"memory": _corrupt_memory, "sqlite": _corrupt_sqlite,
               "redis": _corrupt_redis}[request.param]
    yield Backend(request.param, make, corrupt)
    for store in stores:
        store.close()


@pytest.fixture
def store(backend: Backend) -> TaskStore:
    return backend.make()


def enqueue(store: TaskStore, *payloads: Any, now: float = T0, queue: str = Q,
            not_before: float | None = None, priority: int = 0) -> list[str]:
    return store.enqueue_many([NewTask(queue, p, not_before, priority) for p in payloads], now)


def payloads(claimed: list[Any]) -> list[Any]:
    return [c.task.payload for c in claimed]


# -- enqueue, claim, ack --------------------------------------------------------


def test_enqueue_claim_ack_round_trip(store: TaskStore) -> None:
    payload = {"user_id": "u-1", "version": 7, "fields": {"name": "Ada", "tags": ["a", None]}}
    [task_id] = enqueue(store, payload)

    [claimed] = store.claim(Q, "w1", limit=10, now=T0)

    task = claimed.task
    assert (task.id, task.queue, task.payload, task.attempts) == (task_id, Q, payload, 1)
    assert (task.not_before, task.enqueued_at, task.priority, task.last_error) == (T0, T0, 0, None)
    assert claimed.lease.task_id == task_id
    assert claimed.lease.worker_id == "w1"
    assert claimed.lease.expires_at == T0 + VT
    assert store.ack_many([claimed.lease]) == [True]
    assert store.claim(Q, "w1", limit=10, now=T0 + 10 * VT) == []
    assert store.stats(Q, T0) == QueueStats(0, 0, 0, 0, 0.0)


def test_claim_hands_out_oldest_first_up_to_the_limit(store: TaskStore) -> None:
    enqueue(store, *range(5))

    first = store.claim(Q, "w1", limit=3, now=T0)
    rest = store.claim(Q, "w2", limit=3, now=T0)

    assert payloads(first) == [0, 1, 2]
    assert payloads(rest) == [3, 4]
    assert store.claim(Q, "w3", limit=3, now=T0) == []


def test_ids_are_unique_and_never_reused_after_ack(store: TaskStore) -> None:
    ids = enqueue(store, 1, 2, 3)
    store.ack_many([c.lease for c in store.claim(Q, "w1", limit=3, now=T0)])

    later = enqueue(store, 4, 5)

    assert len(set(ids + later)) == 5
    assert [int(i) for i in later] == sorted(int(i) for i in later)
    assert min(int(i) for i in later) > max(int(i) for i in ids)


def test_queues_are_independent(store: TaskStore) -> None:
    enqueue(store, "billing", queue="billing")
    enqueue(store, "search", queue="search")

    assert payloads(store.claim("search", "w1", limit=10, now=T0)) == ["search"]
    assert payloads(store.claim("billing", "w1", limit=10, now=T0)) == ["billing"]


def test_enqueue_many_with_no_tasks_is_a_no_op(store: TaskStore) -> None:
    assert store.enqueue_many([], now=T0) == []
    assert store.ack_many([]) == []


def test_claim_limit_is_validated(backend: Backend) -> None:
    store = backend.make(max_claim_batch=5)
    with pytest.raises(ConfigError, match="limit"):
        store.claim(Q, "w1", limit=0, now=T0)
    with pytest.raises(ConfigError, match="max_claim_batch"):
        store.claim(Q, "w1", limit=6, now=T0)


# -- leases and the visibility timeout ------------------------------------------


def test_claimed_task_reappears_after_the_visibility_timeout_with_attempt_counted(
    store: TaskStore,
) -> None:
    [task_id] = enqueue(store, "x")
    [first] = store.claim(Q, "w1", limit=1, now=T0)

    assert store.claim(Q, "w2", limit=1, now=T0 + VT - 0.001) == []
    [second] = store.claim(Q, "w2", limit=1, now=T0 + VT)

    assert second.task.id == task_id
    assert (first.task.attempts, second.task.attempts) == (1, 2)
    assert second.lease.token != first.lease.token
    assert second.lease.expires_at == T0 + 2 * VT


def test_stale_lease_cannot_ack_the_new_claim_away(store: TaskStore) -> None:
    enqueue(store, "x")
    [stale] = store.claim(Q, "w1", limit=1, now=T0)
    [current] = store.claim(Q, "w2", limit=1, now=T0 + VT)

    assert store.ack_many([stale.lease]) == [False]
    assert store.stats(Q, T0 + VT).in_flight == 1
    assert store.ack_many([current.lease]) == [True]
    assert store.stats(Q, T0 + VT).in_flight == 0


def test_stale_lease_cannot_retry_or_dead_letter(store: TaskStore) -> None:
    enqueue(store, "x")
    [stale] = store.claim(Q, "w1", limit=1, now=T0)
    [current] = store.claim(Q, "w2", limit=1, now=T0 + VT)

    assert store.retry(stale.lease, T0 + 100, "boom") is False
    assert store.dead_letter(stale.lease, "rejected", "boom", T0 + VT) is False
    assert store.list_dead_letters(Q) == []
    assert store.ack_many([current.lease]) == [True]


def test_expired_lease_still_acks_while_nobody_claimed_the_task_again(store: TaskStore) -> None:
    enqueue(store, "x")
    [late] = store.claim(Q, "w1", limit=1, now=T0)

    assert store.ack_many([late.lease]) == [True]
    assert store.claim(Q, "w2", limit=1, now=T0 + 2 * VT) == []


def test_ack_many_reports_each_lease(store: TaskStore) -> None:
    enqueue(store, 1, 2, 3)
    claimed = store.claim(Q, "w1", limit=3, now=T0)
    store.ack_many([claimed[1].lease])

    assert store.ack_many([c.lease for c in claimed]) == [True, False, True]


def test_leases_from_different_claims_ack_in_one_call(store: TaskStore) -> None:
    enqueue(store, *range(4))
    first = store.claim(Q, "w1", limit=2, now=T0)
    second = store.claim(Q, "w2", limit=2, now=T0)

    assert store.ack_many([c.lease for c in first + second]) == [True] * 4


def test_ack_then_claim_acks_the_delivered_batch_and_claims_the_next(store: TaskStore) -> None:
    enqueue(store, 1, 2, 3, 4, 5)
    first = store.claim(Q, "w1", limit=2, now=T0)
    [stale] = store.claim(Q, "w2", limit=1, now=T0)
    store.ack_many([stale.lease])  # acked elsewhere: its lease is no longer current
    tasks = TaskQueue(store, clock=lambda: T0)

    with capture_logs(level="debug") as events:
        second = tasks.ack_then_claim([*first, stale], Q, "w1", limit=10)

    assert payloads(second) == [4, 5]
    assert [e["event"] for e in events] == ["task.lease_lost", "task.acked"]
    assert store.stats(Q, T0).in_flight == 2
    assert tasks.ack_then_claim(second, Q, "w1", limit=10) == []
    assert store.stats(Q, T0) == QueueStats(0, 0, 0, 0, 0.0)


def test_ack_then_claim_acks_a_lease_of_another_queue_too(store: TaskStore) -> None:
    enqueue(store, "elsewhere", queue="other")
    enqueue(store, "here")
    [other] = store.claim("other", "w1", limit=1, now=T0)
    tasks = TaskQueue(store, clock=lambda: T0)
    with capture_logs(level="debug") as events:
        claimed = tasks.ack_then_claim([other], Q, "w1", limit=10)
    assert payloads(claimed) == ["here"]
    assert [e["event"] for e in events] == ["task.acked"]
    assert store.claim("other", "w2", limit=1, now=T0 + 10 * VT) == []  # acked for good


def test_a_lone_task_keeps_the_due_time_it_was_given(store: TaskStore) -> None:
    enqueue(store, "was due", not_before=T0 - 5)  # already due: claimed at once
    [claimed] = store.claim(Q, "w1", limit=10, now=T0)
    assert (claimed.task.not_before, claimed.task.enqueued_at) == (T0 - 5, T0)


def test_ack_then_claim_is_one_commit_where_the_store_can(backend: Backend) -> None:
    store = backend.make()
    if backend.name == "memory":  # no commit to share: TaskQueue makes the two calls
        assert not isinstance(store, AckThenClaim)
        return
    assert isinstance(store, AckThenClaim)
    enqueue(store, 1, 2, 3)
    [claimed] = store.claim(Q, "w1", limit=1, now=T0)
    if isinstance(store, SqliteTaskStore):
        before = store.write_stats().transactions
        acked, fresh = store.ack_then_claim([claimed.lease], Q, "w1", 10, T0)
        assert store.write_stats().transactions == before + 1
    else:
        assert isinstance(store, RedisTaskStore)
        client = redis.Redis.from_url(store.url)
        client.config_resetstat()
        acked, fresh = store.ack_then_claim([claimed.lease], Q, "w1", 10, T0)
        assert client.info("commandstats")["cmdstat_evalsha"]["calls"] == 1
        client.close()
    assert acked == [True]
    assert payloads(fresh) == [2, 3]


def test_redis_forgets_the_queue_of_an_acked_task(redis_url: str) -> None:
    store = RedisTaskStore(redis_url, TaskQueueConfig(), prefix=f"where{time.monotonic_ns()}")
    try:
        ids = enqueue(store, *range(4))
        claimed = store.claim(Q, "w1", limit=4, now=T0)
        store.dead_letter(claimed[3].lease, "rejected", "no", T0)
        store.ack_many([claimed[0].lease])
        store.ack_then_claim([claimed[1].lease, claimed[2].lease], Q, "w1", 10, T0)
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        # Only the dead letter keeps its entry (a replay finds its queue by it).
        assert client.hkeys(f"{store.prefix}:tq:where") == [ids[3]]
        client.close()
        store.replay_dead_letter(ids[3], T0)
        assert payloads(store.claim(Q, "w1", limit=4, now=T0)) == [3]
    finally:
        store.close()


def test_redis_scripts_the_server_lost_are_loaded_again(redis_url: str) -> None:
    store = RedisTaskStore(redis_url, TaskQueueConfig(), prefix=f"flush{time.monotonic_ns()}")
    client = redis.Redis.from_url(redis_url)
    try:
        enqueue(store, 1)
        client.script_flush()  # as after a restart, or SCRIPT FLUSH by an operator
        enqueue(store, 2)
        client.script_flush()
        claimed = store.claim(Q, "w1", limit=10, now=T0)
        assert payloads(claimed) == [1, 2]
        client.script_flush()
        assert store.ack_then_claim([c.lease for c in claimed], Q, "w1", 10, T0) == (
            [True, True], [])
    finally:
        client.close()
        store.close()


@pytest.mark.parametrize("queue", ["q\ud800", None, "", " q", "q\n", "x" * 201, 7])
def test_a_queue_no_enqueue_could_name_is_refused_at_every_door(store: TaskStore,
                                                                 queue: Any) -> None:
    doors = {
        "claim": lambda: store.claim(queue, "w1", 1, T0),
        "stats": lambda: store.stats(queue, T0),
        "list_dead_letters": lambda: store.list_dead_letters(queue),
        "TaskQueue.ack_then_claim": lambda: TaskQueue(store).ack_then_claim([], queue, "w1"),
    }
    if isinstance(store, AckThenClaim):
        doors["ack_then_claim"] = lambda: store.ack_then_claim([], queue, "w1", 1, T0)
    for door, call in doors.items():
        with pytest.raises(ConfigError, match="queue=") as info:
            call()
        assert "printable characters" in str(info.value), door


def test_an_id_no_store_could_make_is_not_found(store: TaskStore) -> None:
    enqueue(store, 1)
    [claimed] = store.claim(Q, "w1", 1, T0)
    for task_id in ("1\ud800", "", "-1", "1e3", "\u0661"):  # the last: an Arabic-Indic digit
        with pytest.raises(TaskNotFound):
            store.replay_dead_letter(task_id, T0)
        foreign = Lease(task_id, claimed.lease.token, "w1", T0 + VT)
        assert store.ack_many([foreign]) == [False]
        assert store.retry(foreign, T0, "x") is False
        assert store.dead_letter(foreign, "rejected", "x", T0) is False
    assert store.ack_many([claimed.lease]) == [True]


@pytest.mark.parametrize("token", ["", "x/y", "\ud800", "abc/\ud800", "0" * 100 + "/" + Q,
                                   "a" * 10_000, "\x00"])
def test_a_lease_token_no_claim_made_holds_nothing(store: TaskStore, token: str) -> None:
    [task_id] = enqueue(store, 1)
    [claimed] = store.claim(Q, "w1", 1, T0)
    forged = Lease(task_id, token, "w1", T0 + VT)
    assert store.ack_many([forged]) == [False]
    assert store.retry(forged, T0, "x") is False
    assert store.dead_letter(forged, "rejected", "x", T0) is False
    forged = Lease(task_id, claimed.lease.token + "\ud800", "w1", T0 + VT)
    assert store.ack_many([forged]) == [False]
    assert store.ack_many([claimed.lease]) == [True]


@pytest.mark.parametrize("call", [
    lambda store: store.ack_many([]),
    lambda store: store.ack_many([Lease("1", "x/y", "w1", T0)]),
    lambda store: store.retry(Lease("1", "zz", "w1", T0), T0, "x"),
    lambda store: store.dead_letter(Lease("x", "zz", "w1", T0), "rejected", None, T0),
    lambda store: store.replay_dead_letter("not-an-id", T0),
    lambda store: store.list_dead_letters(Q),
    lambda store: store.claim(Q, "w1", 1, T0),
])
def test_a_call_after_close_is_refused_even_with_nothing_to_do(
        backend: Backend, call: Callable[[TaskStore], object]) -> None:
    store = backend.make()
    store.close()
    with pytest.raises(TaskStoreClosed):
        call(store)


@pytest.mark.parametrize(("field", "call"), [
    ("worker_id", lambda store: store.claim(Q, None, 1, T0)),
    ("worker_id", lambda store: store.claim(Q, 7, 1, T0)),
    ("limit", lambda store: store.claim(Q, "w1", True, T0)),
    ("limit", lambda store: store.claim(Q, "w1", 1.5, T0)),
    ("now", lambda store: store.claim(Q, "w1", 1, math.nan)),
    ("now", lambda store: store.claim(Q, "w1", 1, math.inf)),  # would lease for ever
    ("now", lambda store: store.claim(Q, "w1", 1, "1")),
    ("lease", lambda store: store.ack_many(["not a lease"])),
    ("lease", lambda store: store.ack_many([Lease(5, "t", "w1", T0)])),  # type: ignore[arg-type]
    ("lease", lambda store: store.retry(Lease("1", None, "w1", T0), T0, "x")),  # type: ignore[arg-type]
    ("lease", lambda store: store.dead_letter(object(), "rejected", None, T0)),
    ("claimed", lambda store: TaskQueue(store).ack([object()])),
    ("claimed", lambda store: TaskQueue(store).ack_then_claim(["x"], Q, "w1")),
])
def test_a_claim_or_ack_argument_no_claim_could_make_is_refused_by_name(
        store: TaskStore, field: str, call: Callable[[TaskStore], Any]) -> None:
    enqueue(store, 1)
    with pytest.raises(ConfigError, match=rf"^{field}="):
        call(store)
    assert store.stats(Q, T0).depth == 1  # nothing was leased or lost
    if isinstance(store, AckThenClaim):
        with pytest.raises(ConfigError, match=r"^lease="):
            store.ack_then_claim([Lease("1", None, "w1", T0)], Q, "w1", 1, T0)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match=r"^limit="):
            store.ack_then_claim([], Q, "w1", True, T0)


def _held(store: TaskStore) -> Lease:
    [claimed] = store.claim(Q, "w1", 1, T0)
    return claimed.lease


@pytest.mark.parametrize(("field", "call"), [
    ("now", lambda store: store.enqueue_many([NewTask(Q, 2)], math.nan)),  # never due
    ("now", lambda store: store.enqueue_many([NewTask(Q, 2)], math.inf)),
    ("now", lambda store: store.enqueue_many([NewTask(Q, 2)], "1")),  # stopped memory claims
    ("now", lambda store: store.enqueue_many([NewTask(Q, 2)], True)),
    ("tasks", lambda store: store.enqueue_many([{"queue": Q}], T0)),
    ("tasks", lambda store: store.enqueue_many([NewTask(Q, 2), None], T0)),
    ("tasks", lambda store: store.enqueue_many(7, T0)),
    ("tasks", lambda store: store.enqueue_many("abc", T0)),
    ("not_before", lambda store: store.retry(_held(store), math.nan, "x")),
    ("not_before", lambda store: store.retry(_held(store), -math.inf, "x")),
    ("error", lambda store: store.retry(_held(store), T0, 42)),
    ("now", lambda store: store.dead_letter(_held(store), "rejected", None, math.inf)),
    ("reason", lambda store: store.dead_letter(_held(store), None, None, T0)),
    ("error", lambda store: store.dead_letter(_held(store), "rejected", b"x", T0)),
    ("task_id", lambda store: store.replay_dead_letter(1, T0)),
    ("now", lambda store: store.replay_dead_letter("1", math.nan)),
    ("limit", lambda store: store.list_dead_letters(Q, "10")),
    ("limit", lambda store: store.list_dead_letters(Q, 1.5)),
    ("limit", lambda store: store.list_dead_letters(Q, True)),
    ("limit", lambda store: store.list_dead_letters(Q, -1)),  # stores read it three ways
    ("limit", lambda store: store.list_dead_letters(Q, 10**30)),  # OverflowError in SQLite
])
def test_a_time_text_or_task_no_caller_could_mean_is_refused_by_name(
        store: TaskStore, field: str, call: Callable[[TaskStore], Any]) -> None:
    enqueue(store, 1)
    with pytest.raises(ConfigError, match=rf"^{field}="):
        call(store)
    # Nothing was enqueued, released or buried: the one task is still there, and claimable.
    stats = store.stats(Q, T0 + 2 * VT)
    assert (stats.depth + stats.in_flight, stats.dead_lettered) == (1, 0)
    assert payloads(store.claim(Q, "w2", 10, T0 + 2 * VT)) == [1]


def test_redis_enqueues_have_a_connection_of_their_own_reopened_if_it_drops(
        tmp_path: Path) -> None:
    with redis_server(tmp_path) as server:
        admin = redis.Redis.from_url(server.url, decode_responses=True)
        try:
            store = RedisTaskStore(server.url, TaskQueueConfig(), prefix="writer")
            enqueue(store, 1)
            writer = store._writer
            assert writer is not None
            writer_id = writer.client_id()
            admin.client_kill_filter(_id=writer_id)  # the link drops under the writer
            enqueue(store, 2)  # reconnected by redis-py's retry
            assert writer.client_id() != writer_id
            assert payloads(store.claim(Q, "w1", 10, T0)) == [1, 2]
            store.close()
            assert [c for c in admin.client_list() if int(c["id"]) != admin.client_id()] == []
        finally:
            admin.close()


# -- delays and priorities -----------------------------------------------------


def test_delayed_task_is_not_handed_out_before_its_time(store: TaskStore) -> None:
    enqueue(store, "later", not_before=T0 + 60)
    enqueue(store, "now")

    [now] = store.claim(Q, "w1", limit=10, now=T0)
    assert now.task.payload == "now"
    assert store.ack_many([now.lease]) == [True]
    assert store.claim(Q, "w1", limit=10, now=T0 + 59.9) == []
    [later] = store.claim(Q, "w1", limit=10, now=T0 + 60)
    assert (later.task.payload, later.task.not_before) == ("later", T0 + 60)


def test_higher_priority_is_claimed_first_then_oldest(store: TaskStore) -> None:
    enqueue(store, "low-1", "low-2")
    enqueue(store, "high-1", priority=9)
    enqueue(store, "mid-1", priority=5)
    enqueue(store, "high-2", priority=9)

    claimed = store.claim(Q, "w1", limit=4, now=T0)

    assert payloads(claimed) == ["high-1", "high-2", "mid-1", "low-1"]
    assert [c.task.priority for c in claimed] == [9, 9, 5, 0]


def test_earliest_due_goes_first_within_a_priority(store: TaskStore) -> None:
    enqueue(store, "due-later", not_before=T0 + 5)
    enqueue(store, "due-sooner", not_before=T0 + 1)

    assert payloads(store.claim(Q, "w1", limit=2, now=T0 + 10)) == ["due-sooner", "due-later"]


@pytest.mark.parametrize("priority", [-1, 10, 1.5])
def test_priority_outside_the_range_is_refused(priority: Any) -> None:
    with pytest.raises(ConfigError, match="priority"):
        NewTask(Q, {}, priority=priority)


# -- retries and dead letters --------------------------------------------------


def test_retry_hides_the_task_until_not_before_and_records_the_error(store: TaskStore) -> None:
    enqueue(store, "x")
    [claimed] = store.claim(Q, "w1", limit=1, now=T0)

    assert store.retry(claimed.lease, T0 + 30, "HTTP 503") is True
    assert store.stats(Q, T0 + 1).delayed == 1
    assert store.claim(Q, "w1", limit=1, now=T0 + 29) == []
    [again] = store.claim(Q, "w1", limit=1, now=T0 + 30)

    assert (again.task.attempts, again.task.last_error) == (2, "HTTP 503")
    assert again.task.not_before == T0 + 30
    assert store.ack_many([claimed.lease]) == [False]


def test_queue_backs_off_exponentially_then_dead_letters_at_max_attempts(
    backend: Backend,
) -> None:
    policy = RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=100.0, jitter="none")
    store = backend.make(retry=policy)
    now = [T0]
    tasks = TaskQueue(store, clock=lambda: now[0], rng=random.Random(1))
    task_id = tasks.enqueue(Q, {"v": 1})
    decisions = []

    with capture_logs() as events:
        for _ in range(3):
            [claimed] = tasks.claim(Q, "w1")
            decision = tasks.fail(claimed, f"attempt {claimed.task.attempts} failed")
            decisions.append(decision)
            if isinstance(decision, RetryAt):
                assert tasks.claim(Q, "w1") == []
                now[0] = decision.not_before

    assert decisions == [RetryAt(T0 + 1, 1.0), RetryAt(T0 + 3, 2.0), GiveUp("max_attempts", 3)]
    assert tasks.claim(Q, "w1") == []
    [letter] = tasks.dead_letters(Q)
    assert (letter.task.id, letter.reason, letter.task.attempts) == (task_id, "max_attempts", 3)
    assert letter.task.last_error == "attempt 3 failed"
    assert letter.task.payload == {"v": 1}
    assert letter.dead_lettered_at == T0 + 3
    assert [e["event"] for e in events if e["event"] != "task.enqueued"] == [
        "task.retried", "task.retried", "task.dead_lettered"]
    assert tasks.stats(Q).dead_lettered == 1


def test_attempts_are_unlimited_by_default(backend: Backend) -> None:
    store = backend.make()
    assert store.config.retry.max_attempts is None
    now = [T0]
    tasks = TaskQueue(store, clock=lambda: now[0], rng=random.Random(2))
    tasks.enqueue(Q, "x")

    for attempt in range(1, 31):
        [claimed] = tasks.claim(Q, "w1")
        assert claimed.task.attempts == attempt
        decision = tasks.fail(claimed, "down")
        assert isinstance(decision, RetryAt)
        assert 0 <= decision.delay <= store.config.retry.max_delay
        now[0] = decision.not_before

    assert tasks.dead_letters(Q) == []


def test_task_whose_last_lease_expired_is_dead_lettered_when_attempts_ran_out(
    backend: Backend,
) -> None:
    store = backend.make(retry=RetryPolicy(max_attempts=2))
    enqueue(store, "poison")
    store.claim(Q, "w1", limit=1, now=T0)
    store.claim(Q, "w2", limit=1, now=T0 + VT)
    enqueue(store, "fine", now=T0 + 2 * VT)

    with capture_logs() as events:
        claimed = store.claim(Q, "w3", limit=5, now=T0 + 2 * VT)

    assert payloads(claimed) == ["fine"]
    [letter] = store.list_dead_letters(Q)
    assert (letter.task.payload, letter.reason) == ("poison", "max_attempts")
    assert letter.task.attempts == 2
    assert "'w2'" in (letter.task.last_error or "")
    assert "lease expired" in (letter.task.last_error or "")
    [event] = [e for e in events if e["event"] == "task.dead_lettered"]
    assert (event["reason"], event["queue"]) == ("max_attempts", Q)


def test_reject_dead_letters_with_the_given_reason(store: TaskStore) -> None:
    tasks = TaskQueue(store, clock=lambda: T0)
    tasks.enqueue(Q, {"v": 1})
    [claimed] = tasks.claim(Q, "w1")

    assert tasks.reject(claimed, "HTTP 422: unknown user") is True
    [letter] = tasks.dead_letters(Q)
    assert (letter.reason, letter.task.last_error) == ("rejected", "HTTP 422: unknown user")
    assert tasks.reject(claimed, "again") is False


def test_replayed_dead_letter_is_due_again_with_a_fresh_attempt_budget(
    backend: Backend,
) -> None:
    store = backend.make(retry=RetryPolicy(max_attempts=1))
    tasks = TaskQueue(store, clock=lambda: T0)
    task_id = tasks.enqueue(Q, {"v": 1}, priority=3)
    [claimed] = tasks.claim(Q, "w1")
    assert tasks.fail(claimed, "down") == GiveUp("max_attempts", 1)

    tasks.replay(task_id)

    assert tasks.dead_letters(Q) == []
    [again] = store.claim(Q, "w1", limit=1, now=T0 + 1)
    assert (again.task.id, again.task.payload, again.task.attempts) == (task_id, {"v": 1}, 1)
    assert (again.task.priority, again.task.enqueued_at) == (3, T0)
    with pytest.raises(TaskNotFound, match="list_dead_letters"):
        tasks.replay(task_id)
    with pytest.raises(TaskNotFound):
        tasks.replay("not-an-id")


def test_lost_lease_on_fail_is_reported_not_raised(store: TaskStore) -> None:
    now = [T0]
    tasks = TaskQueue(store, clock=lambda: now[0])
    tasks.enqueue(Q, "x")
    [stale] = tasks.claim(Q, "w1")
    now[0] += VT
    [current] = tasks.claim(Q, "w2")

    with capture_logs() as events:
        assert tasks.fail(stale, "timeout") is None
        assert tasks.ack([stale, current]) == [False, True]

    lost = [e for e in events if e["event"] == "task.lease_lost"]
    assert [(e["worker_id"], e["action"]) for e in lost] == [("w1", "retry"), ("w1", "ack")]


# -- payloads ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({"seen": {1, 2}}, "$.seen is a set"),
        ({"at": object()}, "$.at is a object"),
        ({"score": math.nan}, "$.score is the float nan"),
        ([1, math.inf], "$[1] is the float inf"),
        ({1: "one"}, "$[1] is a int key"),
        ({"pair": (1, 2)}, "$.pair is a tuple"),
        (b"bytes", "$ is a bytes"),
    ],
)
def test_payload_that_is_not_json_is_refused_and_nothing_is_enqueued(
    store: TaskStore, payload: Any, where: str,
) -> None:
    with pytest.raises(PayloadNotSerializable, match="not JSON") as caught:
        store.enqueue_many([NewTask(Q, "fine"), NewTask(Q, payload)], now=T0)

    assert where in str(caught.value)
    assert isinstance(caught.value, StanchionError)
    assert store.stats(Q, T0).depth == 0


def test_deeply_nested_or_circular_payload_is_refused() -> None:
    circular: list[Any] = []
    circular.append(circular)
    with pytest.raises(PayloadNotSerializable, match="nested too deeply"):
        NewTask(Q, circular)


def test_the_payload_is_a_copy_taken_at_enqueue(store: TaskStore) -> None:
    payload = {"version": 1}
    enqueue(store, payload)
    payload["version"] = 2

    assert payloads(store.claim(Q, "w1", limit=1, now=T0)) == [{"version": 1}]


@pytest.mark.parametrize("raw", ["{not json", b"\xff\xfe\x00garbage"])
def test_corrupt_stored_payload_is_quarantined_not_raised(backend: Backend, raw: Any) -> None:
    store = backend.make()
    good_before, bad, good_after = enqueue(store, "a", "b", "c")
    backend.corrupt(store, bad, raw)

    with capture_logs() as events:
        claimed = store.claim(Q, "w1", limit=3, now=T0)

    assert [c.task.id for c in claimed] == [good_before, good_after]
    [letter] = store.list_dead_letters(Q)
    assert (letter.task.id, letter.reason, letter.task.payload) == (bad, "corrupt", None)
    assert letter.raw_payload.startswith("{not json" if isinstance(raw, str) else "\ufffd")
    assert "not valid JSON" in (letter.task.last_error or "")
    [event] = [e for e in events if e["event"] == "task.dead_lettered"]
    assert (event["task_id"], event["reason"]) == (bad, "corrupt")
    assert store.stats(Q, T0) == QueueStats(0, 2, 0, 1, 0.0)


# -- stats ---------------------------------------------------------------------


def test_stats_count_each_state_and_the_oldest_age(store: TaskStore) -> None:
    enqueue(store, "ready-1", "ready-2", now=T0)
    enqueue(store, "delayed", now=T0 + 1, not_before=T0 + 100)
    enqueue(store, "to-claim", now=T0 + 2, priority=9)
    [claimed] = store.claim(Q, "w1", limit=1, now=T0 + 3)
    enqueue(store, "to-bury", now=T0 + 3, priority=9)
    [doomed] = store.claim(Q, "w1", limit=1, now=T0 + 3)
    store.dead_letter(doomed.lease, "rejected", "no", T0 + 3)
    enqueue(store, "elsewhere", queue="other", now=T0 - 1000)

    assert claimed.task.payload == "to-claim"
    assert store.stats(Q, T0 + 5) == QueueStats(
        depth=2, in_flight=1, delayed=1, dead_lettered=1, oldest_age_s=5.0)
    # Once the lease expires, the claimed task counts as claimable again.
    assert store.stats(Q, T0 + 3 + VT) == QueueStats(3, 0, 1, 1, 3 + VT)
    assert store.stats("empty", T0) == QueueStats(0, 0, 0, 0, 0.0)


def test_closed_store_refuses_calls(backend: Backend) -> None:
    store = backend.make()
    store.close()

    with pytest.raises(TaskStoreClosed, match="closed"):
        enqueue(store, "x")
    with pytest.raises(TaskStoreClosed):
        store.stats(Q, T0)
    store.close()  # closing twice is harmless


# -- SQLite specifics ----------------------------------------------------------


def sqlite_store(tmp_path: Path, **overrides: Any) -> SqliteTaskStore:
    overrides.setdefault("visibility_timeout", VT)
    return SqliteTaskStore(TaskQueueConfig(sqlite_path=tmp_path / "tasks.sqlite3", **overrides))


@pytest.mark.parametrize("synchronous", ["NORMAL", "FULL"])
def test_sqlite_tasks_and_leases_survive_reopening(tmp_path: Path, synchronous: str) -> None:
    with sqlite_store(tmp_path, synchronous=synchronous) as store:
        ids = enqueue(store, "a", "b", "c")
        [claimed] = store.claim(Q, "w1", limit=1, now=T0)
        store.dead_letter(store.claim(Q, "w1", limit=1, now=T0)[0].lease, "rejected", None, T0)

    with sqlite_store(tmp_path, synchronous=synchronous) as store:
        pragma = store._reader.execute("PRAGMA synchronous").fetchone()[0]
        assert pragma == {"NORMAL": 1, "FULL": 2}[synchronous]
        assert store._reader.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.stats(Q, T0) == QueueStats(1, 1, 0, 1, 0.0)
        assert store.ack_many([claimed.lease]) == [True]
        assert [c.task.id for c in store.claim(Q, "w2", limit=5, now=T0)] == [ids[2]]


class _WriteGate:
    """Holds SQLite's write lock from another connection so that writes pile up.

    The store takes its block of task ids first (`reserve_ids`): a store's first
    enqueue reserves one, a write of its own.
    """

    def __init__(self, path: Path, store: SqliteTaskStore) -> None:
        store._ids.take_one()
        self._conn = sqlite3.connect(path, isolation_level=None)
        self._conn.execute("BEGIN IMMEDIATE")

    def open(self) -> None:
        self._conn.execute("COMMIT")
        self._conn.close()


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    event = threading.Event()
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        event.wait(0.001)


def submitted_at_least(store: SqliteTaskStore, count: int) -> Callable[[], bool]:
    return lambda: store.write_stats().submitted >= count


def test_sqlite_concurrent_calls_share_one_commit(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    gate = _WriteGate(tmp_path / "tasks.sqlite3", store)
    before = store.write_stats()
    results: dict[int, list[str]] = {}

    def producer(n: int) -> None:
        results[n] = enqueue(store, {"n": n})

    threads = [threading.Thread(target=producer, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    wait_until(lambda: store.write_stats().submitted - before.submitted == 20)
    gate.open()
    for thread in threads:
        thread.join(5.0)

    after = store.write_stats()
    assert after.committed - before.committed == 20
    # The first call may hold its own transaction while the rest queue behind it.
    assert after.transactions - before.transactions <= 2
    assert sorted(p for n in range(20) for p in results[n]) == sorted(
        c.task.id for c in store.claim(Q, "w1", limit=100, now=T0))
    store.close()


def test_sqlite_a_failing_write_fails_only_its_own_caller(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    gate = _WriteGate(tmp_path / "tasks.sqlite3", store)
    outcomes: dict[str, Any] = {}

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO no_such_table VALUES (1)")

    def call(name: str, fn: Callable[[], Any]) -> None:
        try:
            outcomes[name] = fn()
        except Exception as exc:
            outcomes[name] = exc

    threads = [
        threading.Thread(target=call, args=("first", lambda: enqueue(store, 1))),
        threading.Thread(target=call, args=("broken", lambda: store._write("broken", broken))),
        threading.Thread(target=call, args=("after", lambda: enqueue(store, 2))),
    ]
    for count, thread in enumerate(threads, start=1):
        thread.start()
        # One at a time, so that the three writes are queued in this order.
        wait_until(submitted_at_least(store, count))
    gate.open()
    for thread in threads:
        thread.join(5.0)

    assert isinstance(outcomes["broken"], TaskStoreError)
    assert "no_such_table" in str(outcomes["broken"])
    assert payloads(store.claim(Q, "w1", limit=10, now=T0)) == [1, 2]
    store.close()


def test_sqlite_page_size_applies_to_a_new_file_and_an_existing_file_keeps_its_own(
        tmp_path: Path) -> None:
    def page_size(path: Path) -> int:
        conn = sqlite3.connect(path)
        try:
            return int(conn.execute("PRAGMA page_size").fetchone()[0])
        finally:
            conn.close()

    small, default = tmp_path / "small.sqlite3", tmp_path / "default.sqlite3"
    with SqliteTaskStore(TaskQueueConfig(sqlite_path=small, sqlite_page_size=1024)) as store:
        enqueue(store, {"big": "x" * 5000}, "small")  # an overflow chain on 1 KB pages
        assert payloads(store.claim(Q, "w1", 10, T0)) == [{"big": "x" * 5000}, "small"]
    with SqliteTaskStore(TaskQueueConfig(sqlite_path=default)):
        pass
    with SqliteTaskStore(TaskQueueConfig(sqlite_path=default, sqlite_page_size=1024)):
        pass
    assert (page_size(small), page_size(default)) == (1024, 4096)
    for bad in (1000, 256, 131072, 4096.0, True, "4096", None):
        with pytest.raises(ConfigError, match="sqlite_page_size"):
            TaskQueueConfig(sqlite_page_size=bad)  # type: ignore[arg-type]


def test_sqlite_refuses_a_database_from_a_newer_schema(tmp_path: Path) -> None:
    sqlite_store(tmp_path).close()
    with sqlite3.connect(tmp_path / "tasks.sqlite3") as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()

    with pytest.raises(TaskStoreError, match="schema version 99"):
        sqlite_store(tmp_path)


def test_sqlite_claims_many_tasks_in_one_call(tmp_path: Path) -> None:
    with sqlite_store(tmp_path) as store:
        ids = store.enqueue_many([NewTask(Q, i, priority=i % 3) for i in range(1200)], now=T0)
        claimed = store.claim(Q, "w1", limit=1000, now=T0)
        assert len(claimed) == 1000
        assert [c.task.priority for c in claimed[:400]] == [2] * 400
        assert store.ack_many([c.lease for c in claimed]) == [True] * 1000
        assert len(store.claim(Q, "w1", limit=1000, now=T0)) == 200
        assert len(set(ids)) == 1200


# -- configuration -------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("visibility_timeout", 0),
        ("visibility_timeout", math.inf),
        ("retry", "forever"),
        ("max_claim_batch", 0),
        ("max_claim_batch", 10_001),
        ("max_group_commit", True),
        ("sqlite_path", ""),
        ("synchronous", "OFF"),
        ("busy_timeout", -1),
        ("write_timeout", 0),
    ],
)
def test_config_refuses_bad_values_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=rf"^{field}="):
        TaskQueueConfig(**{field: value})


def test_config_defaults() -> None:
    config = TaskQueueConfig()
    assert (config.visibility_timeout, config.synchronous, config.max_claim_batch) == (
        30.0, "NORMAL", 1000)
    assert config.retry == RetryPolicy(max_attempts=None, base_delay=1.0, max_delay=300.0)


# -- the pure scheduling rules -------------------------------------------------


@given(
    max_attempts=st.none() | st.integers(1, 50),
    attempts_made=st.integers(1, 200),
    base=st.floats(0, 10),
    spread=st.floats(0, 1000),
    jitter=st.sampled_from(["full", "equal", "none"]),
    seed=st.integers(0, 2**32),
)
def test_schedule_retries_within_the_cap_until_attempts_run_out(
    max_attempts: int | None, attempts_made: int, base: float, spread: float, jitter: Any,
    seed: int,
) -> None:
    policy = RetryPolicy(max_attempts=max_attempts, base_delay=base, max_delay=base + spread,
                         jitter=jitter)
    schedule = TaskSchedule(policy, clock=lambda: T0, rng=random.Random(seed))

    decision = schedule.after_failure(attempts_made)

    if max_attempts is not None and attempts_made >= max_attempts:
        assert decision == GiveUp("max_attempts", attempts_made)
    else:
        assert isinstance(decision, RetryAt)
        assert 0 <= decision.delay <= policy.cap(attempts_made) <= policy.max_delay
        assert decision.not_before == T0 + decision.delay


def test_schedule_validates_its_inputs() -> None:
    schedule = TaskSchedule(RetryPolicy(), clock=lambda: T0, rng=random.Random(0))
    with pytest.raises(ConfigError, match="attempts_made"):
        schedule.after_failure(0)
    with pytest.raises(ConfigError, match="delay"):
        schedule.due_at(-1)
    assert schedule.due_at(5) == T0 + 5


def test_queue_enqueue_with_a_delay_is_due_later(store: TaskStore) -> None:
    tasks = TaskQueue(store, clock=lambda: T0)
    tasks.enqueue(Q, "later", delay=30.0)

    assert tasks.claim(Q, "w1") == []
    assert store.stats(Q, T0).delayed == 1
    assert payloads(store.claim(Q, "w1", limit=1, now=T0 + 30)) == ["later"]
    with pytest.raises(ConfigError, match="delay"):
        tasks.enqueue(Q, "x", delay=-1.0)


def test_sqlite_call_waiting_past_write_timeout_raises_and_is_withdrawn(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path, write_timeout=0.2)
    gate = _WriteGate(tmp_path / "tasks.sqlite3", store)
    leader_ids: list[str] = []
    leader = threading.Thread(target=lambda: leader_ids.extend(enqueue(store, "first")))
    leader.start()
    wait_until(submitted_at_least(store, 1))

    with pytest.raises(TaskStoreTimeout, match=r"write_timeout=0\.2s"):
        enqueue(store, "second")

    gate.open()
    leader.join(5.0)
    assert payloads(store.claim(Q, "w1", limit=10, now=T0)) == ["first"]
    store.close()


def test_sqlite_lock_held_by_another_process_fails_the_call_not_the_store(
    tmp_path: Path,
) -> None:
    store = sqlite_store(tmp_path, busy_timeout=0.1)
    gate = _WriteGate(tmp_path / "tasks.sqlite3", store)

    with pytest.raises(TaskStoreError, match="database is locked") as caught:
        enqueue(store, "x")

    assert "nothing from this call was committed" in str(caught.value)
    gate.open()
    enqueue(store, "y")
    assert payloads(store.claim(Q, "w1", limit=10, now=T0)) == ["y"]
    store.close()
