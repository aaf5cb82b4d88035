"""The Redis store's key layout 2: tasks stored by layout 1 are moved on first use, and
the per-claim lease records (one expiry per claim call) behave as per-task leases did."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from actors import capture_logs
from actors.backends.redis import RedisTaskStore, RedisUnavailable, _taskstore as taskstore
from actors.retry import RetryPolicy
from actors.taskqueue import NewTask, TaskQueueConfig, TaskStoreError
from tests.backends.redis_layout import overwrite_task, stream_keys
from tests.conftest import named

Q = "layout"
T = 1_000_000.0
VT = 30.0
TIMEOUT = 30.0
TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
_prefixes = itertools.count()


@pytest.fixture
def prefix() -> str:
    return f"layout{next(_prefixes)}"


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    opened = redis.Redis.from_url(redis_url, decode_responses=True)
    yield opened
    opened.close()


Stores = Callable[..., RedisTaskStore]


@pytest.fixture
def stores(redis_url: str, prefix: str) -> Iterator[Stores]:
    """Opens stores on the test's key prefix (visibility timeout `VT`, other settings and
    `retries` as given); each is closed after the test."""
    opened: list[RedisTaskStore] = []

    def make(*, retries: int = 3, **config: Any) -> RedisTaskStore:
        opened.append(RedisTaskStore(redis_url, TaskQueueConfig(visibility_timeout=VT, **config),
                                     prefix=prefix, retries=retries))
        return opened[-1]

    yield make
    for store in opened:
        store.close()


class Layout1:
    """Writes what stanchion up to 0b813d4 wrote (key layout 1) for queue `Q`: a task's
    fields in hashes, its stream entry `{"id": id}` in stream `s<priority>`."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client, self.prefix = client, prefix
        self.base = f"{prefix}:tq:{Q}:"
        self.where = f"{prefix}:tq:where"
        for p in range(10):
            client.xgroup_create(f"{self.base}s{p}", "workers", id="0", mkstream=True)

    def enqueue(self, payload: str, *, priority: int = 0, at: float = T,
                not_before: float | None = None, trace: str | None = None) -> str:
        c, b = self.client, self.base
        task_id = str(c.incr(f"{self.prefix}:tq:ids"))
        c.hset(self.where, task_id, Q)
        c.hset(b + "payload", task_id, payload)
        meta = f"{priority} {at!r}" + (f" {trace}" if trace else "")
        c.hset(b + "meta", task_id, meta)
        c.hset(b + "notbefore", task_id, repr(not_before or at))
        c.zadd(b + "enq", {task_id: at})
        if not_before is not None and not_before > at:
            c.zadd(b + "delayed", {task_id: not_before})
        else:
            entry = c.xadd(f"{b}s{priority}", {"id": task_id})
            c.hset(b + "entry", task_id, f"{priority} {entry}")
        return task_id

    def claim(self, priority: int, worker: str, expires: float) -> list[str]:
        """Lease every entry of one stream, as layout 1's claim recorded it."""
        c, b = self.client, self.base
        read = c.xreadgroup("workers", worker, {f"{b}s{priority}": ">"}, count=100) or []
        ids = [fields["id"] for _, fields in read[0][1]] if read else []
        for task_id in ids:
            c.hincrby(b + "attempts", task_id, 1)
            c.hset(b + "token", task_id, "oldtoken")
            c.hset(b + "owner", task_id, worker)
            c.zadd(b + "leases", {task_id: expires})
        return ids

    def bury(self, task_id: str, reason: str, at: float) -> None:
        c, b = self.client, self.base
        entry = c.hget(b + "entry", task_id)
        if entry:
            priority, entry_id = entry.split(" ")
            c.xack(f"{b}s{priority}", "workers", entry_id)
            c.xdel(f"{b}s{priority}", entry_id)
        for key in ("entry", "token", "owner"):
            c.hdel(b + key, task_id)
        c.zrem(b + "leases", task_id)
        c.zrem(b + "enq", task_id)
        c.hset(b + "error", task_id, "it broke")
        c.hset(b + "dead", task_id, f"{reason} {at!r}")
        c.zadd(b + "dead_order", {task_id: int(task_id)})


