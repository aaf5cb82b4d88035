"""Where a relay announces: the event bus, or the durable task queue."""

from __future__ import annotations

from typing import Any, Protocol

from actors.core import validate as check
from actors.outbox._model import OutboxMessage
from actors.outbox._relay import Publish


class _Bus(Protocol):
    def publish(self, event_name: str, payload: Any) -> None: ...


class _Queue(Protocol):
    def enqueue(self, queue: str, payload: Any, *, delay: float = 0.0,
                priority: int = 0) -> str: ...


def to_bus(bus: _Bus) -> Publish:
    """Publish each message's envelope on `bus` as the event `message.topic`.

    Durable subscribers have it committed to the bus's store before
    `publish` returns, so the row is marked sent only once it is safe there.
    """
    check.callable_("bus.publish", getattr(bus, "publish", None), "an actors.bus.EventBus")

    def publish(message: OutboxMessage) -> None:
        bus.publish(message.topic, message.envelope())

    return publish


def to_queue(tasks: _Queue, queue: str | None = None) -> Publish:
    """Enqueue each message's envelope on `tasks`, in `queue` (default: the message's topic)."""
    check.callable_("tasks.enqueue", getattr(tasks, "enqueue", None),
                    "an actors.taskqueue.TaskQueue")
    check.optional(check.name, "queue", queue)

    def publish(message: OutboxMessage) -> None:
        tasks.enqueue(queue if queue is not None else message.topic, message.envelope())

    return publish
