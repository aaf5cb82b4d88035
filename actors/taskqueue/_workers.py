"""Worker actors that deliver queued tasks, and the facade that supervises them.

Each queue gets a pool of `QueueWorker` actors sharing one small mailbox of
`Poll` nudges. A nudge means "claim a batch": the worker claims, delivers the
batch, acks what succeeded in one commit, fails the rest (retry with backoff,
or dead-letter), and nudges its pool again while there is work. The mailbox
bound caps how many nudges can wait, so enqueue bursts coalesce instead of
flooding it. When a claim comes back empty the pool polls again after
`poll_interval`, on the system's timer thread, so delayed tasks, retries and
expired leases are picked up without anyone sleeping.
"""

from __future__ import annotations

import itertools
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from actors.core import (
    ConfigError,
    CorruptData,
    Disposable,
    LibraryLogger,
    ServiceActor,
    ServiceRef,
    StanchionError,
    TimerHandle,
    context,
    short_repr,
    storable_text,
    validate as check,
)
from actors.supervision import ActorSystem, ChildSpec, SupervisorSpec
from actors.taskqueue._errors import TaskStoreError
from actors.taskqueue._model import ClaimedTask, DeadLetteredTask, QueueStats, Task
from actors.taskqueue._queue import TaskQueue
from actors.taskqueue._store import TaskStore

_log = LibraryLogger("stanchion.taskqueue")

Deliver = Callable[[Task], object]
"""Delivers one task; raising means the attempt failed and will be retried."""


class Poll(Disposable):
    """Nudge for a queue's worker pool: claim and deliver a batch."""

    __slots__ = ()


_POLL = Poll()


class PermanentDeliveryError(StanchionError):
    """Raise from a delivery to dead-letter the task at once (it can never succeed).

    Raise `actors.CorruptData` instead when the task's payload is not what the
    destination can read at all (a wrong shape): it is dead-lettered at once
    with reason `corrupt`.
    """


def describe_error(error: BaseException) -> str:
    """`repr(error)` as any store can keep it, even when the error's `__repr__` fails."""
    try:
        return storable_text(repr(error))
    except Exception:  # noqa: BLE001 - a hostile __repr__ must not crash the worker
        return f"<{type(error).__name__}>"


class RetryAfter(StanchionError):
    """Raise from a delivery to retry the task no sooner than `delay` seconds from now.

    For a destination that said when to come back (an HTTP `Retry-After`, an
    open circuit breaker's `retry_after`): the queue's backoff delay is raised
    to `delay`, never lowered, and the attempt counts as any failed one.

    Example:
        >>> RetryAfter(30.0, "HTTP 429").delay
        30.0
    """

    def __init__(self, delay: float, reason: str = "") -> None:
        self.delay = check.seconds("delay", delay, allow_zero=True)
        self.reason = check.text("reason", reason, max_length=1000)
        suffix = f" ({reason})" if reason else ""
        super().__init__(f"retry no sooner than {self.delay:g}s{suffix}")


#: The most workers one queue may have: each is an actor with a thread.
MAX_WORKERS = 1000