def test_tasks_of_layout_1_are_moved_on_first_use_and_none_is_lost(
        stores: Stores, prefix: str, client: redis.Redis) -> None:
    old = Layout1(client, prefix)
    due = old.enqueue('{"n":1}', trace=TRACE)
    high = old.enqueue('{"n":2}', priority=7, at=T + 1)
    in_flight = old.enqueue('{"n":3}', priority=5, at=T - 5)
    assert old.claim(5, "old-worker", T + VT) == [in_flight]  # its worker is gone
    delayed = old.enqueue('{"n":4}', at=T, not_before=T + 60)
    dead = old.enqueue('{"n":5}', priority=2)
    old.bury(dead, "rejected", T + 2)
    store = stores()
    stats = store.stats(Q, T + 10)  # the first use moves every task
    assert (stats.depth, stats.in_flight, stats.delayed, stats.dead_lettered) == (3, 0, 1, 1)
    assert stats.oldest_age_s == 15.0  # the released one, enqueued at T - 5
    claimed = store.claim(Q, "w1", 10, T + 10)
    assert [c.task.id for c in claimed] == [high, in_flight, due]
    by_id = {c.task.id: c.task for c in claimed}
    assert (by_id[due].payload, by_id[due].trace) == ({"n": 1}, TRACE)
    assert (by_id[due].enqueued_at, by_id[due].attempts) == (T, 1)
    assert by_id[in_flight].attempts == 2  # its first claim counts
    assert by_id[high].priority == 7
    assert store.ack_many([c.lease for c in claimed]) == [True] * 3
    assert [c.task.id for c in store.claim(Q, "w1", 10, T + 61)] == [delayed]
    [letter] = store.list_dead_letters(Q)
    assert (letter.task.id, letter.reason, letter.task.last_error) == (dead, "rejected",
                                                                  "it broke")
    store.replay_dead_letter(dead, T + 70)
    [replayed] = store.claim(Q, "w1", 10, T + 70)
    assert (replayed.task.id, replayed.task.payload) == (dead, {"n": 5})
    leftover = [key for key in client.keys(f"{prefix}:tq:{Q}:*")
                if key.rsplit(":", 1)[1] in {"entry", "token", "owner", "leases",
                                             *(f"s{p}" for p in range(10))}]
    assert leftover == []
    assert client.get(f"{prefix}:tq:{Q}:layout") == "2"
    assert client.hkeys(f"{prefix}:tq:where") == []  # live tasks need none; the dead one
    # was replayed


