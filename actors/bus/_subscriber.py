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
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from pykka._envelope import Envelope

from actors import _context
from actors._errors import ServiceStopped
from actors._mailbox import ControlMessage
from actors._ref import ServiceRef
from actors._scheduler import Scheduler
from actors._service import ServiceActor
from actors.bus._config import EventBusConfig

_log = structlog.get_logger("stanchion.bus")

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


@dataclass(frozen=True, slots=True)
class SubscriberMetrics:
    """One subscriber's counters, read without a message round trip."""

    subscriber: str
    pattern: str
    delivered: int
    retried: int
    dead_lettered: int
    backlog: int
    lag_s: float


class RetryDue(ControlMessage):
    """The backoff of the event blocking `name` has passed."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


_Item = tuple[Event, Mapping[str, Any]]


class SubscriberState:
    """Everything about one subscription that must survive its actor's restarts."""

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
        self.lock = threading.Lock()
        self.backlog: deque[_Item] = deque()
        self.pending: OrderedDict[int, float] = OrderedDict()
        self.parked: dict[str, deque[_Item]] = {}
        self.retrying: dict[str, tuple[Event, Mapping[str, Any], int, str]] = {}
        self.delivered = 0
        self.retried = 0
        self.dead = 0
        self.cancelled = False

    # -- publisher side (any thread) ------------------------------------------------------

    def offer(self, event: Event) -> None:
        """Hand `event` to this subscriber without blocking: mailbox, backlog or dead letter."""
        ref = self.ref
        with self.lock:
            if self.cancelled or ref is None:
                return
            self.pending[event.seq] = event.published_at
            if not self.backlog and ref.offer(event):
                return
            if len(self.backlog) < self.config.max_backlog:
                self.backlog.append((event, _context.capture()))
                return
            self.pending.pop(event.seq, None)
            self.dead += 1
        self._bury(event, "overflow", None, 0)

    # -- delivery side (the actor's thread) -------------------------------------------------

    def refill(self) -> None:
        """Move backlog events into the mailbox while it has room, keeping their order."""
        ref = self.ref
        if ref is None or not self.backlog:
            return
        with self.lock:
            while self.backlog:
                event, context = self.backlog[0]
                with _context_of(context):
                    if not ref.offer(event):
                        return
                self.backlog.popleft()

    def deliver(self, event: Event, context: Mapping[str, Any]) -> None:
        """Run the handler for `event`, unless an earlier event of its name is retrying."""
        if self.cancelled:
            return
        blocked = self.parked.get(event.name)
        if event.name in self.retrying or blocked:
            self.parked.setdefault(event.name, deque()).append((event, context))
            return
        self._attempt(event, context, 1)

    def retry_due(self, name: str) -> None:
        """The backoff for `name` passed: try its blocking event again, then the parked ones."""
        entry = self.retrying.pop(name, None)
        if entry is None or self.cancelled:
            return
        event, context, attempts, _ = entry
        _context.install(context)
        self._attempt(event, context, attempts + 1)
        parked = self.parked.get(name)
        while parked and name not in self.retrying and not self.cancelled:
            event, context = parked.popleft()
            _context.install(context)
            self._attempt(event, context, 1)
        if parked is not None and not parked:
            self.parked.pop(name, None)

    def _attempt(self, event: Event, context: Mapping[str, Any], attempts: int) -> None:
        try:
            self.handler(event.payload)
        except Exception as exc:  # noqa: BLE001 - a handler's failure is retried, not a crash
            policy = self.config.retry
            error = repr(exc)
            if policy.should_retry(attempts):
                delay = policy.delay(attempts, self.rng)
                self.retrying[event.name] = (event, context, attempts, error)
                with self.lock:
                    self.retried += 1
                _log.info("event.retried", subscriber=self.name, event_name=event.name,
                          seq=event.seq, attempts=attempts, delay_s=round(delay, 3), error=error)
                self.scheduler.call_later(delay, lambda: self._wake(event.name))
                return
            with self.lock:
                self.pending.pop(event.seq, None)
                self.dead += 1
            self._bury(event, "max_attempts", error, attempts)
            return
        with self.lock:
            self.pending.pop(event.seq, None)
            self.delivered += 1

    def _wake(self, name: str) -> None:
        ref = self.ref
        if ref is None:
            return
        with contextlib.suppress(ServiceStopped):  # unsubscribed or shut down meanwhile
            ref.actor_inbox.put(Envelope(RetryDue(name)))

    def _bury(self, event: Event, reason: str, error: str | None, attempts: int) -> None:
        self.dead_letter(DeadEvent(self.name, event, reason, error, attempts, time.time()))
        _log.warning("event.dead_lettered", subscriber=self.name, event_name=event.name,
                     seq=event.seq, reason=reason, attempts=attempts, error=error)

    def discard_all(self) -> int:
        """Drop what is still waiting (the subscriber unsubscribed); returns how many."""
        with self.lock:
            count = len(self.pending)
            self.pending.clear()
            self.backlog.clear()
        self.parked.clear()
        self.retrying.clear()
        return count

    def metrics(self) -> SubscriberMetrics:
        """Counters, backlog depth (everything undelivered) and lag, without a round trip."""
        with self.lock:
            waiting = len(self.pending)
            oldest = next(iter(self.pending.values()), None)
            return SubscriberMetrics(self.name, self.pattern, self.delivered, self.retried,
                                     self.dead, waiting,
                                     max(0.0, time.time() - oldest) if oldest else 0.0)


class _context_of:  # noqa: N801 - used as a lowercase context manager
    """Send with `context` as the correlation context (backlog events keep their publisher's)."""

    def __init__(self, context: Mapping[str, Any]) -> None:
        self.context = context
        self.previous: Mapping[str, Any] | None = None

    def __enter__(self) -> None:
        self.previous = _context.capture()
        _context.install(self.context)

    def __exit__(self, *_: object) -> None:
        if self.previous is not None:
            _context.install(self.previous)


class DeliveryActor(ServiceActor):
    """Delivers one subscriber's events in order; a slow handler only slows this actor."""

    def __init__(self, state: SubscriberState) -> None:
        super().__init__()
        self.state = state

    def on_start(self) -> None:
        self.state.refill()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Event):
            self.state.deliver(message, _context.capture())
        elif isinstance(message, RetryDue):
            self.state.retry_due(message.name)
        else:
            return super().on_receive(message)
        self.state.refill()
        return None
