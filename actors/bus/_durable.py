"""Durable subscribers: their undelivered events live in a `TaskStore` and survive restarts.

Publishing to a durable subscriber commits the event to the store (one task
per event, in the subscriber's own queue) before `publish` returns. A delivery
actor claims the events in publish order and delivers them one by one; a
failing event is retried in place with backoff, holding back the events after
it, so the order holds; past `max_attempts` it is dead-lettered. Delivered
events are acked in batches. After a crash, the events the dead process held
are handed out again once their lease (the store's `visibility_timeout`)
expires: delivery is at-least-once.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from actors.bus._config import EventBusConfig
from actors.bus._subscriber import DeadEvent, Event, Handler, RetryDue, SubscriberMetrics
from actors.core import (
    CorruptData,
    Disposable,
    LibraryLogger,
    Scheduler,
    ServiceActor,
    ServiceRef,
    ServiceStopped,
    codec,
    context,
    is_finite_number,
    short_repr,
)
from actors.taskqueue import ClaimedTask, PayloadNotSerializable, TaskQueue, TaskStoreError

_log = LibraryLogger("stanchion.bus")

_BATCH = 100
_IDLE_POLL = 0.5  # how soon an idle durable subscriber notices leases a dead process left


class _Poll(Disposable):
    __slots__ = ()


_POLL = _Poll()


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


class DurableSubscriber:
    """A durable subscription's state; the store holds its events, not this object."""

    def __init__(self, name: str, pattern: str, handler: Handler, *, queue: str,
                 tasks: TaskQueue, config: EventBusConfig, scheduler: Scheduler,
                 rng: random.Random, dead_letter: Callable[[DeadEvent], None]) -> None:
        self.name = name
        self.pattern = pattern
        self.handler = handler
        self.queue = queue
        self.tasks = tasks
        self.config = config
        self.scheduler = scheduler
        self.rng = rng
        self.dead_letter = dead_letter
        self.ref: ServiceRef[Any] | None = None
        self.batch: list[ClaimedTask] = []
        self.position = 0
        self.attempts = 0
        self.waiting_retry = False
        self.idle_timer: Any = None
        self.lock = threading.Lock()
        self.delivered = 0
        self.retried = 0
        self.failed = 0
        self.cancelled = False
        self.worker_id = f"{queue}:{id(self):x}"

    def attach(self, ref: ServiceRef[Any]) -> None:
        """Bind the delivery actor's stable reference."""
        self.ref = ref

    # -- publisher side: the bus stores events for the group; this wakes the actor --

    def nudge(self) -> None:
        ref = self.ref
        if ref is not None:
            ref.offer(_POLL)

    # -- delivery side (the actor's thread) -------------------------------------------------------

    def drain(self) -> None:
        """Deliver a batch in order; stop at a failing event and come back after its backoff."""
        if self.cancelled or self.waiting_retry:
            return
        if self.position >= len(self.batch):
            try:
                self.batch = self.tasks.claim(self.queue, self.worker_id, _BATCH)
            except TaskStoreError as exc:  # the store is down: poll again, don't crash-loop
                _log.warning("event.store_failed", subscriber=self.name, operation="claim",
                             error=repr(exc))
                self.batch, self.position = [], 0
                self._poll_later()
                return
            self.position = 0
            self.attempts = 0
            if not self.batch:
                self._poll_later()
                return
        done: list[ClaimedTask] = []
        while self.position < len(self.batch) and not self.cancelled:
            claimed = self.batch[self.position]
            try:
                event = decode_record(claimed.task.payload)
            except CorruptData as exc:
                self._quarantine(claimed, f"the stored event {exc.reason}")
                self.position += 1
                continue
            self.attempts += 1
            try:
                self._handle(claimed, event)
            except Exception as exc:  # noqa: BLE001 - a handler's failure is retried, not a crash
                if self._failed(claimed, event, repr(exc)):
                    break  # retrying in place: the events after it wait
            else:
                done.append(claimed)
                self.delivered += 1
            self.position += 1
            self.attempts = 0
        if done:
            self.tasks.ack(done)
        if not self.waiting_retry:
            self.nudge()

    def _failed(self, claimed: ClaimedTask, event: Event, error: str) -> bool:
        """Schedule a retry (True) or dead-letter the event (False) after a failed attempt."""
        policy = self.config.retry
        if policy.should_retry(self.attempts):
            delay = policy.delay(self.attempts, self.rng)
            self.retried += 1
            self.waiting_retry = True
            _log.info("event.retried", subscriber=self.name, event_name=event.name,
                      seq=event.seq, attempts=self.attempts, delay_s=round(delay, 3),
                      error=error, durable=True)
            self.scheduler.call_later(delay, self._wake_for_retry)
            return True
        self.failed += 1
        self.tasks.reject(claimed, error, reason="max_attempts")
        self.dead_letter(DeadEvent(self.name, event, "max_attempts", error, self.attempts,
                                   time.time(), claimed.task.id))
        _log.warning("event.dead_lettered", subscriber=self.name, event_name=event.name,
                     seq=event.seq, reason="max_attempts", attempts=self.attempts, error=error,
                     durable=True)
        return False

    def _handle(self, claimed: ClaimedTask, event: Event) -> None:
        """Run the handler; with tracing on, inside a `bus.deliver` span (`_traced`)."""
        tracer = context.tracer
        if tracer is None:
            self.handler(event.payload)
        else:
            self._traced(tracer, claimed, event)

    def _traced(self, tracer: context.Tracer, claimed: ClaimedTask, event: Event) -> None:
        """The handler inside a `bus.deliver` span, a child of the publisher's (stored) span."""
        span = tracer.start("bus.deliver", {
            "subscriber": self.name, "event_name": event.name, "seq": event.seq,
            "attempt": self.attempts, "durable": True}, parent=claimed.task.trace)
        try:
            with span.activate():
                self.handler(event.payload)
        except Exception as exc:
            span.fail(exc)
            raise
        finally:
            span.end()

    def _quarantine(self, claimed: ClaimedTask, error: str) -> None:
        """A stored record that is not an event (foreign writer, damage): dead-letter it alone."""
        self.failed += 1
        self.tasks.reject(claimed, error, reason="corrupt")
        event = Event("", claimed.task.payload, 0, claimed.task.enqueued_at)
        self.dead_letter(DeadEvent(self.name, event, "corrupt", error, 0, time.time(),
                                   claimed.task.id))
        _log.warning("event.dead_lettered", subscriber=self.name, event_name=None, seq=None,
                     reason="corrupt", attempts=0, error=error, durable=True)

    def _wake_for_retry(self) -> None:
        ref = self.ref
        if ref is not None:
            with contextlib.suppress(ServiceStopped):
                ref.tell(RetryDue("*"))

    def retry_due(self) -> None:
        self.waiting_retry = False
        self.drain()

    def _poll_later(self) -> None:
        with self.lock:
            if self.idle_timer is None and not self.cancelled:
                self.idle_timer = self.scheduler.call_later(_IDLE_POLL, self._idle_fired)

    def _idle_fired(self) -> None:
        with self.lock:
            self.idle_timer = None
        self.nudge()

    def discard_all(self) -> int:
        """Unsubscribed: stop delivering; the stored events stay for a later subscriber."""
        self.cancelled = True
        with self.lock:
            if self.idle_timer is not None:
                self.idle_timer.cancel()
        return 0

    def metrics(self) -> SubscriberMetrics:
        """Counters, plus the store's view of the backlog and the oldest event's age."""
        stats = self.tasks.stats(self.queue)
        return SubscriberMetrics(self.name, self.pattern, self.delivered, self.retried,
                                 self.failed, stats.depth + stats.in_flight + stats.delayed,
                                 stats.oldest_age_s)


class DurableDeliveryActor(ServiceActor):
    """Delivers a durable subscriber's stored events in order."""

    mailbox_size = 4  # nudges only

    def __init__(self, state: DurableSubscriber) -> None:
        super().__init__()
        self.state = state

    def on_start(self) -> None:
        self.state.nudge()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, _Poll):
            self.state.drain()
        elif isinstance(message, RetryDue):
            self.state.retry_due()
        else:
            return super().on_receive(message)
        return None
