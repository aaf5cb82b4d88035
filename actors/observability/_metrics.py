"""What the runtime measures, read from the `XMetrics` objects into plain metric families.

`StanchionMetrics.collect()` reads every registered source at the moment it
is called: mailbox counters and depth (`ServiceRef.stats()`), breakers,
sagas, queues, bus subscribers, rate limiters and retry budgets. Reading
never sends a message to an actor; a queue's statistics may query its store.
The Prometheus endpoint and the OpenTelemetry instruments both render these
families (names follow Prometheus conventions: units in names, `_total` for
counters). The only thing recorded on the hot path is the time a message
waited in its mailbox, and only while a `StanchionMetrics` with
`time_mailboxes=True` is open.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from actors.breaker import BreakerGate, BreakerTransition, CircuitBreaker
from actors.bus import EventBus
from actors.core import UnknownService, validate as check
from actors.observability._errors import ObservabilityNotInstalled
from actors.ratelimit import TokenBucket
from actors.retry import RetryBudget
from actors.saga import DURATION_BUCKETS_S, Sagas
from actors.supervision import ActorSystem
from actors.taskqueue import TaskQueueService

Kind = Literal["gauge", "counter", "histogram"]

#: Upper bounds (seconds) of the time-in-mailbox histogram's buckets; a last one is +Inf.
MAILBOX_WAIT_BUCKETS_S: tuple[float, ...] = (0.00001, 0.00005, 0.0001, 0.00025, 0.0005,
                                             0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                             0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True, slots=True)
class HistogramValue:
    """A histogram's cumulative bucket counts (`buckets[i]`: observations <= `bounds[i]`)."""

    bounds: tuple[float, ...]
    buckets: tuple[int, ...]  # len(bounds) + 1; the last is the count of everything
    sum: float

    @property
    def count(self) -> int:
        """How many observations."""
        return self.buckets[-1]


@dataclass(frozen=True, slots=True)
class Sample:
    """One labelled value of a metric family."""

    labels: Mapping[str, str]
    value: float | HistogramValue


@dataclass(frozen=True, slots=True)
class MetricFamily:
    """A metric and its samples. `name` is the Prometheus name (counters end in `_total`)."""

    name: str
    kind: Kind
    help: str
    unit: str
    samples: list[Sample] = field(default_factory=list)


