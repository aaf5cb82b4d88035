"""The Redis claim reads only the priority streams that may hold unread entries."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
import redis

from actors import capture_logs
from actors.backends.redis import RedisTaskStore
from actors.taskqueue import NewTask, TaskQueueConfig, TaskStoreClosed
from tests.conftest import named

Q = "streams"
T = 1_000_000.0
_prefixes = itertools.count()


@pytest.fixture
def store(redis_url: str) -> Iterator[RedisTaskStore]:
    opened = RedisTaskStore(redis_url, TaskQueueConfig(visibility_timeout=30.0),
                            prefix=f"claimstreams{next(_prefixes)}")
    yield opened
    opened.close()


def xreadgroup_calls(client: redis.Redis) -> int:
    stats = client.info("commandstats").get("cmdstat_xreadgroup", {})
    return int(stats.get("calls", 0))


def test_a_claim_reads_only_the_streams_that_were_written(store: RedisTaskStore) -> None:
    client = redis.Redis.from_url(store.url)
    try:
        assert store.claim(Q, "w1", 10, T) == []  # reads all ten once: nothing yet
        store.enqueue_many([NewTask(Q, {"n": 1}, priority=3)], T)
        before = xreadgroup_calls(client)
        [claimed] = store.claim(Q, "w1", 10, T + 0.5)
        assert claimed.task.payload == {"n": 1}
        assert xreadgroup_calls(client) - before == 1  # stream p3 alone, not all ten
        before = xreadgroup_calls(client)
        assert store.claim(Q, "w1", 10, T + 0.6) == []  # p3 was drained: no stream read
        assert xreadgroup_calls(client) == before
    finally:
        client.close()


def test_a_lost_bitmap_still_finds_every_task_in_priority_order(
        store: RedisTaskStore) -> None:
    assert store.claim(Q, "w1", 10, T) == []  # every stream read a moment ago
    store.enqueue_many([NewTask(Q, "low", priority=0), NewTask(Q, "high", priority=7)], T)
    client = redis.Redis.from_url(store.url)
    try:
        client.delete(f"{store.prefix}:tq:{Q}:ready")  # the `ready` bitmap (evicted, say)
    finally:
        client.close()
    claimed = store.claim(Q, "w1", 10, T + 0.1)
    assert [c.task.payload for c in claimed] == ["high", "low"]


def test_an_entry_another_program_added_is_dropped_within_a_second(
        store: RedisTaskStore) -> None:
    assert store.claim(Q, "w1", 10, T) == []  # every stream read; the marks are clear
    client = redis.Redis.from_url(store.url)
    try:
        client.xadd(f"{store.prefix}:tq:{Q}:p0", {"not": "ours"})  # without the mark
    finally:
        client.close()
    with capture_logs() as events:
        assert store.claim(Q, "w1", 10, T + 1.0) == []
    [dropped] = named(events, "task.dead_lettered")
    assert dropped["task_id"].startswith("stream entry")


@pytest.mark.parametrize(("ready", "scanned"), [
    (b"\x00\x00", "nan"),   # every mark clear, and a scan time no clock compares with
    (b"\x00\x00", "inf"),
    (b"garbage", "x"),      # a foreign string in both keys
])
def test_a_foreign_bitmap_or_scan_time_still_finds_every_task(
        store: RedisTaskStore, ready: bytes, scanned: str) -> None:
    store.enqueue_many([NewTask(Q, "low", priority=0), NewTask(Q, "high", priority=7)], T)
    client = redis.Redis.from_url(store.url)
    try:
        ready_key, scanned_key = (f"{store.prefix}:tq:{Q}:{name}" for name in ("ready", "scanned"))
        client.set(ready_key, ready)
        client.set(scanned_key, scanned)
    finally:
        client.close()
    claimed = store.claim(Q, "w1", 10, T + 0.1)
    assert [c.task.payload for c in claimed] == ["high", "low"]


def test_a_claim_after_close_is_refused(store: RedisTaskStore) -> None:
    store.close()
    with pytest.raises(TaskStoreClosed):
        store.claim(Q, "w1", 10, T)
