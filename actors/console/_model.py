"""What the console shows and does, with no web framework: reads and operator actions.

Every read uses an API that reads directly (mailbox stats, breaker metrics, the
saga log, the task stores, the dead-letter stores): loading the page sends no
message to an actor. Actions go through the same public calls a program would
make (`BreakerGate.force_open`, `Sagas.retry`, `TaskQueue.replay`...), so they
are validated and logged like any other caller's.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from actors.breaker import BreakerGate, BreakerMetrics, BreakerTransition, CircuitBreaker
from actors.bus import DeadEvent, EventBus
from actors.console._errors import ActionUnavailable, NotFound
from actors.core import ConfigError, DeadLetter, LibraryLogger, short_repr, validate as check
from actors.saga import Saga, SagaLog, Sagas, SagaStatus
from actors.supervision import ActorSystem
from actors.taskqueue import (
    DeadLetteredTask,
    QueueStats,
    TaskQueue,
    TaskQueueService,
    TaskStore,
)

_log = LibraryLogger("stanchion.console")
T = TypeVar("T")

#: Transitions kept per breaker for its history.
HISTORY = 50
#: The most sagas a search reads from the log.
SAGA_SEARCH_LIMIT = 1000
#: Characters of a message or payload shown in a dead letter's detail.
DETAIL_CHARS = 4000

SAGA_STATUSES = tuple(str(s) for s in SagaStatus)
BREAKER_ACTIONS = ("force_open", "force_close", "reset")
LETTER_ACTIONS = ("replay", "purge")


@dataclass(frozen=True, slots=True)
class ServiceRow:
    """One line of the supervision tree."""

    name: str
    supervisor: str | None
    kind: str
    level: int
    depth: int
    capacity: int
    processed: int
    rejected: int
    crashes: int
    restarts: int
    rate: float


@dataclass(frozen=True, slots=True)
class Transition:
    """A breaker transition as the console saw it, stamped with the console's clock."""

    at: float
    from_state: str
    to_state: str
    reason: str


@dataclass(frozen=True, slots=True)
class BreakerRow:
    """A breaker: its metrics now and its recent transitions, newest first."""

    name: str
    metrics: BreakerMetrics
    history: list[Transition]


@dataclass(frozen=True, slots=True)
class LetterRow:
    """A dead letter of any source, flattened for display.

    `source` is "runtime", "bus:<bus>" or "queue:<label>"; `key` identifies it
    within the source (a task id, or the letter's handle in this process).
    """

    source: str
    key: str
    where: str
    reason: str
    error: str | None
    at: float
    summary: str
    detail: str
    can_purge: bool


@dataclass(frozen=True, slots=True)
class QueueRow:
    """A queue's figures now; `delivered` and `failed` only for queues served here."""

    source: str
    queue: str
    stats: QueueStats
    delivered: int | None = None
    failed: int | None = None


@dataclass
class _QueueSource:
    label: str
    tasks: TaskQueue
    queues: Callable[[], Sequence[str]]
    service: TaskQueueService | None = None

    def replay(self, task_id: str) -> None:
        if self.service is not None:
            self.service.replay(task_id)  # also wakes the workers
        else:
            self.tasks.replay(task_id)


@dataclass
class _BreakerSource:
    breaker: CircuitBreaker
    gate: BreakerGate | None
    history: deque[Transition] = field(default_factory=lambda: deque(maxlen=HISTORY))


