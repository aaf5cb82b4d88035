"""One subscriber: its state (owned by the bus) and its delivery actor.

The state outlives any incarnation of the delivery actor, so a restart loses
neither the backlog nor an event waiting for its retry.

Ordering: events reach the mailbox in publish order; once the mailbox is
full, new events go to the backlog, and while the backlog is not empty every
new event goes there too, so the order holds. A failing event blocks later
events of the same name (they are parked) until it succeeds or is
dead-lettered; events of other names go on.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from actors.bus._config import EventBusConfig
from actors.core import (
    ControlMessage,
    Item,
    LibraryLogger,
    Mailbox,
    Scheduler,
    ServiceActor,
    ServiceRef,
    ServiceStopped,
    context as correlation,
)
from actors.taskqueue import (
    DeliveryCounts,
    DeliveryMetrics,
    QueueStats,
    RetryAt,
    TaskSchedule,
    describe_error,
)

_log = LibraryLogger("stanchion.bus")

Handler = Callable[[Any], object]


@dataclass(frozen=True, slots=True)
class Event:
    """A published event as a subscriber's delivery actor carries it."""

    name: str
    payload: Any
    seq: int
    published_at: float


@dataclass(frozen=True, slots=True)
class DeadEvent:
    """An event a subscriber could not take: `max_attempts`, `overflow` or `unsubscribed`."""

    subscriber: str
    event: Event
    reason: str
    error: str | None
    attempts: int
    at: float
    task_id: str | None = None  # a durable subscriber's stored event


SubscriberMetrics = DeliveryMetrics
"""One subscriber's counters, read without a message round trip (the `DeliveryMetrics` shape)."""


