"""Storage backends: every task store, saga log and durable group registry, by backend.

One axis: `open_backend(url)` picks the backend (`memory://`,
`sqlite:///path/to/dir`, `redis://host:port/db`) and its `Backend` opens the
task stores, the saga log and the bus groups together. The patterns define
the protocols (`actors.taskqueue.TaskStore`, `actors.saga.SagaLog`,
`actors.bus.GroupRegistry`) and never import a backend. The Redis classes
need `pip install 'stanchion[redis]'` and load on first use. See
docs/backends.md.
"""

from typing import TYPE_CHECKING

from actors.backends._backend import Backend, BackendNotInstalled, open_backend
from actors.backends.memory import MemorySagaLog, MemoryTaskStore
from actors.backends.sqlite import SqliteSagaLog, SqliteTaskStore, WriteStats
from actors.core import lazy_names

if TYPE_CHECKING:
    from actors.backends.redis import (
        RedisGroupRegistry as RedisGroupRegistry,
        RedisSagaLog as RedisSagaLog,
        RedisTaskStore as RedisTaskStore,
        RedisUnavailable as RedisUnavailable,
    )

# The Redis names import the redis package: loaded on first use, so the
# backends work without the extra.
__getattr__ = lazy_names(__name__, globals(), lazy=dict.fromkeys(
    ("RedisGroupRegistry", "RedisSagaLog", "RedisTaskStore", "RedisUnavailable"),
    "actors.backends.redis"))

__all__ = [
    "Backend",
    "BackendNotInstalled",
    "MemorySagaLog",
    "MemoryTaskStore",
    "RedisGroupRegistry",
    "RedisSagaLog",
    "RedisTaskStore",
    "RedisUnavailable",
    "SqliteSagaLog",
    "SqliteTaskStore",
    "WriteStats",
    "open_backend",
]
