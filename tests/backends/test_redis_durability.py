"""Redis durability: with AOF on, an enqueue that returned survives a SIGKILL of redis-server."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import redis

from actors.backends.redis import RedisTaskStore, RedisUnavailable
from actors.taskqueue import NewTask, TaskQueueConfig, TaskStoreError
from tests.redis_server import redis_server

Q = "profile->search"


@pytest.mark.slow
def test_acknowledged_enqueues_survive_a_redis_crash_with_aof_always(tmp_path: Path) -> None:
    with redis_server(tmp_path, appendonly=True, appendfsync="always") as server:
        store = RedisTaskStore(server.url, TaskQueueConfig(), retries=1, socket_timeout=1.0)
        accepted: list[str] = []
        refused = 0
        progress = threading.Condition()
        stop = threading.Event()

        def produce() -> None:
            nonlocal refused
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    ids = store.enqueue_many([NewTask(Q, {"n": n})], now=1.0)
                except RedisUnavailable:
                    refused += 1  # not acknowledged: may or may not be stored
                    continue
                with progress:
                    accepted.extend(ids)
                    progress.notify_all()

        def reached(count: int) -> bool:
            with progress:
                return progress.wait_for(lambda: len(accepted) >= count, 30)

        producer = threading.Thread(target=produce)
        producer.start()
        assert reached(300)
        run_id = _run_id(server.url)
        server.kill()  # SIGKILL mid-run: Redis gets no chance to flush anything more
        server.start()  # same port and directory: Redis replays its append-only file
        assert _run_id(server.url) != run_id
        assert reached(len(accepted) + 100)  # the producer reconnected by itself
        stop.set()
        producer.join(30)

        claimed_ids: set[str] = set()
        while True:
            batch = store.claim(Q, "checker", limit=1000, now=2.0)
            if not batch:
                break
            claimed_ids.update(c.task.id for c in batch)
        missing = set(accepted) - claimed_ids
        assert not missing, f"{len(missing)} acknowledged tasks lost, e.g. {sorted(missing)[:5]}"
        store.close()


def _run_id(url: str) -> str:
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        return str(client.info("server")["run_id"])
    finally:
        client.close()


def test_unreachable_redis_is_a_clear_typed_error(tmp_path: Path) -> None:
    with redis_server(tmp_path) as server:
        store = RedisTaskStore(server.url, retries=1, socket_timeout=0.5)
        [task_id] = store.enqueue_many([NewTask(Q, {"v": 1})], now=1.0)
        assert task_id
        server.stop()
        with pytest.raises(RedisUnavailable) as info:
            store.enqueue_many([NewTask(Q, {"v": 2})], now=1.0)
        assert isinstance(info.value, TaskStoreError)
        message = str(info.value)
        assert f"Redis at {server.url} is unavailable during enqueue" in message
        assert "may or may not have taken effect" in message
        store.close()


def test_password_is_not_shown_in_errors() -> None:
    error = RedisUnavailable("claim", "redis://user:s3cret@db.internal:6379/0", OSError("down"))
    assert "s3cret" not in str(error)
    assert "redis://***@db.internal:6379/0" in str(error)