class _Histograms:
    """Per-label cumulative histograms, updated from any thread."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self._lock = threading.Lock()
        self._counts: dict[str, list[int]] = {}
        self._sums: dict[str, float] = {}

    def observe(self, label: str, value: float) -> None:
        index = bisect.bisect_left(self.bounds, value)
        with self._lock:
            counts = self._counts.get(label)
            if counts is None:
                counts = self._counts[label] = [0] * (len(self.bounds) + 1)
                self._sums[label] = 0.0
            counts[index] += 1
            self._sums[label] += value

    def values(self) -> dict[str, HistogramValue]:
        with self._lock:
            result = {}
            for label, counts in self._counts.items():
                cumulative, running = [], 0
                for count in counts:
                    running += count
                    cumulative.append(running)
                result[label] = HistogramValue(self.bounds, tuple(cumulative),
                                               self._sums[label])
            return result


class StanchionMetrics:
    """The runtime's metrics: register what to read, then `collect()` (or serve them).

    Every service of `system` is included (mailbox depth and capacity,
    processed, rejected, crashes, restarts). Add breakers, sagas, task queues,
    buses, rate limiters and retry budgets with the `add_*` methods. With
    `time_mailboxes=True` (the default) the time each message waits in its
    mailbox is recorded too, which costs a clock read per message: `close()`
    (or leaving the `with` block) stops that.

    Example:
        >>> from actors.supervision import ActorSystem
        >>> from actors.observability import StanchionMetrics
        >>> with ActorSystem() as system, StanchionMetrics(system) as metrics:
        ...     "stanchion_mailbox_depth" in {f.name for f in metrics.collect()}
        True
    """

    def __init__(self, system: ActorSystem | None = None, *, time_mailboxes: bool = True) -> None:
        check.optional(check.instance, "system", system, kind=ActorSystem,
                       what="an actors.supervision.ActorSystem")
        check.boolean("time_mailboxes", time_mailboxes)
        self.system = system
        self._lock = threading.Lock()
        self._breakers: dict[str, CircuitBreaker] = {}
        self._transitions: dict[tuple[str, str, str], int] = {}
        self._sagas: list[Sagas] = []
        self._queues: list[tuple[TaskQueueService, tuple[str, ...]]] = []
        self._buses: list[EventBus] = []
        self._limiters: dict[str, TokenBucket] = {}
        self._budgets: dict[str, RetryBudget] = {}
        self._waits = _Histograms(MAILBOX_WAIT_BUCKETS_S)
        self._timing = False
        if time_mailboxes:
            try:
                from actors.observability._tracing import (  # noqa: PLC0415 - needs the extra
                    set_mailbox_wait_recorder,
                )
            except ModuleNotFoundError as exc:
                raise ObservabilityNotInstalled("StanchionMetrics(time_mailboxes=True)",
                                                "opentelemetry") from exc
            set_mailbox_wait_recorder(self._waits.observe)
            self._timing = True

    def __enter__(self) -> StanchionMetrics:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop timing mailboxes (the counters stay readable)."""
        if self._timing:
            from actors.observability._tracing import set_mailbox_wait_recorder  # noqa: PLC0415

            set_mailbox_wait_recorder(None)
            self._timing = False

    # -- registration --------------------------------------------------------------------

    def add_breaker(self, breaker: CircuitBreaker | BreakerGate) -> None:
        """Read a `CircuitBreaker` (or a `BreakerGate`'s) and count its transitions."""
        inner = breaker.breaker if isinstance(breaker, BreakerGate) else breaker
        check.instance("breaker", inner, CircuitBreaker,
                       "an actors.breaker.CircuitBreaker or BreakerGate")
        with self._lock:
            if inner.name in self._breakers:
                return
            self._breakers[inner.name] = inner
        inner.add_listener(self._transition)

    def _transition(self, event: BreakerTransition) -> None:
        key = (event.breaker, event.from_state, event.to_state)
        with self._lock:
            self._transitions[key] = self._transitions.get(key, 0) + 1

    def add_sagas(self, sagas: Sagas) -> None:
        """Read the counters of every saga definition `sagas` runs."""
        check.instance("sagas", sagas, Sagas, "an actors.saga.Sagas")
        with self._lock:
            self._sagas.append(sagas)

    def add_task_queue(self, service: TaskQueueService,
                       queues: Sequence[str] | None = None) -> None:
        """Read `queues` (default: every queue the service serves)."""
        check.instance("service", service, TaskQueueService,
                       "an actors.taskqueue.TaskQueueService")
        names = tuple(service.queues if queues is None else queues)
        for name in names:
            service.metrics(name)  # an unknown queue is refused now, not at scrape time
        with self._lock:
            self._queues.append((service, names))

    def add_bus(self, bus: EventBus) -> None:
        """Read every subscriber of `bus` (the ones subscribed later too)."""
        check.instance("bus", bus, EventBus, "an actors.bus.EventBus")
        with self._lock:
            self._buses.append(bus)

    def add_rate_limiter(self, limiter: TokenBucket) -> None:
        """Read a rate limiter's tokens, grants and refusals (labelled with its name)."""
        check.instance("limiter", limiter, TokenBucket, "an actors.ratelimit.TokenBucket")
        with self._lock:
            self._limiters[limiter.name] = limiter

    def add_retry_budget(self, name: str, budget: RetryBudget) -> None:
        """Read a retry budget under the label `budget=name`."""
        check.name("name", name)
        check.instance("budget", budget, RetryBudget, "an actors.retry.RetryBudget")
        with self._lock:
            self._budgets[name] = budget

    # -- reading -------------------------------------------------------------------------

    def collect(self) -> list[MetricFamily]:
        """Every metric family, read now (`FAMILIES` lists them; see docs/observability.md)."""
        families: dict[str, MetricFamily] = {}

        def add(name: str, labels: Mapping[str, str], value: float | HistogramValue) -> None:
            family = families.get(name)
            if family is None:
                kind, help_ = FAMILIES[name]
                family = families[name] = MetricFamily(name, kind, help_, unit_of(name))
            family.samples.append(Sample(dict(labels), value))

        self._collect_services(add)
        with self._lock:
            breakers = dict(self._breakers)
            transitions = dict(self._transitions)
            sagas, queues, buses = list(self._sagas), list(self._queues), list(self._buses)
            limiters, budgets = dict(self._limiters), dict(self._budgets)
        _collect_breakers(add, breakers, transitions)
        _collect_sagas(add, sagas)
        _collect_queues(add, queues)
        _collect_buses(add, buses)
        _collect_limits(add, limiters, budgets)
        return list(families.values())

    def _collect_services(self, add: _Add) -> None:
        system = self.system
        if system is not None and system.running:
            for name in system.service_names():
                try:
                    ref = system.service(name)
                except UnknownService:  # stopped between the two calls
                    continue
                stats = ref.stats()
                labels = {"service": name}
                add("stanchion_mailbox_depth", labels, stats.depth)
                add("stanchion_mailbox_capacity", labels, stats.capacity)
                add("stanchion_messages_processed_total", labels, stats.processed)
                add("stanchion_messages_rejected_total", labels, stats.rejected)
                add("stanchion_service_crashes_total", labels, stats.crashes)
                add("stanchion_service_restarts_total", labels, ref.restarts)
        for service, value in sorted(self._waits.values().items()):
            add("stanchion_mailbox_wait_seconds", {"service": service}, value)


