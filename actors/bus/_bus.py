"""The event bus: a broker actor owns the subscriptions; publishing never waits on it.

The broker publishes an immutable routing snapshot; `publish` reads it on the
caller's thread, finds the matching subscribers (cached per event name) and
hands the event to each one's delivery actor without blocking.
"""

from __future__ import annotations

import itertools
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from actors.bus._config import EventBusConfig
from actors.bus._durable import DurableSubscriber, encode_record, queue_for
from actors.bus._patterns import matches, validate_event_name, validate_pattern
from actors.bus._registry import registry_for
from actors.bus._subscriber import (
    DeadEvent,
    DeliveryActor,
    Event,
    Handler,
    SubscriberMetrics,
    SubscriberState,
)
from actors.core import (
    ConfigError,
    LibraryLogger,
    ServiceActor,
    StanchionError,
    SystemNotRunning,
    context,
    validate as check,
    work_item,
)
from actors.supervision import ActorSystem, ChildSpec, SupervisorSpec
from actors.taskqueue import NewTask, TaskQueue, TaskStore

_log = LibraryLogger("stanchion.bus")

_GROUP_REFRESH_S = 0.5  # how soon a publisher sees a durable group another process created
_SUBSCRIBER = re.compile(r"[A-Za-z0-9_\-]+")


class BusStopped(StanchionError):
    """The bus is stopped; publish and subscribe on a running one."""


@dataclass(frozen=True, slots=True)
class _Subscribe:
    pattern: str
    handler: Handler
    label: str | None
    durable: bool


@dataclass(frozen=True, slots=True)
class _Unsubscribe:
    name: str


class Subscription:
    """A handle on one subscription; `unsubscribe()` ends it."""

    def __init__(self, bus: EventBus, state: SubscriberState | DurableSubscriber) -> None:
        self._bus = bus
        self._state = state

    @property
    def name(self) -> str:
        """The subscriber's name (its delivery actor is `<bus>:sub:<name>`)."""
        return self._state.name

    @property
    def pattern(self) -> str:
        """The pattern it subscribed with."""
        return self._state.pattern

    def metrics(self) -> SubscriberMetrics:
        """Delivered, retried, dead-lettered, backlog and lag, without a round trip."""
        return self._state.metrics()

    def unsubscribe(self) -> None:
        """Stop delivering to this subscriber; safe while a delivery is running."""
        self._bus._unsubscribe(self._state.name)

    def __repr__(self) -> str:
        return f"<Subscription {self.name!r} to {self.pattern!r}>"


class Broker(ServiceActor):
    """Owns the subscription table: adds and removes subscribers, publishes the routes."""

    mailbox_size = 1000

    def __init__(self, bus: EventBus) -> None:
        super().__init__()
        self.bus = bus

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, _Subscribe):
            return self.bus._add(message)
        if isinstance(message, _Unsubscribe):
            return self.bus._remove(message.name)
        return super().on_receive(message)