class Console:
    """The operator console's model: what to show, and the actions an operator may take.

    Give it a running `ActorSystem` (the supervision tree and its dead letters),
    then `watch()` the patterns to show: breakers (`BreakerGate` or
    `CircuitBreaker`), sagas (`Sagas`, or a `SagaLog` to read only), task
    queues (`TaskQueueService`, or a `TaskStore` with `watch_store`) and event
    buses. Without a system it shows what the stores hold (a console in another
    process). Serve it with `serve_console`.

    Example:
        >>> from actors.supervision import ActorSystem
        >>> with ActorSystem() as system:
        ...     console = Console(system)
        ...     [row.name for row in console.tree()]
        ['root']
    """

    def __init__(self, system: ActorSystem | None = None, *, title: str = "stanchion",
                 clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        check.optional(check.instance, "system", system, kind=ActorSystem,
                       what="a running actors.supervision.ActorSystem, or None")
        self.system = system
        self.title = check.text("title", title, max_length=200)
        self._clock = check.callable_("clock", clock, "a function returning time.time() seconds")
        self._monotonic = check.callable_("monotonic", monotonic, "a monotonic clock")
        self._lock = threading.Lock()
        self._breakers: dict[str, _BreakerSource] = {}
        self._sagas: Sagas | None = None
        self._saga_log: SagaLog | None = None
        self._queues: list[_QueueSource] = []
        self._buses: dict[str, EventBus] = {}
        self._samples: dict[str, tuple[float, int, float]] = {}

    # -- what to show ---------------------------------------------------------------------

    def watch(self, *objects: object) -> Console:
        """Show these patterns: breakers, gates, `Sagas`, saga logs, queue services, buses.

        An `ActorSystem` becomes the system shown (for a console started before
        its system). Returns the console, so calls chain. Anything else is a
        `ConfigError`.
        """
        for each in objects:
            if isinstance(each, ActorSystem):
                self.system = each
            elif isinstance(each, BreakerGate):
                self._watch_breaker(each.breaker, each)
            elif isinstance(each, CircuitBreaker):
                self._watch_breaker(each, None)
            elif isinstance(each, Sagas):
                with self._lock:
                    self._sagas, self._saga_log = each, each.log
            elif all(callable(getattr(each, m, None)) for m in ("get", "by_status")):
                with self._lock:
                    self._saga_log = cast("SagaLog", each)
            elif isinstance(each, TaskQueueService):
                with self._lock:
                    self._queues.append(_QueueSource(each.name, each.tasks,
                                                     _served(each), each))
            elif isinstance(each, EventBus):
                with self._lock:
                    self._buses[each.name] = each
            else:
                raise ConfigError("objects", each, "an ActorSystem, BreakerGate, "
                                  "CircuitBreaker, Sagas, SagaLog, TaskQueueService or EventBus")
        return self

    def watch_store(self, label: str, store: TaskStore,
                    queues: Sequence[str] | Callable[[], Sequence[str]]) -> Console:
        """Show the queues of a task store (no workers here): names, or a function listing them."""
        check.name("label", label, max_length=64)
        check.instance("store", store, TaskStore, "an actors.taskqueue.TaskStore")
        if callable(queues):
            lister: Callable[[], Sequence[str]] = queues
        else:
            names = [check.name("queues", q) for q in check.items(
                "queues", queues, str, "queue names")]
            def lister() -> Sequence[str]:
                return names
        with self._lock:
            self._queues.append(_QueueSource(label, TaskQueue(store), lister))
        return self

    def _watch_breaker(self, breaker: CircuitBreaker, gate: BreakerGate | None) -> None:
        source = _BreakerSource(breaker, gate)
        with self._lock:
            if breaker.name in self._breakers:
                return
            self._breakers[breaker.name] = source

        def seen(event: BreakerTransition) -> None:
            source.history.appendleft(Transition(self._clock(), event.from_state,
                                                 event.to_state, event.reason))

        breaker.add_listener(seen)

    @property
    def live(self) -> bool:
        """Whether the console runs inside the system it shows (not only reading stores)."""
        return self.system is not None

    @property
    def can_retry_sagas(self) -> bool:
        """Whether a stuck saga can be retried from here (its coordinator runs here)."""
        return self._sagas is not None

    # -- reads ----------------------------------------------------------------------------

    def tree(self) -> list[ServiceRow]:
        """The supervision tree in start order, each service with its rate in messages/s."""
        if self.system is None or not self.system.running:
            return []
        infos = self.system.services()
        now = self._monotonic()
        rows = []
        with self._lock:
            for info in infos:
                rate = self._rate(info.name, info.stats.processed, now)
                stats = info.stats
                rows.append(ServiceRow(info.name, info.supervisor, info.kind, 0, stats.depth,
                                       stats.capacity, stats.processed, stats.rejected,
                                       stats.crashes, info.restarts, rate))
        return _tree_order(rows)

    def _rate(self, name: str, processed: int, now: float) -> float:
        previous = self._samples.get(name)
        if previous is None:
            self._samples[name] = (now, processed, 0.0)
            return 0.0
        then, count, rate = previous
        if now - then >= 0.5:  # a shorter interval is noise: keep the last figure
            rate = max(0.0, (processed - count) / (now - then))
            self._samples[name] = (now, processed, rate)
        return rate

    def breakers(self) -> list[BreakerRow]:
        """Every watched breaker, by name."""
        with self._lock:
            sources = sorted(self._breakers.items())
        return [BreakerRow(name, source.breaker.metrics(), list(source.history))
                for name, source in sources]

    def sagas(self, query: str = "", status: str = "", limit: int = 50) -> list[Saga]:
        """Sagas whose id contains `query`, in `status` ("" for any), newest first."""
        query = check.text("q", query, max_length=200)
        if status:
            check.one_of("status", status, SAGA_STATUSES)
        limit = check.integer("limit", limit, minimum=1, maximum=SAGA_SEARCH_LIMIT)
        log = self._saga_log
        if log is None:
            return []
        if query:
            exact = log.get(query) if check.text_problem(query) is None else None
            if exact is not None and (not status or str(exact.status) == status):
                return [exact]
        found = log.by_status(SagaStatus(status) if status else None, SAGA_SEARCH_LIMIT)
        chosen = [s for s in found if query in s.id]
        chosen.sort(key=lambda s: s.updated_at, reverse=True)
        return chosen[:limit]

    def saga(self, saga_id: str) -> Saga:
        """One saga, with its steps; `NotFound` if the log has none with that id."""
        check.name("saga_id", saga_id)
        saga = self._saga_log.get(saga_id) if self._saga_log is not None else None
        if saga is None:
            raise NotFound("saga", saga_id)
        return saga

    def dead_letters(self) -> list[LetterRow]:
        """The dead letters of the runtime, the buses and the queues, newest first."""
        rows: list[LetterRow] = []
        if self.system is not None:
            rows.extend(_runtime_row(letter) for letter in self.system.dead_letters.list())
        with self._lock:
            buses = list(self._buses.values())
            queues = list(self._queues)
        for bus in buses:
            rows.extend(_bus_row(bus.name, dead) for dead in bus.dead_letters())
        for source in queues:
            for queue in source.queues():
                rows.extend(_task_row(source.label, dead)
                            for dead in source.tasks.dead_letters(queue, 200))
        rows.sort(key=lambda row: row.at, reverse=True)
        return rows

    def dead_letter(self, source: str, key: str) -> LetterRow:
        """One dead letter; `NotFound` if it is gone (replayed, purged, evicted)."""
        self._check_letter(source, key)
        for row in self.dead_letters():
            if row.source == source and row.key == key:
                return row
        raise NotFound("dead letter", f"{source}/{key}")

    def queues(self) -> list[QueueRow]:
        """Every watched queue's depth, in flight, delayed, dead-lettered and lag."""
        with self._lock:
            sources = list(self._queues)
        rows = []
        for source in sources:
            for queue in source.queues():
                if source.service is not None:
                    metrics = source.service.metrics(queue)
                    rows.append(QueueRow(source.label, queue, metrics.stats, metrics.delivered,
                                         metrics.failed_attempts))
                else:
                    rows.append(QueueRow(source.label, queue, source.tasks.stats(queue)))
        return rows

    # -- actions --------------------------------------------------------------------------

    def breaker_action(self, name: str, action: str, operator: str) -> BreakerMetrics:
        """Force a breaker open, force it closed (let every call through), or reset it."""
        check.name("breaker", name)
        check.one_of("action", action, BREAKER_ACTIONS)
        with self._lock:
            source = self._breakers.get(name)
        if source is None:
            raise NotFound("breaker", name, f"the breakers shown are {sorted(self._breakers)}")
        reason = f"console: {operator}"
        target: BreakerGate | CircuitBreaker = source.gate or source.breaker
        if action == "force_open":
            target.force_open(reason)
        elif action == "force_close":
            target.disable(reason)
        else:
            target.reset(reason)
        return source.breaker.metrics()

    def retry_saga(self, saga_id: str) -> bool:
        """Retry a stuck saga's compensations; `False` if it is not stuck."""
        self.saga(saga_id)  # NotFound first: a clearer answer than "not stuck"
        if self._sagas is None:
            raise ActionUnavailable("retrying a saga needs its coordinator: open the console "
                                    "inside the process that runs the sagas")
        return self._sagas.retry(saga_id)

    def replay(self, source: str, key: str) -> str:
        """Deliver a dead letter again; returns where it went."""
        return self._letter_action(source, key, "replay")

    def purge(self, source: str, key: str) -> str:
        """Discard a dead letter; returns where it was."""
        return self._letter_action(source, key, "purge")

    def _letter_action(self, source: str, key: str, action: str) -> str:
        self._check_letter(source, key)
        kind, _, name = source.partition(":")
        if kind == "runtime":
            return self._runtime_letter(key, action)
        if kind == "bus":
            return self._bus_letter(name, key, action)
        return self._queue_letter(name, key, action)

    def _runtime_letter(self, key: str, action: str) -> str:
        if self.system is None:
            raise NotFound("dead letter source", "runtime", "this console reads stores only")
        letter = _find(self.system.dead_letters.list(), key)
        if letter is None:
            raise NotFound("dead letter", f"runtime/{key}")
        if action == "replay":
            # Sent first, removed after: a letter that cannot be delivered stays for later.
            self.system.service(letter.service).tell(letter.message)
        self.system.dead_letters.remove(letter)
        return letter.service

    def _bus_letter(self, bus_name: str, key: str, action: str) -> str:
        with self._lock:
            bus = self._buses.get(bus_name)
        if bus is None:
            raise NotFound("bus", bus_name)
        dead = _find(bus.dead_letters(), key)
        if dead is None:
            raise NotFound("dead letter", f"bus:{bus_name}/{key}")
        if action == "replay":
            if not bus.replay(dead.subscriber, select=lambda d: d is dead):
                raise ActionUnavailable(f"subscriber {dead.subscriber!r} has unsubscribed: "
                                        "its dead events cannot be replayed, only purged")
        else:
            bus.purge(dead.subscriber, select=lambda d: d is dead)
        return dead.subscriber

    def _queue_letter(self, label: str, task_id: str, action: str) -> str:
        with self._lock:
            sources = [s for s in self._queues if s.label == label]
        if not sources:
            raise NotFound("queue source", label)
        if action == "purge":
            raise ActionUnavailable("a task queue's dead letters cannot be purged from the "
                                    "console (the TaskStore contract has no delete): replay it "
                                    "or leave it")
        for source in sources:
            for queue in source.queues():
                if any(d.task.id == task_id for d in source.tasks.dead_letters(queue, 1000)):
                    source.replay(task_id)
                    return queue
        raise NotFound("dead letter", f"queue:{label}/{task_id}")

    def _check_letter(self, source: str, key: str) -> None:
        check.name("source", source, max_length=200)
        check.name("key", key, max_length=200)
        kind = source.partition(":")[0]
        if kind not in ("runtime", "bus", "queue") or (kind == "runtime") != (source == kind):
            raise ConfigError("source", source, "runtime, bus:<name> or queue:<name>")


def _served(service: TaskQueueService) -> Callable[[], Sequence[str]]:
    def names() -> Sequence[str]:
        return sorted(service.queues)
    return names


def _tree_order(rows: list[ServiceRow]) -> list[ServiceRow]:
    """Children right after their supervisor, in start order, with their depth in the tree."""
    children: dict[str | None, list[ServiceRow]] = {}
    names = {row.name for row in rows}
    for row in rows:
        parent = row.supervisor if row.supervisor in names else None
        children.setdefault(parent, []).append(row)
    ordered: list[ServiceRow] = []
    stack = [(row, 0) for row in reversed(children.get(None, []))]
    while stack:
        row, level = stack.pop()
        ordered.append(dataclasses.replace(row, level=level))
        stack.extend((child, level + 1) for child in reversed(children.get(row.name, [])))
    return ordered


def _handle(item: object) -> str:
    return f"{id(item):x}"


def _find(items: list[T], key: str) -> T | None:
    for item in items:
        if _handle(item) == key:
            return item
    return None


def _detail(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a message's own repr must not break the page
        return short_repr(value)
    return text if len(text) <= DETAIL_CHARS else text[:DETAIL_CHARS] + "..."


def _runtime_row(letter: DeadLetter) -> LetterRow:
    return LetterRow("runtime", _handle(letter), letter.service, letter.reason, letter.error,
                     letter.at, short_repr(letter.message), _detail(letter.message), True)


def _bus_row(bus: str, dead: DeadEvent) -> LetterRow:
    return LetterRow(f"bus:{bus}", _handle(dead), dead.subscriber, dead.reason, dead.error,
                     dead.at, f"{dead.event.name} {short_repr(dead.event.payload)}",
                     _detail(dead.event), True)


def _task_row(label: str, dead: DeadLetteredTask) -> LetterRow:
    task = dead.task
    return LetterRow(f"queue:{label}", task.id, task.queue, dead.reason, task.last_error,
                     dead.dead_lettered_at, short_repr(task.payload),
                     _detail(task.payload if task.payload is not None else dead.raw_payload),
                     False)