_Add = Callable[[str, Mapping[str, str], "float | HistogramValue"], None]


def unit_of(name: str) -> str:
    """The unit a family's name ends in: `s` for `_seconds`, else `1`."""
    return "s" if name.removesuffix("_total").endswith("_seconds") else "1"


_BREAKER_STATES = ("closed", "open", "half_open", "forced_open", "disabled")


def _collect_breakers(add: _Add, breakers: Mapping[str, CircuitBreaker],
                      transitions: Mapping[tuple[str, str, str], int]) -> None:
    for name, breaker in sorted(breakers.items()):
        m = breaker.metrics()
        for state in _BREAKER_STATES:
            add("stanchion_breaker_state", {"breaker": name, "state": state},
                1 if m.state.value == state else 0)
        for outcome, count in (("succeeded", m.succeeded), ("failed", m.failed_total),
                               ("ignored", m.ignored), ("released", m.released)):
            add("stanchion_breaker_calls_total", {"breaker": name, "outcome": outcome}, count)
        add("stanchion_breaker_not_permitted_total", {"breaker": name}, m.not_permitted)
        add("stanchion_breaker_opened_total", {"breaker": name}, m.trips)
    for (name, from_state, to_state), count in sorted(transitions.items()):
        add("stanchion_breaker_transitions_total",
            {"breaker": name, "from_state": from_state, "to_state": to_state}, count)


def _collect_sagas(add: _Add, all_sagas: Iterable[Sagas]) -> None:
    for sagas in all_sagas:
        for definition, m in sorted(sagas.metrics().items()):
            labels = {"definition": definition}
            add("stanchion_sagas_started_total", labels, m.started)
            add("stanchion_sagas_completed_total", labels, m.completed)
            add("stanchion_sagas_compensated_total", labels, m.compensated)
            add("stanchion_sagas_compensation_failed_total", labels, m.compensation_failed)
            add("stanchion_sagas_stuck_total", labels, m.stuck)
            add("stanchion_sagas_in_flight", labels, m.in_flight)
            add("stanchion_saga_duration_seconds", labels,
                HistogramValue(DURATION_BUCKETS_S, m.duration_buckets, m.duration_sum_s))


def _collect_queues(add: _Add, queues: Iterable[tuple[TaskQueueService, Sequence[str]]]) -> None:
    for service, names in queues:
        for queue in names:
            m = service.metrics(queue)
            labels = {"queue": queue}
            add("stanchion_queue_depth", labels, m.stats.depth)
            add("stanchion_queue_in_flight", labels, m.stats.in_flight)
            add("stanchion_queue_delayed", labels, m.stats.delayed)
            add("stanchion_queue_dead_letters", labels, m.stats.dead_lettered)
            add("stanchion_queue_lag_seconds", labels, m.stats.oldest_age_s)
            add("stanchion_queue_delivered_total", labels, m.delivered)
            add("stanchion_queue_retries_total", labels, m.failed_attempts)


def _collect_buses(add: _Add, buses: Iterable[EventBus]) -> None:
    for bus in buses:
        for subscriber, m in sorted(bus.metrics().items()):
            labels = {"bus": bus.name, "subscriber": subscriber}
            add("stanchion_bus_delivered_total", labels, m.delivered)
            add("stanchion_bus_retried_total", labels, m.retried)
            add("stanchion_bus_dead_lettered_total", labels, m.dead_lettered)
            add("stanchion_bus_backlog", labels, m.backlog)
            add("stanchion_bus_lag_seconds", labels, m.lag_s)


