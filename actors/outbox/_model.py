"""The outbox's data: a message waiting to be announced, the store contract, stats."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from actors.core import DataNotSerializable, StanchionError


class OutboxError(StanchionError):
    """The outbox could not be read or written (the store failed, or it was misused)."""


class OutboxPayloadNotSerializable(DataNotSerializable):
    """An outbox payload that is not plain JSON within the limits; nothing was written."""


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One state change to announce, as stored beside it.

    Attributes:
        event_id: unique id; consumers dedupe on it (at-least-once delivery).
        aggregate: what changed (an order id...); messages of one aggregate
            are announced in `seq` order.
        seq: 1, 2, 3... per aggregate, assigned in the writing transaction.
        topic: the bus event name or task-queue name to announce it on.
        payload: JSON data (checked when written).
        created_at: wall-clock seconds when written.
        position: the store's handle for the row (SQLite rowid, Redis stream id).
    """

    event_id: str
    aggregate: str
    seq: int
    topic: str
    payload: Any
    created_at: float
    position: str

    def envelope(self) -> dict[str, Any]:
        """What consumers receive: the payload with its event id, aggregate and seq.

        Example:
            >>> OutboxMessage("e1", "o-1", 1, "order.created", {"n": 1}, 0.0, "1").envelope()
            {'event_id': 'e1', 'aggregate': 'o-1', 'seq': 1, 'topic': 'order.created', 'payload': {'n': 1}}
        """  # noqa: E501
        return {"event_id": self.event_id, "aggregate": self.aggregate, "seq": self.seq,
                "topic": self.topic, "payload": self.payload}


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """What a store holds: rows not yet sent, rows sent, age of the oldest unsent row."""

    pending: int
    sent: int
    oldest_age_s: float


@runtime_checkable
class OutboxStore(Protocol):
    """The relay's side of an outbox (writing happens in the service's own transaction).

    Backends: `actors.backends.sqlite.SqliteOutbox`, `actors.backends.redis.RedisOutbox`,
    and `MemoryOutbox` here for tests.
    """

    def pending(self, limit: int, *, exclude: Collection[str] = ()) -> list[OutboxMessage]:
        """Up to `limit` unsent messages in write order (oldest first).

        Messages of the aggregates in `exclude` (waiting for a retry) are left
        out, so they do not fill the batch and hold everyone else back.
        """
        ...

    def mark_sent(self, messages: Sequence[OutboxMessage]) -> None:
        """Record that `messages` were announced; they are not returned again."""
        ...

    def stats(self) -> OutboxStats:
        """Counts for metrics."""
        ...
