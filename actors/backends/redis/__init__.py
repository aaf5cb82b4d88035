"""Backends on Redis, for when one process or one machine is not enough.

`RedisTaskStore` implements the task queue's `TaskStore` on Redis Streams with
a consumer group; `RedisGroupRegistry` shares the event bus's durable
subscriber groups between processes; `RedisSagaLog` keeps the saga log, so a
coordinator on another process can recover the sagas. Needs the `redis`
package (`pip install stanchion[redis]`). See docs/backends.md.
"""

try:
    import redis as _redis  # noqa: F401 - here only to say which extra is missing
except ImportError as exc:
    if exc.name != "redis":
        raise
    raise ModuleNotFoundError(
        "actors.backends.redis (the Redis backends) needs the 'redis' package, which is not "
        "installed: pip install 'stanchion[redis]'", name="redis") from None

from actors.backends.redis._errors import RedisUnavailable
from actors.backends.redis._registry import RedisGroupRegistry
from actors.backends.redis._saga_log import RedisSagaLog
from actors.backends.redis._taskstore import RedisTaskStore

__all__ = ["RedisGroupRegistry", "RedisSagaLog", "RedisTaskStore", "RedisUnavailable"]