def test_a_task_an_old_producer_writes_after_the_move_is_found_by_a_claim(
        stores: Stores, prefix: str, client: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    store = stores()
    store.enqueue_many([NewTask(Q, "new")], T)
    assert [c.task.payload for c in store.claim(Q, "w1", 10, T)] == ["new"]
    late = Layout1(client, prefix).enqueue('"late"')  # a rolling upgrade
    assert store.claim(Q, "w1", 10, T) == []  # looked a moment ago: not yet
    monkeypatch.setattr(taskstore, "LAYOUT_1_LOOK_INTERVAL", 0.0)
    [found] = store.claim(Q, "w1", 10, T)
    assert (found.task.id, found.task.payload) == (late, "late")


def test_the_move_runs_in_chunks_and_a_second_store_finds_it_done(
        stores: Stores, prefix: str, client: redis.Redis) -> None:
    old = Layout1(client, prefix)
    ids = [old.enqueue(f'{{"n":{n}}}', priority=n % 3) for n in range(1_234)]  # 3 chunks
    first, second = stores(), stores()
    assert first.stats(Q, T).depth == len(ids)
    assert second.stats(Q, T).depth == len(ids)
    got = [c.task.id for store in (second, first) for c in store.claim(Q, "w", 1_000, T)]
    assert sorted(got, key=int) == ids


def test_two_stores_moving_one_queue_at_once_neither_lose_nor_double_a_task(
        stores: Stores, prefix: str, client: redis.Redis) -> None:
    old = Layout1(client, prefix)
    ids = [old.enqueue(f'{{"n":{n}}}', priority=n % 3) for n in range(3_000)]  # 6 chunks
    movers = [stores(), stores()]
    start = threading.Barrier(len(movers))
    moved_by: list[int] = []

    def first_use(store: RedisTaskStore) -> None:
        start.wait(TIMEOUT)
        moved_by.append(store.stats(Q, T).depth)

    threads = [threading.Thread(target=first_use, args=(store,)) for store in movers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert moved_by == [len(ids)] * 2  # each saw every task moved when it was done
    got: list[str] = []
    while batch := movers[0].claim(Q, "w", 1_000, T):
        got += (c.task.id for c in batch)
    assert sorted(got, key=int) == ids


def test_an_expired_claim_is_taken_over_in_part_and_the_rest_later(
        stores: Stores) -> None:
    store = stores()
    ids = store.enqueue_many([NewTask(Q, n) for n in range(5)], T)
    first = store.claim(Q, "w1", 5, T)
    assert store.stats(Q, T + VT + 1).depth == 5  # all five are due again
    part = store.claim(Q, "w2", 2, T + VT + 1)
    assert [c.task.id for c in part] == ids[:2]
    assert [c.task.attempts for c in part] == [2, 2]
    stats = store.stats(Q, T + VT + 1)
    assert (stats.depth, stats.in_flight) == (3, 2)
    rest = store.claim(Q, "w3", 10, T + VT + 2)
    assert [c.task.id for c in rest] == ids[2:]
    assert store.ack_many([c.lease for c in first]) == [False] * 5  # held by others
    assert store.ack_many([c.lease for c in part + rest]) == [True] * 5
    stats = store.stats(Q, T + VT + 2)
    assert (stats.depth, stats.in_flight, stats.oldest_age_s) == (0, 0, 0.0)


def test_a_task_whose_attempts_are_spent_on_takeover_is_dead_lettered(
        stores: Stores) -> None:
    store = stores(retry=RetryPolicy(max_attempts=1))
    [task_id] = store.enqueue_many([NewTask(Q, "once")], T)
    store.claim(Q, "w1", 1, T)  # w1 dies holding it
    with capture_logs() as events:
        assert store.claim(Q, "w2", 1, T + VT + 1) == []
    [dead] = named(events, "task.dead_lettered")
    assert (dead["task_id"], dead["reason"], dead["attempts"]) == (task_id, "max_attempts", 1)
    assert "'w1'" in dead["error"]
    [letter] = store.list_dead_letters(Q)
    assert letter.task.payload == "once"
    assert store.stats(Q, T + VT + 1).in_flight == 0


def test_a_leased_entry_deleted_by_hand_is_reported_not_fatal(
        stores: Stores, client: redis.Redis) -> None:
    store = stores()
    store.enqueue_many([NewTask(Q, "gone"), NewTask(Q, "kept")], T)
    store.claim(Q, "w1", 2, T)
    [gone_entry, _] = client.xrange(stream_keys(store, Q)[-1])
    client.xdel(stream_keys(store, Q)[-1], gone_entry[0])
    with capture_logs() as events:
        taken = store.claim(Q, "w2", 10, T + VT + 1)
    assert [c.task.payload for c in taken] == ["kept"]
    [report] = named(events, "task.dead_lettered")
    assert "stream entry is gone" in report["error"]
    assert store.stats(Q, T + VT + 1).in_flight == 1


def test_the_oldest_age_counts_retried_and_delayed_tasks_behind_newer_entries(
        stores: Stores) -> None:
    store = stores()
    store.enqueue_many([NewTask(Q, "first")], T)
    [claimed] = store.claim(Q, "w1", 1, T)
    store.enqueue_many([NewTask(Q, "second")], T + 10)
    store.enqueue_many([NewTask(Q, "later", not_before=T + 100)], T + 20)
    assert store.retry(claimed.lease, T + 50, "busy")
    assert store.stats(Q, T + 30).oldest_age_s == 30.0  # "first", waiting out its backoff
    assert [c.task.payload for c in store.claim(Q, "w1", 10, T + 60)] == ["second", "first"]
    assert store.stats(Q, T + 60).oldest_age_s == 60.0  # "first", back in its stream


# -- a lone task: XADD + SETBIT on the writer's connection, no script ---------------------


def _kill_writer(store: RedisTaskStore, client: redis.Redis) -> None:
    writer = store._writer
    assert writer is not None
    client.client_kill_filter(_id=writer.client_id())


def test_a_lone_enqueue_on_a_dropped_link_is_sent_again_and_stored_once(
        stores: Stores, client: redis.Redis) -> None:
    store = stores()
    [first] = store.enqueue_many([NewTask(Q, "first")], T)
    _kill_writer(store, client)
    [second] = store.enqueue_many([NewTask(Q, "second")], T)
    assert second != first
    claimed = store.claim(Q, "w1", 10, T)
    assert [(c.task.id, c.task.payload) for c in claimed] == [(first, "first"),
                                                             (second, "second")]


def test_a_lone_enqueue_past_its_retries_is_unavailable_and_the_next_one_works(
        stores: Stores, client: redis.Redis) -> None:
    store = stores(retries=0)
    store.enqueue_many([NewTask(Q, "first")], T)
    _kill_writer(store, client)
    with pytest.raises(RedisUnavailable):
        store.enqueue_many([NewTask(Q, "lost")], T)
    store.enqueue_many([NewTask(Q, "second")], T)
    assert [c.task.payload for c in store.claim(Q, "w1", 10, T)] == ["first", "second"]


def test_a_lone_enqueue_to_a_foreign_key_is_refused_typed_and_the_link_stays_clean(
        stores: Stores, client: redis.Redis) -> None:
    store = stores()
    store.enqueue_many([NewTask(Q, "first")], T)
    stream = stream_keys(store, Q)[-1]
    kept = client.dump(stream)
    client.delete(stream)
    client.set(stream, "not a stream")  # written by another program
    with pytest.raises(TaskStoreError, match="WRONGTYPE"):
        store.enqueue_many([NewTask(Q, "refused")], T)
    client.delete(stream)
    client.restore(stream, 0, kept)
    store.enqueue_many([NewTask(Q, "second")], T)  # no reply of the refused one left over
    assert [c.task.payload for c in store.claim(Q, "w1", 10, T)] == ["first", "second"]


@pytest.mark.parametrize("attempts", ["1e999", "-1", "2.5", " 1", "9" * 16])
def test_attempts_no_claim_wrote_quarantine_their_task_alone(
        stores: Stores, attempts: str) -> None:
    store = stores()
    odd, good = store.enqueue_many([NewTask(Q, "odd"), NewTask(Q, "good")], T)
    overwrite_task(store, Q, odd, attempts=attempts)
    with capture_logs() as events:
        claimed = store.claim(Q, "w1", 10, T)
    assert [c.task.id for c in claimed] == [good]
    [report] = named(events, "task.dead_lettered")
    assert (report["task_id"], report["error"]) == (odd, "task attempts is malformed")
    [letter] = store.list_dead_letters(Q)
    assert (letter.task.id, letter.task.payload) == (odd, "odd")


def test_a_damaged_claim_record_does_not_stop_acks_or_claims(
        stores: Stores, prefix: str, client: redis.Redis) -> None:
    store = stores()
    store.enqueue_many([NewTask(Q, n) for n in range(3)], T)
    claimed = store.claim(Q, "w1", 3, T)
    token = claimed[0].lease.token.partition("/")[0]
    client.hset(f"{prefix}:tq:{Q}:bleft", token, "garbage")
    assert store.ack_many([c.lease for c in claimed[:2]]) == [True, True]
    [taken_over] = store.claim(Q, "w2", 3, T + VT + 1)  # the one left is still found
    assert taken_over.task.id == claimed[2].task.id
    assert store.ack_many([taken_over.lease]) == [True]
    stats = store.stats(Q, T + VT + 1)
    assert (stats.depth, stats.in_flight) == (0, 0)
    assert client.zcard(f"{prefix}:tq:{Q}:batches") == 0  # every claim is forgotten


def test_reading_a_queue_that_does_not_exist_creates_nothing(
        stores: Stores, prefix: str, client: redis.Redis) -> None:
    store = stores()
    assert store.stats("nobody-writes-here", T).depth == 0
    assert store.list_dead_letters("nobody-writes-here") == []
    assert client.keys(f"{prefix}:*") == []


def test_a_task_whose_lease_record_is_damaged_is_taken_over_after_its_lease(
        stores: Stores, prefix: str, client: redis.Redis) -> None:
    store = stores()
    store.enqueue_many([NewTask(Q, "damaged"), NewTask(Q, "fine")], T)
    damaged, fine = store.claim(Q, "w1", 2, T)
    client.hset(f"{prefix}:tq:{Q}:lease", damaged.task.id, "garbage")
    assert store.ack_many([damaged.lease, fine.lease]) == [False, True]
    assert store.claim(Q, "w2", 10, T + 1) == []  # not before its lease ends
    [again] = store.claim(Q, "w2", 10, T + VT + 1)
    assert (again.task.id, again.task.attempts) == (damaged.task.id, 2)
    assert store.ack_many([again.lease]) == [True]
    stats = store.stats(Q, T + VT + 1)
    assert (stats.depth, stats.in_flight, stats.oldest_age_s) == (0, 0, 0.0)