@dataclass(frozen=True)
class QueueSpec:
    """How one queue is served.

    Args:
        queue: the queue's name (printable, at most 200 characters).
        deliver: a callable taking the `Task`, or the name of a service in the
            system, which is asked with the task's payload.
        workers: size of the worker pool (deliveries in parallel), 1 to 1000.
        batch_size: tasks claimed per batch, 1 to 10,000.
        delivery_timeout: seconds a service delivery may take before it counts
            as failed (it may still complete: destinations must be idempotent);
            finite, > 0.
        poll_interval: seconds between polls of an idle queue, which is how
            delayed tasks, retries and expired leases are noticed; finite, > 0.
            Both durations are at most ten years.

    Example:
        >>> QueueSpec("profile->billing", "billing", workers=4).batch_size
        100
        >>> QueueSpec("profile->billing", "billing", poll_interval=float("inf"))
        Traceback (most recent call last):
        ...
        actors.ConfigError: poll_interval=inf is invalid: expected a finite number of \
seconds > 0 and <= 315360000
    """

    queue: str
    deliver: Deliver | str
    workers: int = 2
    batch_size: int = 100
    delivery_timeout: float = 5.0
    poll_interval: float = 0.2

    def __post_init__(self) -> None:
        check.name("queue", self.queue)
        if not callable(self.deliver):
            try:
                check.name("deliver", self.deliver)
            except ConfigError:
                raise ConfigError("deliver", self.deliver,
                                  "a callable taking a Task, or a service name") from None
        check.integer("workers", self.workers, minimum=1, maximum=MAX_WORKERS)
        check.integer("batch_size", self.batch_size, minimum=1, maximum=10_000)
        check.seconds("delivery_timeout", self.delivery_timeout)
        check.seconds("poll_interval", self.poll_interval)


@dataclass
class _Pool:
    """Shared by the workers of one queue (the facade owns it)."""

    spec: QueueSpec
    tasks: TaskQueue
    resolve: Callable[[str], ServiceRef[Any]]
    schedule: Callable[[float, Callable[[], object]], TimerHandle]
    ref: ServiceRef[Any] | None = None
    idle_timer: TimerHandle | None = None
    delivered: int = 0
    failed: int = 0
    busy: int = 0  # batches claimed and not yet counted
    lock: threading.Lock = field(default_factory=threading.Lock)
    progress: threading.Condition = field(default_factory=threading.Condition)

    def nudge(self) -> None:
        """Ask the pool to claim; a full nudge mailbox means enough nudges already wait."""
        ref = self.ref
        if ref is None:
            return
        ref.offer(_POLL)

    def poll_later(self) -> None:
        with self.lock:
            if self.idle_timer is not None:
                return
            self.idle_timer = self.schedule(self.spec.poll_interval, self._timer_fired)

    def _timer_fired(self) -> None:
        with self.lock:
            self.idle_timer = None
        self.nudge()

    def begin(self) -> None:
        with self.lock:
            self.busy += 1

    def count(self, delivered: int, failed: int) -> None:
        with self.lock:
            self.busy -= 1
            self.delivered += delivered
            self.failed += failed
        self.notify()

    def notify(self) -> None:
        with self.progress:
            self.progress.notify_all()


_worker_ids = itertools.count(1)