def _collect_limits(add: _Add, limiters: Mapping[str, TokenBucket],
                    budgets: Mapping[str, RetryBudget]) -> None:
    for name, limiter in sorted(limiters.items()):
        m = limiter.metrics()
        labels = {"limiter": name}
        add("stanchion_ratelimit_tokens", labels, m.tokens)
        add("stanchion_ratelimit_granted_total", labels, m.granted)
        add("stanchion_ratelimit_refused_total", labels, m.refused)
    for name, budget in sorted(budgets.items()):
        b = budget.metrics()
        labels = {"budget": name}
        add("stanchion_retry_budget_tokens", labels, b.available)
        add("stanchion_retry_budget_attempts_total", labels, b.attempts_total)
        add("stanchion_retry_budget_retries_total", labels, b.retries_total)
        add("stanchion_retry_budget_refused_total", labels, b.denied_total)


#: Every family `collect()` can return: name -> (kind, help). The OpenTelemetry
#: instruments are made from it up front, and docs/observability.md lists it.
FAMILIES: dict[str, tuple[Kind, str]] = {
    # per service (label: service)
    "stanchion_mailbox_depth": ("gauge", "Messages waiting in the mailbox."),
    "stanchion_mailbox_capacity": (
        "gauge", "Messages the mailbox holds before senders are rejected."),
    "stanchion_mailbox_wait_seconds": (
        "histogram", "Time a message waited in its mailbox before it was handled."),
    "stanchion_messages_processed_total": ("counter", "Messages handled by the service."),
    "stanchion_messages_rejected_total": (
        "counter", "Messages refused because the mailbox was full."),
    "stanchion_service_crashes_total": (
        "counter", "Handler crashes (messages that crashed the service)."),
    "stanchion_service_restarts_total": (
        "counter", "Restarts of the service by its supervisor."),
    # per breaker (label: breaker)
    "stanchion_breaker_state": (
        "gauge", "1 for the breaker's current state (label state), 0 for the others."),
    "stanchion_breaker_calls_total": ("counter", "Calls the breaker admitted, by outcome."),
    "stanchion_breaker_not_permitted_total": ("counter", "Calls refused with CircuitOpen."),
    "stanchion_breaker_opened_total": ("counter", "Transitions to open (trips)."),
    "stanchion_breaker_transitions_total": (
        "counter", "State transitions since the breaker was registered."),
    # per saga definition (label: definition)
    "stanchion_sagas_started_total": ("counter", "Sagas started."),
    "stanchion_sagas_completed_total": ("counter", "Sagas that completed."),
    "stanchion_sagas_compensated_total": ("counter", "Sagas undone by their compensations."),
    "stanchion_sagas_compensation_failed_total": (
        "counter", "Sagas whose compensation failed."),
    "stanchion_sagas_stuck_total": ("counter", "Times a saga stopped for an operator."),
    "stanchion_sagas_in_flight": ("gauge", "Sagas started or recovered and not ended."),
    "stanchion_saga_duration_seconds": (
        "histogram", "Time from a saga's creation to its end."),
    # per queue (label: queue)
    "stanchion_queue_depth": ("gauge", "Tasks claimable now."),
    "stanchion_queue_in_flight": ("gauge", "Tasks leased to a worker."),
    "stanchion_queue_delayed": ("gauge", "Tasks waiting for their due time."),
    "stanchion_queue_dead_letters": ("gauge", "Tasks in the dead-letter queue."),
    "stanchion_queue_lag_seconds": ("gauge", "Age of the oldest task not yet done."),
    "stanchion_queue_delivered_total": (
        "counter", "Tasks delivered by this process's workers."),
    "stanchion_queue_retries_total": (
        "counter", "Failed delivery attempts in this process (each retried or dead-lettered)."),
    # per bus subscriber (labels: bus, subscriber)
    "stanchion_bus_delivered_total": ("counter", "Events delivered."),
    "stanchion_bus_retried_total": ("counter", "Delivery attempts retried."),
    "stanchion_bus_dead_lettered_total": ("counter", "Events dead-lettered."),
    "stanchion_bus_backlog": ("gauge", "Events accepted and not yet done."),
    "stanchion_bus_lag_seconds": ("gauge", "Age of the oldest event not yet delivered."),
    # rate limiters (label: limiter) and retry budgets (label: budget)
    "stanchion_ratelimit_tokens": ("gauge", "Tokens in the bucket now."),
    "stanchion_ratelimit_granted_total": ("counter", "Calls the limiter let through."),
    "stanchion_ratelimit_refused_total": ("counter", "Calls the limiter refused."),
    "stanchion_retry_budget_tokens": ("gauge", "Retries the window allows now."),
    "stanchion_retry_budget_attempts_total": ("counter", "First attempts recorded."),
    "stanchion_retry_budget_retries_total": ("counter", "Retries spent."),
    "stanchion_retry_budget_refused_total": ("counter", "Retries the budget refused."),
}
