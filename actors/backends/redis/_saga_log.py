"""The saga log on Redis, so a coordinator can recover sagas started by another process."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import redis.exceptions

from actors.backends.redis._client import connect
from actors.backends.redis._errors import RedisUnavailable
from actors.core import require
from actors.saga.storage import (
    ENDS,
    BatchedSagaLog,
    DuplicateSaga,
    Op,
    Saga,
    SagaLogClosed,
    SagaLogError,
    SagaStatus,
)

R = TypeVar("R")

# KEYS: state hash, status hash, all-sagas zset, old status zset prefix
# ARGV: id, status, state, created_at, create (1) or save (0)
_WRITE = """
local id, status, state, created, create = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if create == '1' then
  if redis.call('HSETNX', KEYS[1], id, state) == 0 then return 0 end
else
  redis.call('HSET', KEYS[1], id, state)
end
local old = redis.call('HGET', KEYS[2], id)
if old ~= status then
  if old then redis.call('ZREM', KEYS[4] .. old, id) end
  redis.call('HSET', KEYS[2], id, status)
  redis.call('ZADD', KEYS[4] .. status, created, id)
end
redis.call('ZADD', KEYS[3], 'NX', created, id)
return 1
"""


class RedisSagaLog(BatchedSagaLog):
    """Sagas in Redis: a hash of JSON states, indexed by status in sorted sets.

    Same contract as `SqliteSagaLog` (the `SagaLog` protocol); writes waiting
    at the same moment go to Redis in one pipeline, and each `done` is called
    once Redis has applied it. Durability is Redis's: with `appendonly yes`
    and `appendfsync always` an acknowledged write survives a Redis crash;
    with `everysec` up to a second may be lost (docs/scaling.md).

    Args:
        url: e.g. `redis://127.0.0.1:6379/0`.
        prefix: the key prefix, so several systems can share one Redis.
        socket_timeout: seconds before a Redis call is abandoned.
        retries: how often a call is retried with backoff when the connection drops;
            past them a write fails with `RedisUnavailable` (the coordinator
            retries it; see docs/saga.md).
        max_batch: most writes per pipeline.
    """

    def __init__(self, url: str, *, prefix: str = "stanchion", socket_timeout: float = 5.0,
                 retries: int = 3, max_batch: int = 1000) -> None:
        require(isinstance(prefix, str) and bool(prefix), "prefix", prefix, "a non-empty string")
        self.url = url
        self.prefix = prefix
        self._client = connect(url, socket_timeout=socket_timeout, retries=retries)
        self._write = self._client.register_script(_WRITE)
        base = f"{prefix}:saga:"
        self._keys = [base + "state", base + "status", base + "all", base + "by:"]
        super().__init__(max_batch=max_batch, name="saga-log-redis-writer")

    def _commit(self, batch: list[Op]) -> list[BaseException | None]:
        def run() -> list[object]:
            pipe = self._client.pipeline(transaction=False)
            for kind, stored, _ in batch:
                saga_id, _, status, state, created, _ = stored
                self._write(keys=self._keys, client=pipe,
                            args=[saga_id, status, state, repr(created),
                                  "1" if kind == "create" else "0"])
            # Each script is atomic on its own: one that fails (a key of the wrong
            # type) fails only its own write, never the others in the pipeline.
            return list(pipe.execute(raise_on_error=False))

        try:
            answers = self._call("write", run)
        except RedisUnavailable as exc:
            return [exc] * len(batch)
        results: list[BaseException | None] = []
        for op, answer in zip(batch, answers, strict=True):
            if isinstance(answer, redis.exceptions.ResponseError):
                results.append(SagaLogError("a write", answer))
            elif isinstance(answer, Exception):
                results.append(answer)
            else:
                results.append(DuplicateSaga(op[1][0]) if answer == 0 else None)
        return results

    # -- reads -------------------------------------------------------------------------------

    def _states(self, ids: list[str]) -> list[Saga]:
        if not ids:
            return []
        texts = self._call("read", lambda: self._client.hmget(self._keys[0], ids))
        found = (self._quarantine.load(saga_id, text)
                 for saga_id, text in zip(ids, texts, strict=True) if text is not None)
        return [saga for saga in found if saga is not None]

    def get(self, saga_id: str) -> Saga | None:
        found = self._states([saga_id])
        return found[0] if found else None

    def by_status(self, status: SagaStatus | None = None, limit: int = 1000) -> list[Saga]:
        key = self._keys[2] if status is None else self._keys[3] + str(status)
        ids = self._call("read", lambda: self._client.zrange(key, 0, limit - 1))
        return self._states([str(saga_id) for saga_id in ids])

    def unfinished(self) -> list[Saga]:
        sagas: list[Saga] = []
        for status in (s for s in SagaStatus if s not in ENDS):
            try:
                sagas += self.by_status(status, 10**9)
            except SagaLogError as exc:
                # One index key of the wrong type (another program wrote it): the
                # sagas of the other statuses still recover.
                self._quarantine.add(self._keys[3] + str(status), str(exc.cause), "")
        return sorted(sagas, key=lambda saga: saga.created_at)

    def close(self) -> None:
        self._writes.close()
        self._client.close()

    def _call(self, operation: str, action: Callable[[], R]) -> R:
        try:
            return action()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise RedisUnavailable(f"saga log {operation}", self.url, exc) from exc
        except redis.exceptions.ResponseError as exc:  # e.g. WRONGTYPE: not what we wrote
            raise SagaLogError(f"a {operation} of the Redis saga log at {self.prefix!r}",
                               exc) from exc


__all__ = ["RedisSagaLog", "SagaLogClosed"]