class EventBus:
    """Publish/subscribe with isolated, retrying delivery per subscriber and dead letters.

    Example:
        >>> import threading
        >>> from actors.supervision import ActorSystem
        >>> received, done = [], threading.Event()
        >>> def on_order(payload):
        ...     received.append(payload)
        ...     done.set()
        >>> with ActorSystem() as system:
        ...     bus = EventBus.start(system)
        ...     subscription = bus.subscribe("order.*", on_order)
        ...     bus.publish("order.created", {"order_id": "o-1"})
        ...     done.wait(5)
        True
        >>> received
        [{'order_id': 'o-1'}]
    """

    def __init__(self, system: ActorSystem, config: EventBusConfig, name: str,
                 rng: random.Random, store: TaskStore | None) -> None:
        self.system = system
        self.config = config
        self.name = name
        self._rng = rng
        self._scheduler = system.scheduler
        self._tasks = TaskQueue(store) if store is not None else None
        self._registry = registry_for(store) if store is not None else None
        self._groups: tuple[float, dict[str, str]] = (0.0, {})
        self._group_cache: dict[str, tuple[str, ...]] = {}
        self._routes: tuple[SubscriberState | DurableSubscriber, ...] = ()
        self._route_cache: dict[str, tuple[SubscriberState, ...]] = {}
        self._known_names: set[str] = set()
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)
        self._dead: deque[DeadEvent] = deque(maxlen=config.dead_letter_capacity)
        self._dead_lock = threading.Condition()
        self._published = 0
        self._stopped = False

    @classmethod
    def start(cls, system: ActorSystem, config: EventBusConfig | None = None, *,
              name: str = "bus", rng: random.Random | None = None,
              store: TaskStore | None = None) -> EventBus:
        """Start the bus under a supervisor called `name` in `system`.

        `store` keeps the events of durable subscribers (SQLite or Redis); without
        one, `subscribe(..., durable=True)` is refused. `name` names the bus's
        supervisor (`<name>:broker`, `<name>:sub:<subscriber>` below it).
        """

        check.instance("system", system, ActorSystem, "a running supervisor.ActorSystem")

        check.optional(check.instance, "config", config, kind=EventBusConfig,
                       what="an actors.bus.EventBusConfig")
        check.name("name", name, max_length=64)
        check.optional(check.instance, "rng", rng, kind=random.Random, what="a random.Random")
        check.optional(check.instance, "store", store, kind=TaskStore,
                       what="a TaskStore (SqliteTaskStore, RedisTaskStore, MemoryTaskStore)")
        bus = cls(system, config or EventBusConfig(), name, rng or random.Random(), store)
        system.start_child(SupervisorSpec(name, [ChildSpec(f"{name}:broker", Broker,
                                                           args=(bus,))],
                                          max_restarts=10, within_seconds=10))
        return bus

    # -- publishing (caller's thread) ------------------------------------------------------

    def publish(self, event_name: str, payload: Any) -> None:
        """Hand `payload` to every subscriber whose pattern matches; never blocks.

        Raises `ConfigError` for an invalid event name and `BusStopped` after stop.
        """
        tracer = context.tracer
        if tracer is not None:  # every subscriber's delivery becomes a child of this span
            with tracer.span("bus.publish", {"bus": self.name, "event_name": event_name
                                             if event_name.__class__ is str else None}):
                self._publish(event_name, payload)
            return
        self._publish(event_name, payload)

    def _publish(self, event_name: str, payload: Any) -> None:
        if self._stopped or not self.system.running:
            # Stopped with its system too: an event taken then would reach nobody.
            raise BusStopped(f"bus {self.name!r} is stopped (or its actor system is); events "
                             "can't be published")
        if event_name.__class__ is not str or event_name not in self._known_names:
            validate_event_name(event_name)
            if len(self._known_names) < 10_000:
                self._known_names.add(event_name)
        targets = self._route_cache.get(event_name)
        if targets is None:
            targets = tuple(s for s in self._routes if isinstance(s, SubscriberState)
                            and matches(s.pattern, event_name))
            self._route_cache[event_name] = targets
        groups = self._durable_groups(event_name) if self._registry is not None else ()
        event = Event(event_name, payload, next(self._seq), time.time())
        if groups:
            self._store_for_groups(event, groups)  # refuses a non-JSON payload before anyone
        self._published += 1
        item = work_item(event)  # shared by every subscriber
        for subscriber in targets:
            subscriber.offer(item)
        for local in self._routes:
            if isinstance(local, DurableSubscriber) and local.name in groups:
                local.nudge()

    def _durable_groups(self, event_name: str) -> tuple[str, ...]:
        """The durable groups (in any process) whose pattern matches, refreshed twice a second."""
        if time.monotonic() - self._groups[0] > _GROUP_REFRESH_S:
            self._refresh_groups()
        cached = self._group_cache.get(event_name)
        if cached is None:
            cached = tuple(g for g, p in self._groups[1].items() if matches(p, event_name))
            self._group_cache[event_name] = cached
        return cached

    def _refresh_groups(self) -> None:
        assert self._registry is not None
        groups = self._registry.groups(self.name)
        if groups != self._groups[1]:
            self._group_cache = {}
        self._groups = (time.monotonic(), groups)

    def _store_for_groups(self, event: Event, groups: tuple[str, ...]) -> None:
        assert self._tasks is not None
        record = encode_record(event)  # checked once, stored once per group
        self._tasks.store.enqueue_many(
            [NewTask._encoded(queue_for(self.name, group), event, record)
             for group in groups], event.published_at)

    # -- subscriptions (through the broker) --------------------------------------------------

    def subscribe(self, pattern: str, handler: Handler, *, name: str | None = None,
                  durable: bool = False, timeout: float = 10.0) -> Subscription:
        """Deliver events matching `pattern` to `handler(payload)` on a delivery actor of its own.

        Patterns are dot-separated: `*` matches one segment, `#` zero or more
        (`order.*`, `order.#`, `#`). A `durable` subscriber needs a `name` (the
        same after a restart) and a bus started with a `store`: its undelivered
        events are committed to the store and survive restarts, and its payloads
        must be JSON. Raises `ConfigError` for a bad pattern, a handler that is
        not callable, or a durable subscription without a name or store.
        """
        validate_pattern(pattern)
        check.callable_("handler", handler, "a callable taking the event's payload")
        if name is not None:
            check.name("name", name, max_length=64)
            if not _SUBSCRIBER.fullmatch(name):
                raise ConfigError("name", name, "a subscriber name of letters, digits, '-' "
                                  "or '_' (it names the subscriber's actor and queue)")
        check.boolean("durable", durable)
        check.seconds("timeout", timeout)
        if durable and (name is None or self._tasks is None):
            raise ConfigError("durable", durable,
                              "a name for the subscriber and a bus started with store=... "
                              "(its events are kept in that store across restarts)")
        broker = self._broker()
        state = broker.ask(_Subscribe(pattern, handler, name, durable), timeout=timeout)
        return Subscription(self, state)

    def _broker(self) -> Any:
        if self._stopped:
            raise BusStopped(f"bus {self.name!r} is stopped; subscriptions can't change")
        try:
            return self.system.service(f"{self.name}:broker")
        except SystemNotRunning as exc:
            raise BusStopped(f"bus {self.name!r}'s system is not running") from exc

    def _unsubscribe(self, name: str) -> None:
        self._broker().ask(_Unsubscribe(name))

    def _add(self, request: _Subscribe) -> SubscriberState | DurableSubscriber:  # in the broker

        name = request.label or f"s{next(self._ids)}"
        if any(s.name == name for s in self._routes):
            raise ConfigError("name", name, "a subscriber name not already in use on this bus")
        rng = random.Random(self._rng.random())
        state: SubscriberState | DurableSubscriber
        if request.durable:
            assert self._tasks is not None
            assert self._registry is not None
            self._registry.register(self.name, name, request.pattern)
            state = DurableSubscriber(name, request.pattern, request.handler,
                                      queue=queue_for(self.name, name), system=self.system,
                                      tasks=self._tasks, config=self.config, rng=rng,
                                      dead_letter=self._add_dead)
            spec = state.child_spec(f"{self.name}:sub:{name}")
        else:
            state = SubscriberState(name, request.pattern, request.handler, config=self.config,
                                    scheduler=self._scheduler, rng=rng,
                                    dead_letter=self._add_dead)
            spec = ChildSpec(f"{self.name}:sub:{name}", DeliveryActor, args=(state,),
                             mailbox_size=self.config.buffer_size)
        state.attach(self.system.start_child(spec, parent=self.name))
        if isinstance(state, DurableSubscriber):
            self._refresh_groups()  # publishes from now on include the group
        self._set_routes((*self._routes, state))
        _log.info("subscription.created", bus=self.name, subscriber=name,
                  pattern=request.pattern, durable=request.durable)
        return state

    def _remove(self, name: str) -> bool:  # runs in the broker
        state = next((s for s in self._routes if s.name == name), None)
        if state is None:
            return False
        state.cancelled = True
        self._set_routes(tuple(s for s in self._routes if s is not state))
        discarded = state.discard_all()
        if state.ref is not None:
            state.ref.stop()
        _log.info("subscription.cancelled", bus=self.name, subscriber=name,
                  discarded=discarded)
        return True

    def delete_group(self, name: str) -> None:
        """Forget durable group `name` in every process: publishers stop storing for it.

        Its stored, undelivered events stay in the store's queue until purged.
        """
        if self._registry is None:
            raise ConfigError("store", None, "a bus started with store=... (durable groups)")
        local = next((s for s in self._routes if s.name == name), None)
        if local is not None:
            self._unsubscribe(name)
        self._registry.unregister(self.name, name)
        self._refresh_groups()

    def _set_routes(self, routes: tuple[SubscriberState | DurableSubscriber, ...]) -> None:
        self._routes = routes
        self._route_cache = {}

    # -- dead letters and metrics ---------------------------------------------------------------

    def _add_dead(self, dead: DeadEvent) -> None:
        with self._dead_lock:
            self._dead.append(dead)
            self._dead_lock.notify_all()

    def wait_for_dead_letters(self, count: int, subscriber: str | None = None,
                              timeout: float = 10.0) -> bool:
        """Wait until at least `count` dead events (of `subscriber`) are held."""
        check.integer("count", count, minimum=0)
        check.seconds("timeout", timeout, allow_zero=True)

        def enough() -> bool:
            return sum(1 for d in self._dead
                       if subscriber is None or d.subscriber == subscriber) >= count

        with self._dead_lock:
            return self._dead_lock.wait_for(enough, timeout)

    def dead_letters(self, subscriber: str | None = None) -> list[DeadEvent]:
        """Dead events, oldest first, optionally for one subscriber."""
        with self._dead_lock:
            return [d for d in self._dead if subscriber is None or d.subscriber == subscriber]

    def replay(self, subscriber: str | None = None,
               select: Callable[[DeadEvent], bool] | None = None) -> int:
        """Deliver dead events again (fresh attempts) to their subscriber; returns how many.

        Dead events of subscribers that have unsubscribed stay where they are.
        """
        live = {s.name: s for s in self._routes}
        with self._dead_lock:
            chosen = [d for d in self._dead
                      if (subscriber is None or d.subscriber == subscriber)
                      and (select is None or select(d)) and d.subscriber in live]
            for dead in chosen:
                self._dead.remove(dead)
        for dead in chosen:
            target = live[dead.subscriber]
            if isinstance(target, DurableSubscriber):
                if dead.task_id is not None and self._tasks is not None:
                    self._tasks.replay(dead.task_id)
                target.nudge()
            else:
                target.offer(work_item(dead.event))
        _log.info("event.replayed", bus=self.name, count=len(chosen), subscriber=subscriber)
        return len(chosen)

    def purge(self, subscriber: str | None = None,
              select: Callable[[DeadEvent], bool] | None = None) -> int:
        """Discard dead events (of `subscriber`, those `select` picks); returns how many.

        A durable subscriber's stored copy stays in its task queue's dead letters.
        """
        with self._dead_lock:
            chosen = [d for d in self._dead
                      if (subscriber is None or d.subscriber == subscriber)
                      and (select is None or select(d))]
            for dead in chosen:
                self._dead.remove(dead)
        _log.info("event.purged", bus=self.name, count=len(chosen), subscriber=subscriber)
        return len(chosen)

    def metrics(self) -> dict[str, SubscriberMetrics]:
        """Per subscriber: delivered, retried, dead-lettered, backlog, lag."""
        return {s.name: s.metrics() for s in self._routes}

    @property
    def published(self) -> int:
        """How many events were published (each counted once, whatever the fan-out)."""
        return self._published

    def stop(self, timeout: float | None = None) -> None:
        """Stop the broker and every delivery actor; later publishes raise `BusStopped`."""
        self._stopped = True
        self._set_routes(())
        self.system.service(self.name).stop(timeout=timeout)
