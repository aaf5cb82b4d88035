"""Writing straight into a `RedisTaskStore`'s keys, as a foreign writer or damage would."""

from __future__ import annotations

from typing import Any

import redis

from actors.backends import RedisTaskStore

# A task's stored fields, by the names the stores' tests use, as a stream entry names them.
ENTRY_FIELDS = {"payload": "d", "meta": "m", "notbefore": "n", "attempts": "a", "error": "e"}


def stream_keys(store: RedisTaskStore, queue: str) -> list[str]:
    """The queue's streams, priority 9 first."""
    return [f"{store.prefix}:tq:{queue}:p{p}" for p in range(9, -1, -1)]


def overwrite_task(store: RedisTaskStore, queue: str, task_id: str, **columns: Any) -> None:
    """Set stored fields of a task that waits in its stream (none claimed from it yet)
    or in the hashes (delayed, dead), keeping the stream's order."""
    client = redis.Redis.from_url(store.url)  # bytes: an entry may hold any
    try:
        for key in stream_keys(store, queue):
            entries = client.xrange(key)
            if not any(fields.get(b"i") == task_id.encode() for _, fields in entries):
                continue
            assert not client.xpending(key, "workers")["pending"], "rewrite before a claim"
            pipe = client.pipeline(transaction=True)
            pipe.delete(key)
            for entry_id, fields in entries:
                if fields.get(b"i") == task_id.encode():
                    fields.update({ENTRY_FIELDS[name].encode(): value
                                   for name, value in columns.items()})
                pipe.xadd(key, fields, id=entry_id)
            pipe.xgroup_create(key, "workers", id="0", mkstream=True)
            pipe.execute()
            return
        for name, value in columns.items():
            assert client.hexists(f"{store.prefix}:tq:{queue}:meta", task_id), task_id
            client.hset(f"{store.prefix}:tq:{queue}:{name}", task_id, value)
    finally:
        client.close()
