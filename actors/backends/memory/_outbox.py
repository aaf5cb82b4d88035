"""`MemoryOutbox`: an outbox in this process's memory (tests, demos; lost on exit)."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from typing import Any

from actors.core import codec, validate as check
from actors.outbox import OutboxMessage, OutboxPayloadNotSerializable, OutboxStats


class MemoryTransaction:
    """Rows added inside `MemoryOutbox.transaction()`; visible only once it commits."""

    def __init__(self, outbox: MemoryOutbox) -> None:
        self._outbox = outbox
        self.rows: list[tuple[str, str, str, Any]] = []

    def add(self, aggregate: str, topic: str, payload: Any, *,
            event_id: str | None = None) -> str:
        """Queue one announcement; returns its event id."""
        check.name("aggregate", aggregate)
        check.name("topic", topic)
        event_id = event_id if event_id is not None else uuid.uuid4().hex
        check.name("event_id", event_id)
        text = codec.encode(payload, error=OutboxPayloadNotSerializable)
        self.rows.append((event_id, aggregate, topic, codec.decode(text)))
        return event_id


class MemoryOutbox:
    """An `OutboxStore` in memory: `with outbox.transaction() as tx: tx.add(...)`.

    The rows of a transaction appear together when the `with` block ends
    without an error, and not at all if it raises.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[int, OutboxMessage] = {}
        self._next = 0
        self._seq: Counter[str] = Counter()
        self._sent = 0

    @contextlib.contextmanager
    def transaction(self) -> Iterator[MemoryTransaction]:
        """Collect rows; commit them when the block ends without raising."""
        tx = MemoryTransaction(self)
        yield tx
        now = time.time()
        with self._lock:
            for event_id, aggregate, topic, payload in tx.rows:
                self._seq[aggregate] += 1
                self._next += 1
                self._rows[self._next] = OutboxMessage(event_id, aggregate, self._seq[aggregate],
                                                       topic, payload, now, str(self._next))

    def pending(self, limit: int, *, exclude: Collection[str] = ()) -> list[OutboxMessage]:
        """Up to `limit` unsent messages, oldest first, without the `exclude`d aggregates."""
        check.integer("limit", limit, minimum=1)
        with self._lock:
            rows = [m for m in self._rows.values() if m.aggregate not in exclude]
        return rows[:limit]

    def mark_sent(self, messages: Sequence[OutboxMessage]) -> None:
        """Forget `messages` (announced)."""
        with self._lock:
            for message in messages:
                if self._rows.pop(int(message.position), None) is not None:
                    self._sent += 1

    def stats(self) -> OutboxStats:
        """Unsent and sent counts, and the oldest unsent row's age."""
        with self._lock:
            oldest = next(iter(self._rows.values()), None)
            age = time.time() - oldest.created_at if oldest is not None else 0.0
            return OutboxStats(len(self._rows), self._sent, max(0.0, age))

