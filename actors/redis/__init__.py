"""The Redis backends, where they were first published; they live in `actors.backends.redis`.

Kept so `from actors.redis import RedisTaskStore` goes on working. Needs the
`redis` package (`pip install 'stanchion[redis]'`). See docs/backends.md.
"""

from actors.backends.redis import (
    RedisGroupRegistry,
    RedisSagaLog,
    RedisTaskStore,
    RedisUnavailable,
)

__all__ = ["RedisGroupRegistry", "RedisSagaLog", "RedisTaskStore", "RedisUnavailable"]
