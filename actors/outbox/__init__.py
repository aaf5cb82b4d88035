"""The transactional outbox: announce a state change if, and only if, it committed.

A service writes its announcement as an outbox row in the same transaction as
its state change (`SqliteOutbox.add` on its SQLite connection,
`RedisOutbox.add` on its `MULTI` pipeline); an `OutboxRelay` actor publishes
the rows to the event bus or the task queue, in order per aggregate, at least
once, and marks them sent; consumers dedupe by event id (`Deduplicator`). See
docs/outbox.md.
"""

from actors.outbox._config import OutboxConfig
from actors.outbox._dedupe import Deduplicator
from actors.outbox._destinations import to_bus, to_queue
from actors.outbox._model import (
    OutboxError,
    OutboxMessage,
    OutboxPayloadNotSerializable,
    OutboxStats,
    OutboxStore,
)
from actors.outbox._relay import OutboxMetrics, OutboxRelay, Publish, RelayActor, RelayCore

__all__ = [
    "Deduplicator",
    "OutboxConfig",
    "OutboxError",
    "OutboxMessage",
    "OutboxMetrics",
    "OutboxPayloadNotSerializable",
    "OutboxRelay",
    "OutboxStats",
    "OutboxStore",
    "Publish",
    "RelayActor",
    "RelayCore",
    "to_bus",
    "to_queue",
]
