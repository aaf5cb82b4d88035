"""`RedisOutbox`: outbox entries in a Redis stream, added in the service's own MULTI step."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

import redis
import redis.exceptions

from actors.backends.redis._client import connect
from actors.backends.redis._errors import RedisUnavailable
from actors.core import CorruptData, codec, short_repr, validate as check
from actors.outbox import OutboxMessage, OutboxPayloadNotSerializable, OutboxStats

R = TypeVar("R")

# KEYS: stream, per-aggregate seq hash. ARGV: event id, aggregate, topic, payload, created_at.
# One script, so the seq and the entry are one step; queued on the caller's MULTI
# pipeline, it runs in the same transaction as the caller's own commands.
_ADD = """
local seq = redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
redis.call('XADD', KEYS[1], '*', 'event_id', ARGV[1], 'aggregate', ARGV[2], 'seq', seq,
           'topic', ARGV[3], 'payload', ARGV[4], 'created_at', ARGV[5])
return seq
"""


class RedisOutbox:
    """An outbox in a Redis stream; the service adds entries on its own `MULTI` pipeline.

    Args:
        url: e.g. `redis://127.0.0.1:6379/0` (the relay's connection).
        name: the outbox's name (keys `{prefix}:outbox:{name}...`).
        prefix: key prefix; default "stanchion".
        socket_timeout, retries: as for the other Redis backends.

    Writing: `pipe = client.pipeline(transaction=True)`, queue your state
    change, `outbox.add(pipe, aggregate, topic, payload)`, `pipe.execute()`:
    Redis runs the `MULTI` block, the outbox script included, as one step.
    Sent entries are deleted from the stream (a counter keeps the total).
    """

    def __init__(self, url: str, name: str = "outbox", *, prefix: str = "stanchion",
                 socket_timeout: float = 5.0, retries: int = 3) -> None:
        check.name("name", name)
        check.name("prefix", prefix)
        self.url = url
        self.stream = f"{prefix}:outbox:{name}"
        self.seq_key = f"{self.stream}:seq"
        self.sent_key = f"{self.stream}:sent"
        self._client = connect(url, socket_timeout=socket_timeout, retries=retries)
        self._add = self._client.register_script(_ADD)

    @property
    def client(self) -> redis.Redis:
        """The outbox's client (services may use their own, on the same Redis)."""
        return self._client

    def add(self, pipe: Any, aggregate: str, topic: str, payload: Any, *,
            event_id: str | None = None) -> str:
        """Queue one announcement on `pipe` (a `MULTI` pipeline); returns its event id.

        Nothing is written until the pipeline executes, together with the
        rest of the transaction. Raises `OutboxPayloadNotSerializable` for a
        payload that is not JSON.
        """
        check.name("aggregate", aggregate)
        check.name("topic", topic)
        text = codec.encode(payload, error=OutboxPayloadNotSerializable)
        event_id = event_id if event_id is not None else uuid.uuid4().hex
        check.name("event_id", event_id)
        self._add(keys=[self.stream, self.seq_key],
                  args=[event_id, aggregate, topic, text, repr(time.time())], client=pipe)
        return event_id

    def pending(self, limit: int, *, exclude: Collection[str] = ()) -> list[OutboxMessage]:
        """Up to `limit` unsent entries in stream order, without the `exclude`d aggregates."""
        check.integer("limit", limit, minimum=1)
        skip = set(exclude)
        found: list[OutboxMessage] = []
        start = "-"
        while len(found) < limit:
            page = self._call("pending", self._page(start, max(limit, 100)))
            for entry_id, fields in page:
                message = _message(entry_id, fields)
                if message.aggregate not in skip:
                    found.append(message)
                    if len(found) == limit:
                        break
            if len(page) < max(limit, 100):
                break
            start = "(" + page[-1][0]
        return found

    def _page(self, start: str, count: int) -> Callable[[], list[tuple[str, dict[str, str]]]]:
        def read() -> list[tuple[str, dict[str, str]]]:
            entries: Any = self._client.xrange(self.stream, min=start, count=count)
            return list(entries or [])

        return read

    def mark_sent(self, messages: Sequence[OutboxMessage]) -> None:
        """Delete `messages` from the stream and count them as sent."""
        if not messages:
            return

        def mark() -> None:
            pipe = self._client.pipeline(transaction=True)
            pipe.xdel(self.stream, *[m.position for m in messages])
            pipe.incrby(self.sent_key, len(messages))
            pipe.execute()

        self._call("mark_sent", mark)

    def stats(self) -> OutboxStats:
        """Unsent and sent counts, and the age of the oldest unsent entry."""
        def read() -> tuple[int, Any, list[Any]]:
            pipe = self._client.pipeline(transaction=False)
            pipe.xlen(self.stream)
            pipe.get(self.sent_key)
            pipe.xrange(self.stream, count=1)
            length, sent, first = pipe.execute()
            return int(length), sent, first

        length, sent, first = self._call("stats", read)
        age = 0.0
        if first:
            age = max(0.0, time.time() - _message(*first[0]).created_at)
        return OutboxStats(length, int(sent or 0), age)

    def close(self) -> None:
        """Close the relay's connection pool."""
        self._client.close()

    def _call(self, operation: str, fn: Callable[[], R]) -> R:
        try:
            return fn()
        except redis.exceptions.RedisError as exc:
            raise RedisUnavailable(f"outbox {operation}", self.url, exc) from exc


def _message(entry_id: str, fields: dict[str, str]) -> OutboxMessage:
    try:
        payload = codec.decode(fields.get("payload", ""))
    except CorruptData as exc:
        payload = {"corrupt": short_repr(fields.get("payload")), "reason": exc.reason}
    try:
        seq, created = int(fields.get("seq", "0")), float(fields.get("created_at", "0"))
    except ValueError:
        seq, created = 0, 0.0
    return OutboxMessage(fields.get("event_id", entry_id), fields.get("aggregate", ""), seq,
                         fields.get("topic", ""), payload, created, entry_id)