class RetryDue(ControlMessage):
    """The backoff of the event blocking `name` has passed."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class SubscriberState:
    """Everything about one subscription that must survive its actor's restarts.

    The publisher side (`offer`, any thread) and the delivery side (the actor's
    thread) share only the lock-protected backlog and counters.
    """

    def __init__(self, name: str, pattern: str, handler: Handler, *, config: EventBusConfig,
                 scheduler: Scheduler, rng: random.Random,
                 dead_letter: Callable[[DeadEvent], None]) -> None:
        self.name = name
        self.pattern = pattern
        self.handler = handler
        self.config = config
        self.scheduler = scheduler
        self.rng = rng
        self.dead_letter = dead_letter
        self.ref: ServiceRef[Any] | None = None
        self.mailbox: Mailbox | None = None
        self.lock = threading.Lock()
        self.backlog: deque[Item] = deque()
        self.parked: dict[str, deque[tuple[Event, Mapping[str, Any]]]] = {}
        self.retrying: dict[str, tuple[Event, Mapping[str, Any], int, str]] = {}
        self.accepted = 0  # publisher side, under the lock
        self.overflowed = 0  # publisher side, under the lock
        self.counts = DeliveryCounts()  # delivery side only
        self.schedule = TaskSchedule(config.retry, clock=time.time, rng=rng)
        self.head_published_at = 0.0  # the event being delivered, for the lag
        self.cancelled = False

    def attach(self, ref: ServiceRef[Any]) -> None:
        """Bind the delivery actor's stable reference (once it is started)."""
        self.mailbox = ref.actor_inbox  # type: ignore[assignment]
        self.ref = ref

    # -- publisher side (any thread) ------------------------------------------------------

    def offer(self, item: Item) -> None:
        """Hand an event to this subscriber without blocking: mailbox, backlog or dead letter.

        `item` is the envelope prepared once per publish and shared by every
        subscriber of that event.
        """
        mailbox = self.mailbox
        if mailbox is None or self.cancelled:
            return
        with self.lock:
            self.accepted += 1
            if not self.backlog and mailbox.offer_item(item):
                return
            if len(self.backlog) < self.config.max_backlog:
                self.backlog.append(item)
                return
            self.overflowed += 1
        self._bury(item[0].message, "overflow", None, 0)

    # -- delivery side (the actor's thread) -------------------------------------------------

    def refill(self) -> None:
        """Move backlog events into the mailbox while it has room, keeping their order."""
        mailbox = self.mailbox
        if mailbox is None or not self.backlog:
            return
        with self.lock:
            while self.backlog:
                if not mailbox.offer_item(self.backlog[0]):
                    return
                self.backlog.popleft()

    def deliver(self, event: Event, context: Mapping[str, Any]) -> None:
        """Run the handler for `event`, unless an earlier event of its name is retrying."""
        if self.cancelled:
            return
        if event.name in self.retrying or self.parked.get(event.name):
            self.parked.setdefault(event.name, deque()).append((event, context))
            return
        self._attempt(event, context, 1)

    def retry_due(self, name: str) -> None:
        """The backoff for `name` passed: try its blocking event again, then the parked ones."""
        entry = self.retrying.pop(name, None)
        if entry is None or self.cancelled:
            return
        event, context, attempts, _ = entry
        correlation.install(context)
        self._attempt(event, context, attempts + 1)
        parked = self.parked.get(name)
        while parked and name not in self.retrying and not self.cancelled:
            event, context = parked.popleft()
            correlation.install(context)
            self._attempt(event, context, 1)
        if parked is not None and not parked:
            self.parked.pop(name, None)

    def _attempt(self, event: Event, context: Mapping[str, Any], attempts: int) -> None:
        self.head_published_at = event.published_at
        try:
            if correlation.tracer is None:
                self.handler(event.payload)
            else:
                self._traced(correlation.tracer, event, context, attempts)
        except Exception as exc:  # noqa: BLE001 - a handler's failure is retried, not a crash
            decision = self.schedule.after_error(exc, attempts)  # the step every loop shares
            error = describe_error(exc)
            self.counts.failed(decision)
            if isinstance(decision, RetryAt):
                self.retrying[event.name] = (event, context, attempts, error)
                _log.info("event.retried", subscriber=self.name, event_name=event.name,
                          seq=event.seq, attempts=attempts, delay_s=round(decision.delay, 3),
                          error=error)
                self.scheduler.call_later(decision.delay, lambda: self._wake(event.name))
                return
            self._bury(event, decision.reason, error, attempts)
            return
        self.counts.delivered += 1

    def _traced(self, tracer: correlation.Tracer, event: Event, context: Mapping[str, Any],
                attempts: int) -> None:
        """The handler inside a `bus.deliver` span, a child of the publisher's span."""
        span = tracer.start("bus.deliver", {
            "subscriber": self.name, "event_name": event.name, "seq": event.seq,
            "attempt": attempts}, parent=context)
        try:
            with span.activate():
                self.handler(event.payload)
        except Exception as exc:
            span.fail(exc)
            raise
        finally:
            span.end()

    def _wake(self, name: str) -> None:
        ref = self.ref
        if ref is None:
            return
        with contextlib.suppress(ServiceStopped):  # unsubscribed or shut down meanwhile
            ref.tell(RetryDue(name))

    def _bury(self, event: Event, reason: str, error: str | None, attempts: int) -> None:
        self.dead_letter(DeadEvent(self.name, event, reason, error, attempts, time.time()))
        _log.warning("event.dead_lettered", subscriber=self.name, event_name=event.name,
                     seq=event.seq, reason=reason, attempts=attempts, error=error)

    def discard_all(self) -> int:
        """Forget what is still waiting (the subscriber unsubscribed); returns how many."""
        with self.lock:
            waiting = (self.accepted - self.overflowed - self.counts.delivered
                       - self.counts.dead_lettered)
            self.backlog.clear()
        self.parked.clear()
        self.retrying.clear()
        return max(0, waiting)

    def metrics(self) -> SubscriberMetrics:
        """Counters, backlog (everything accepted and not yet done) and lag, no round trip."""
        counts = self.counts
        with self.lock:
            dead = self.overflowed + counts.dead_lettered
            waiting = max(0, self.accepted - dead - counts.delivered)
        lag = max(0.0, time.time() - self.head_published_at) if waiting else 0.0
        retrying = min(waiting, len(self.retrying))
        stats = QueueStats(waiting - retrying, 0, retrying, dead, lag)
        return DeliveryMetrics(self.name, counts.delivered, counts.retried, dead,
                               counts.failed_attempts, waiting, lag, stats, self.pattern)


class DeliveryActor(ServiceActor):
    """Delivers one subscriber's events in order; a slow handler only slows this actor."""

    def __init__(self, state: SubscriberState) -> None:
        super().__init__()
        self.state = state

    def on_start(self) -> None:
        self.state.refill()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Event):
            self.state.deliver(message, correlation.capture())
        elif isinstance(message, RetryDue):
            self.state.retry_due(message.name)
        else:
            return super().on_receive(message)
        self.state.refill()
        return None
