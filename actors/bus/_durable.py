"""Durable subscribers: their undelivered events live in a `TaskStore` and survive restarts.

Publishing to a durable subscriber commits the event to the store (one task
per event, in the group's own queue) before `publish` returns. The group's
queue is served by the task queue's delivery engine as an ordered queue keyed
by event name: events are claimed in publish order, a failing event is
retried in place with backoff while the later events of its name wait (other
names go on), and past `max_attempts` it is dead-lettered. Delivered events
are acked in batches. After a crash, the events the dead process held are
handed out again once their lease (the store's `visibility_timeout`) expires:
delivery is at-least-once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from actors.bus._config import EventBusConfig
from actors.bus._subscriber import DeadEvent, Event, Handler, SubscriberMetrics
from actors.core import (
    CorruptData,
    LibraryLogger,
    ServiceRef,
    codec,
    context,
    is_finite_number,
    short_repr,
)
from actors.supervision import ActorSystem, ChildSpec
from actors.taskqueue import (
    ClaimedTask,
    DeliveryEngine,
    DeliveryObserver,
    GiveUp,
    PayloadNotSerializable,
    QueueSpec,
    RetryAt,
    Task,
    TaskQueue,
    TaskSchedule,
)

_log = LibraryLogger("stanchion.bus")

_BATCH = 100
_IDLE_POLL = 0.5  # how soon an idle durable subscriber notices leases a dead process left


def encode_record(event: Event) -> str:
    """The stored record of a durable event: JSON text of its name, payload, seq and time.

    The payload is checked by the codec every store uses (`actors.core._codec`):
    `PayloadNotSerializable` at `publish` if it is not plain JSON, deeper than
    100 levels or larger than 4 MiB encoded; the record around it is not
    counted against the depth.
    """
    payload = codec.encode(event.payload, error=PayloadNotSerializable)
    record = (f'{{"name":{codec.encode(event.name)},"payload":{payload},'
              f'"seq":{event.seq},"published_at":{event.published_at!r}}}')
    if len(record) > codec.MAX_SIZE:
        raise PayloadNotSerializable("$", f"{len(record)} characters of JSON",
                                     f"more than the {codec.MAX_SIZE} allowed with its record")
    return record


def decode_record(stored: object) -> Event:
    """The event a stored record holds; `CorruptData` if it is not a record of ours."""
    if type(stored) is not dict or set(stored) != _RECORD_KEYS:
        raise CorruptData(f"is not an event record: {short_repr(stored)}")
    name, seq, published_at = stored["name"], stored["seq"], stored["published_at"]
    if type(name) is not str or type(seq) is not int or not is_finite_number(published_at):
        raise CorruptData(f"is not an event record: {short_repr(stored)}")
    return Event(name, stored["payload"], seq, float(published_at))


_RECORD_KEYS = frozenset({"name", "payload", "seq", "published_at"})


def queue_for(bus: str, subscriber: str) -> str:
    """The task queue holding a durable subscriber's undelivered events."""
    return f"bus:{bus}:{subscriber}"


def _event_name(task: Task) -> str:
    """A durable group's ordering key: the stored event's name."""
    return decode_record(task.payload).name


class _EventOutcomes(DeliveryObserver):
    """Turns the engine's retries and dead letters into the bus's `event.*` and `DeadEvent`s."""

    def __init__(self, subscriber: str, dead_letter: Callable[[DeadEvent], None]) -> None:
        self.subscriber = subscriber
        self.dead_letter = dead_letter

    def retried(self, claimed: ClaimedTask, attempts: int, decision: RetryAt,
                error: str) -> None:
        event = _as_event(claimed)
        _log.info("event.retried", subscriber=self.subscriber, event_name=event.name,
                  seq=event.seq, attempts=attempts, delay_s=round(decision.delay, 3),
                  error=error, durable=True)

    def dead_lettered(self, claimed: ClaimedTask, decision: GiveUp, error: str) -> None:
        event = _as_event(claimed)
        known = decision.reason != "corrupt"  # a corrupt record was never handed to the handler
        attempts = decision.attempts if known else 0
        self.dead_letter(DeadEvent(self.subscriber, event, decision.reason, error, attempts,
                                   time.time(), claimed.task.id))
        _log.warning("event.dead_lettered", subscriber=self.subscriber,
                     event_name=event.name if known else None, seq=event.seq if known else None,
                     reason=decision.reason, attempts=attempts, error=error, durable=True)


def _as_event(claimed: ClaimedTask) -> Event:
    try:
        return decode_record(claimed.task.payload)
    except CorruptData:  # quarantined: the DeadEvent carries what was stored
        return Event("", claimed.task.payload, 0, claimed.task.enqueued_at)


class DurableSubscriber:
    """A durable subscription: its group's queue, served by a `DeliveryEngine`."""

    def __init__(self, name: str, pattern: str, handler: Handler, *, queue: str,
                 system: ActorSystem, tasks: TaskQueue, config: EventBusConfig,
                 rng: random.Random, dead_letter: Callable[[DeadEvent], None]) -> None:
        self.name = name
        self.pattern = pattern
        self.queue = queue
        self.cancelled = False

        def deliver(task: Task) -> None:
            event = decode_record(task.payload)
            tracer = context.tracer
            if tracer is None:
                handler(event.payload)
                return
            # A child of the engine's `task.deliver` span, itself a child of the publisher's.
            with tracer.span("bus.deliver", {"subscriber": name, "event_name": event.name,
                                             "seq": event.seq, "attempt": task.attempts,
                                             "durable": True}):
                handler(event.payload)

        spec = QueueSpec(queue, deliver, workers=1, batch_size=_BATCH, poll_interval=_IDLE_POLL,
                         ordered_by=_event_name, retry=config.retry)
        self.engine = DeliveryEngine(spec, tasks, resolve=system.service,
                                     call_later=system.scheduler.call_later,
                                     observer=_EventOutcomes(name, dead_letter),
                                     schedule=TaskSchedule(config.retry, clock=time.time,
                                                           rng=rng))

    @property
    def ref(self) -> ServiceRef[Any] | None:
        """The delivery actor's stable reference, once started."""
        return self.engine.ref

    def child_spec(self, name: str) -> ChildSpec:
        """The delivery actor (one member of the group in this process)."""
        return self.engine.child_spec(name)

    def attach(self, ref: ServiceRef[Any]) -> None:
        """Bind the delivery actor's stable reference; events stored earlier are claimed."""
        self.engine.attach(ref)

    def nudge(self) -> None:
        """Events were stored for the group: wake the delivery actor (at once, or with
        the events that follow within the queue's `claim_linger`)."""
        self.engine.enqueued()

    def discard_all(self) -> int:
        """Unsubscribed: stop delivering; the stored events stay for a later subscriber."""
        self.cancelled = True
        self.engine.stop()
        return 0

    def metrics(self) -> SubscriberMetrics:
        """Counters, plus the store's view of the backlog and the oldest event's age."""
        return self.engine.metrics(self.name, self.pattern)