class QueueWorker(ServiceActor):
    """One member of a queue's worker pool (started by `TaskQueueService`)."""

    mailbox_size = 4  # nudges only: a few waiting is enough, more would be redundant

    def __init__(self, pool: _Pool) -> None:
        super().__init__()
        self.pool = pool
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{next(_worker_ids)}"

    def on_start(self) -> None:
        self.pool.nudge()

    def on_receive(self, message: Any) -> Any:
        if not isinstance(message, Poll):
            return super().on_receive(message)
        spec = self.pool.spec
        try:
            batch = self.pool.tasks.claim(spec.queue, self.worker_id, spec.batch_size)
        except TaskStoreError as exc:
            # The store is down or locked: restarting this worker would not bring it
            # back, and crashing in a loop would exhaust the supervisor. Poll later.
            self._store_failed("claim", exc)
            self.pool.poll_later()
            return None
        if not batch:
            self.pool.poll_later()
            self.pool.notify()
            return None
        self.pool.begin()
        done: list[ClaimedTask] = []
        failures: list[tuple[ClaimedTask, BaseException]] = []
        try:
            self.pool.nudge()  # more may be waiting: let an idle member claim in parallel
            done, failures = self._deliver(batch)
            try:
                if done:
                    self.pool.tasks.ack(done)
                for claimed, error in failures:
                    text = describe_error(error)
                    if isinstance(error, CorruptData):
                        self.pool.tasks.reject(claimed, text, reason="corrupt")
                    elif isinstance(error, PermanentDeliveryError):
                        self.pool.tasks.reject(claimed, text)
                    elif isinstance(error, RetryAfter):
                        self.pool.tasks.fail(claimed, text, retry_after=error.delay)
                    else:
                        self.pool.tasks.fail(claimed, text)
            except TaskStoreError as exc:  # unacked tasks come back after their lease
                self._store_failed("ack", exc)
        finally:  # a worker that crashes mid-batch must not leave the pool busy
            self.pool.count(len(done), len(failures))
        self.pool.nudge()
        return None

    def _store_failed(self, operation: str, error: TaskStoreError) -> None:
        _log.warning("task.store_failed", queue=self.pool.spec.queue, operation=operation,
                     worker_id=self.worker_id, error=describe_error(error))

    def _deliver(
        self, batch: Sequence[ClaimedTask]
    ) -> tuple[list[ClaimedTask], list[tuple[ClaimedTask, BaseException]]]:
        deliver = self.pool.spec.deliver
        done: list[ClaimedTask] = []
        failures: list[tuple[ClaimedTask, BaseException]] = []
        tracer = context.tracer
        if tracer is not None:
            return self._deliver_traced(tracer, batch)
        if isinstance(deliver, str):
            # Ask for the whole batch at once so that one deadline covers it, instead
            # of one timeout per task when the destination hangs.
            timeout = self.pool.spec.delivery_timeout
            deadline = time.monotonic() + timeout
            pending = []
            try:
                target = self.pool.resolve(deliver)
            except StanchionError as exc:
                return [], [(claimed, exc) for claimed in batch]
            for claimed in batch:
                try:
                    pending.append((claimed, target.ask(claimed.task.payload, block=False)))
                except StanchionError as exc:
                    failures.append((claimed, exc))
            for claimed, future in pending:
                try:
                    future.get(timeout=max(0.0, deadline - time.monotonic()))
                except Exception as exc:  # noqa: BLE001 - any failure means "retry later"
                    failures.append((claimed, exc))
                else:
                    done.append(claimed)
            return done, failures
        for claimed in batch:
            try:
                deliver(claimed.task)
            except Exception as exc:  # noqa: BLE001 - any failure means "retry later"
                failures.append((claimed, exc))
            else:
                done.append(claimed)
        return done, failures

    def _deliver_traced(
        self, tracer: context.Tracer, batch: Sequence[ClaimedTask]
    ) -> tuple[list[ClaimedTask], list[tuple[ClaimedTask, BaseException]]]:
        """`_deliver` with a `task.deliver` span per attempt, child of the enqueuer's span."""
        deliver = self.pool.spec.deliver
        spans = {}
        for claimed in batch:
            task = claimed.task
            spans[task.id] = tracer.start("task.deliver", {
                "queue": task.queue, "task_id": task.id, "attempt": task.attempts,
                "worker_id": self.worker_id}, parent=task.trace)

        def traced(claimed: ClaimedTask) -> object:
            with spans[claimed.task.id].activate():
                return deliver(claimed.task)  # type: ignore[operator]

        if isinstance(deliver, str):
            def ask(task: Task) -> object:
                return target.ask(task.payload, block=False)
            try:
                target = self.pool.resolve(deliver)
            except StanchionError as exc:
                return self._end_spans(spans, [], [(claimed, exc) for claimed in batch])
            timeout = self.pool.spec.delivery_timeout
            deadline = time.monotonic() + timeout
            pending = []
            failures: list[tuple[ClaimedTask, BaseException]] = []
            done: list[ClaimedTask] = []
            for claimed in batch:
                try:
                    with spans[claimed.task.id].activate():
                        pending.append((claimed, ask(claimed.task)))
                except StanchionError as exc:
                    failures.append((claimed, exc))
            for claimed, future in pending:
                try:
                    future.get(timeout=max(0.0, deadline - time.monotonic()))  # type: ignore[attr-defined]
                except Exception as exc:  # noqa: BLE001 - any failure means "retry later"
                    failures.append((claimed, exc))
                else:
                    done.append(claimed)
            return self._end_spans(spans, done, failures)
        done, failures = [], []
        for claimed in batch:
            try:
                traced(claimed)
            except Exception as exc:  # noqa: BLE001 - any failure means "retry later"
                failures.append((claimed, exc))
            else:
                done.append(claimed)
        return self._end_spans(spans, done, failures)

    @staticmethod
    def _end_spans(
        spans: Mapping[str, context.Span], done: list[ClaimedTask],
        failures: list[tuple[ClaimedTask, BaseException]],
    ) -> tuple[list[ClaimedTask], list[tuple[ClaimedTask, BaseException]]]:
        for claimed, error in failures:
            spans[claimed.task.id].fail(error)
        for span in spans.values():
            span.end()
        return done, failures


@dataclass(frozen=True, slots=True)
class QueueMetrics:
    """A queue's store statistics and its workers' counters."""

    queue: str
    stats: QueueStats
    delivered: int
    failed_attempts: int


class TaskQueueService:
    """A durable task queue with supervised worker actors, running in an `ActorSystem`.

    Example:
        >>> import threading
        >>> from actors.backends import MemoryTaskStore
        >>> from actors.taskqueue import QueueSpec, TaskQueueService
        >>> from actors.supervision import ActorSystem
        >>> seen, done = [], threading.Event()
        >>> def deliver(task):
        ...     seen.append(task.payload)
        ...     done.set()
        >>> with ActorSystem() as system:
        ...     tasks = TaskQueueService.start(system, MemoryTaskStore(),
        ...                                    [QueueSpec("profile->billing", deliver)])
        ...     _ = tasks.enqueue("profile->billing", {"user_id": "u-1", "version": 2})
        ...     done.wait(5)
        True
        >>> seen
        [{'user_id': 'u-1', 'version': 2}]
    """

    def __init__(self, system: ActorSystem, store: TaskStore, specs: Sequence[QueueSpec], *,
                 name: str, clock: Callable[[], float], rng: random.Random | None) -> None:
        check.instance("store", store, TaskStore,
                       "a TaskStore (SqliteTaskStore, RedisTaskStore, MemoryTaskStore)")
        specs = check.items("queues", specs, QueueSpec, "QueueSpec")
        check.name("name", name)
        names = [s.queue for s in specs]
        if len(set(names)) != len(names):
            raise ConfigError("queues", names, "one QueueSpec per queue")
        for queue in names:
            if len(f"{name}:{queue}") > check.MAX_NAME_LENGTH:
                raise ConfigError("queues", queue,
                                  f"queue names short enough that '{{name}}:{{queue}}' fits "
                                  f"in {check.MAX_NAME_LENGTH} characters (the workers' "
                                  "service name)")
        check.callable_("clock", clock, "a function returning time.time() seconds")
        check.optional(check.instance, "rng", rng, kind=random.Random, what="a random.Random")
        self.system = system
        self.store = store
        self.name = name
        self.tasks = TaskQueue(store, clock=clock, rng=rng)
        self._clock = clock
        scheduler = system.scheduler
        self._pools: dict[str, _Pool] = {
            spec.queue: _Pool(spec, self.tasks, system.service, scheduler.call_later)
            for spec in specs
        }

    @classmethod
    def start(
        cls,
        system: ActorSystem,
        store: TaskStore,
        queues: Sequence[QueueSpec],
        *,
        name: str = "taskqueue",
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> TaskQueueService:
        """Start a worker pool per queue under a supervisor called `name`."""

        check.instance("system", system, ActorSystem, "a running supervisor.ActorSystem")

        service = cls(system, store, queues, name=name, clock=clock, rng=rng)
        children = [
            ChildSpec(f"{name}:{queue}", QueueWorker, args=(pool,), pool_size=pool.spec.workers)
            for queue, pool in service._pools.items()
        ]
        system.start_child(SupervisorSpec(name, children, max_restarts=10, within_seconds=10))
        for queue, pool in service._pools.items():
            pool.ref = system.service(f"{name}:{queue}")
            pool.nudge()
        return service

    def enqueue(self, queue: str, payload: Any, *, delay: float = 0.0, at: float | None = None,
                priority: int = 0) -> str:
        """Persist a task (returns once committed) and wake the queue's workers.

        `delay` (seconds from now) or `at` (a `time.time()` value) postpones it.
        """
        return self.enqueue_many(queue, [payload], delay=delay, at=at, priority=priority)[0]

    def enqueue_many(self, queue: str, payloads: Sequence[Any], *, delay: float = 0.0,
                     at: float | None = None, priority: int = 0) -> list[str]:
        """Persist several tasks in one commit (all or none) and wake the workers."""
        check.name("queue", queue)
        delay = check.seconds("delay", delay, allow_zero=True)
        if at is not None:
            check.number("at", at, unit="time.time() seconds")
            if delay != 0:
                raise ConfigError("at", at, "either delay or at, not both")
            delay = min(max(0.0, at - self._clock()), check.MAX_SECONDS)
        pool = self._pools.get(queue)
        if pool is None:
            raise StanchionError(
                f"no workers serve queue {short_repr(queue)} (served: {sorted(self._pools)}); "
                "add a QueueSpec for it to TaskQueueService.start")
        ids = self.tasks.enqueue_many(queue, payloads, delay=delay, priority=priority)
        if not delay:
            pool.nudge()
        return ids

    def metrics(self, queue: str) -> QueueMetrics:
        """Depth, in flight, delayed, dead-lettered, oldest age, and delivery counters."""
        pool = self._pool(queue)
        return QueueMetrics(queue, self.tasks.stats(queue), pool.delivered, pool.failed)

    def wait_for(self, queue: str, predicate: Callable[[QueueMetrics], bool],
                 timeout: float) -> bool:
        """Wait until `predicate(metrics)` holds; `False` after `timeout` seconds.

        Re-checked whenever a worker finishes a batch or finds the queue empty.
        """
        pool = self._pool(queue)
        check.callable_("predicate", predicate, "a function of QueueMetrics returning a bool")
        check.seconds("timeout", timeout, allow_zero=True)
        deadline = time.monotonic() + timeout
        with pool.progress:
            while not predicate(self.metrics(queue)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                pool.progress.wait(min(remaining, pool.spec.poll_interval * 2))
        return True

    def _pool(self, queue: str) -> _Pool:
        pool = self._pools.get(queue) if queue.__class__ is str else None
        if pool is None:
            raise ConfigError("queue", queue, f"one of the queues served: {sorted(self._pools)}")
        return pool

    def wait_until_drained(self, queue: str, timeout: float) -> bool:
        """Wait until nothing is due, delayed or in flight (dead letters aside).

        When it returns `True`, the queue's metrics count every delivery made.
        """
        pool = self._pool(queue)
        return self.wait_for(queue, lambda m: m.stats.depth == m.stats.in_flight
                             == m.stats.delayed == pool.busy == 0, timeout)

    def dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetteredTask]:
        """The queue's dead-lettered tasks, oldest first."""
        return self.tasks.dead_letters(queue, limit)

    def replay(self, task_id: str) -> None:
        """Put a dead-lettered task back, due now, with a fresh attempt budget."""
        self.tasks.replay(task_id)
        for pool in self._pools.values():
            pool.nudge()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the workers (tasks in flight are redelivered after their lease)."""
        for pool in self._pools.values():
            with pool.lock:
                if pool.idle_timer is not None:
                    pool.idle_timer.cancel()
        self.system.service(self.name).stop(timeout=timeout)

    @property
    def queues(self) -> Mapping[str, QueueSpec]:
        """The queues served, by name."""
        return {queue: pool.spec for queue, pool in self._pools.items()}
