"""The delivery engine: claim -> deliver -> ack, retry or dead-letter, for every queue.

Each queue gets a `DeliveryEngine` and a pool of `QueueWorker` actors sharing
one small mailbox of `Poll` nudges. A nudge means "claim a batch": the worker
claims, delivers the batch, acks what succeeded in one commit, hands each
failure to the one shared step (`TaskSchedule.after_error`: retry with
backoff, dead-letter, or quarantine as corrupt), and claims again while its
batches are non-empty; a full batch also nudges an idle member to claim in
parallel. A nudge sent before some worker began a claim is absorbed (that claim
sees whatever the nudge announced), and the mailbox bound caps how many nudges
can wait, so enqueue bursts coalesce instead of flooding it. When a claim comes back empty
the pool polls again after `poll_interval`, on the system's timer thread, so
delayed tasks, retries and expired leases are picked up without anyone sleeping.

An ordered queue (`QueueSpec(ordered_by=...)`) keeps at most one task per key
in flight: a failing task is retried in place, holding its lease, and the
later tasks of its key wait behind it (head-of-line retry); other keys go on.
Durable event-bus groups are such queues, keyed by event name.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from actors.core import (
    ConfigError,
    Disposable,
    ServiceActor,
    ServiceRef,
    StanchionError,
    TimerHandle,
    context,
    short_repr,
    validate as check,
)
from actors.retry import RetryPolicy
from actors.supervision import ActorSystem, ChildSpec, SupervisorSpec
from actors.taskqueue import _events
from actors.taskqueue._errors import (
    PermanentDeliveryError,
    RetryAfter,
    TaskStoreError,
    describe_error,
)
from actors.taskqueue._model import ClaimedTask, DeadLetteredTask, QueueStats, Task
from actors.taskqueue._queue import TaskQueue
from actors.taskqueue._schedule import Decision, GiveUp, RetryAt, TaskSchedule
from actors.taskqueue._store import TaskStore

__all__ = ["PermanentDeliveryError", "RetryAfter", "describe_error"]  # re-exported from here too

Deliver = Callable[[Task], object]
"""Delivers one task; raising means the attempt failed and will be retried."""


class Poll(Disposable):
    """Nudge for a queue's worker pool: claim and deliver a batch."""

    __slots__ = ()


_POLL = Poll()

#: The most workers one queue may have: each is an actor with a thread.
MAX_WORKERS = 1000
#: An ordered queue holds at most this many batches claimed and not yet settled, so a
#: key retrying in place with a long line behind it cannot pull the whole queue into memory.
ORDERED_HOLD_BATCHES = 10


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
        ordered_by: None (default: tasks are independent), or a function of the
            `Task` returning its key (hashable): then at most one task per key
            is in flight, a failing task is retried in place (its lease held)
            and the later tasks of its key wait behind it, while other keys go
            on; after its last attempt it is dead-lettered and its key moves on.
            A task whose key cannot be computed is delivered unordered, failing
            with the key function's error (`CorruptData` quarantines it).
        retry: the backoff between attempts; None (default) uses the store's
            `TaskQueueConfig.retry`.
        claim_linger: seconds a newly enqueued task may wait to be claimed
            with the ones enqueued after it, 0 to 1 (default 0.005). Only while
            tasks keep coming: a task enqueued when the queue's workers have not
            claimed for `claim_linger` is claimed at once, and after a short
            batch the pool claims again `claim_linger` after that claim. Under
            a steady stream of one-task enqueues this turns one claim (and one
            ack) per task into one per batch; 0 claims every task as it comes.
            The default is Kafka's producer `linger.ms` since Kafka 4.0.

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
    ordered_by: Callable[[Task], Hashable] | None = None
    retry: RetryPolicy | None = None
    claim_linger: float = 0.005

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
        check.number("claim_linger", self.claim_linger, minimum=0.0, maximum=1.0)
        if self.ordered_by is not None:
            check.callable_("ordered_by", self.ordered_by,
                            "None, or a function of the Task returning its key")
        check.optional(check.instance, "retry", self.retry, kind=RetryPolicy,
                       what="None or an actors.retry.RetryPolicy")


@dataclass(frozen=True, slots=True)
class DeliveryMetrics:
    """One delivery loop's counters and backlog: a task queue's, or a bus subscriber's.

    Attributes:
        name: the queue, or the subscriber.
        delivered: items delivered (acked).
        retried: failed attempts that will be tried again.
        dead_lettered: items dead-lettered (`max_attempts`, `rejected`,
            `corrupt`; for a bus subscriber also `overflow`).
        failed_attempts: attempts that failed, whatever came of them.
        backlog: items accepted and not yet delivered or dead-lettered.
        lag_s: age of the oldest of them (0.0 when there is none).
        stats: the store's view (a subscriber without a store: its own counts).
        pattern: a bus subscriber's pattern ("" for a task queue).
    """

    name: str
    delivered: int
    retried: int
    dead_lettered: int
    failed_attempts: int
    backlog: int
    lag_s: float
    stats: QueueStats
    pattern: str = ""

    @property
    def queue(self) -> str:
        """The queue's name (`QueueMetrics.queue`)."""
        return self.name

    @property
    def subscriber(self) -> str:
        """The subscriber's name (`SubscriberMetrics.subscriber`)."""
        return self.name


QueueMetrics = DeliveryMetrics
"""A queue's store statistics and its workers' counters (the `DeliveryMetrics` shape)."""


class DeliveryCounts:
    """The counters every delivery loop keeps; the caller serialises updates."""

    __slots__ = ("dead_lettered", "delivered", "failed_attempts", "retried")

    def __init__(self) -> None:
        self.delivered = 0
        self.retried = 0
        self.dead_lettered = 0
        self.failed_attempts = 0

    def failed(self, decision: Decision | None) -> None:
        """Count one failed attempt and what came of it (None: the lease was lost)."""
        self.failed_attempts += 1
        if isinstance(decision, RetryAt):
            self.retried += 1
        elif decision is not None:
            self.dead_lettered += 1

    def metrics(self, name: str, backlog: int, lag_s: float, stats: QueueStats,
                pattern: str = "") -> DeliveryMetrics:
        """A snapshot in the one metrics shape."""
        return DeliveryMetrics(name, self.delivered, self.retried, self.dead_lettered,
                               self.failed_attempts, backlog, lag_s, stats, pattern)


class DeliveryObserver:
    """What the owner of a queue hears of its failed deliveries (no-op by default).

    The event bus records a `DeadEvent` and logs `event.*` through one; the task
    queue's own events (`task.retried`, `task.dead_lettered`) are logged anyway.
    """

    def retried(self, claimed: ClaimedTask, attempts: int, decision: RetryAt,
                error: str) -> None:
        """Attempt number `attempts` of `claimed` failed; tried again after `decision.delay`."""

    def dead_lettered(self, claimed: ClaimedTask, decision: GiveUp, error: str) -> None:
        """`claimed` was moved to the dead letters with `decision.reason`."""


class _Held:
    """A task of an ordered queue, claimed and not yet settled."""

    __slots__ = ("attempts", "claimed", "error", "key")

    def __init__(self, claimed: ClaimedTask, key: Hashable, error: BaseException | None) -> None:
        self.claimed = claimed
        self.key = key
        self.error = error  # the key function's, delivered as the attempt's failure
        self.attempts = claimed.task.attempts


class _Order:
    """Per-key order of an ordered queue, shared by its workers (under `lock`)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.busy: set[Hashable] = set()  # keys with a task in delivery or awaiting its retry
        self.waiting: dict[Hashable, deque[_Held]] = {}
        self.held: dict[str, _Held] = {}
        self.due: list[_Held] = []  # retries whose backoff has passed

    def admit(self, batch: Sequence[ClaimedTask], key_of: Callable[[Task], Hashable]
              ) -> list[_Held]:
        """Register a claimed batch; returns the tasks the caller may deliver now."""
        heads: list[_Held] = []
        for claimed in batch:
            known = self.held.get(claimed.task.id)
            if known is not None:  # its lease expired while it waited: keep the newer one
                known.claimed = claimed
                continue
            try:
                key, error = key_of(claimed.task), None
                hash(key)
            except Exception as exc:  # noqa: BLE001 - a task without a key is delivered unordered
                key, error = None, exc
            item = self.held[claimed.task.id] = _Held(claimed, key, error)
            if key is None:
                heads.append(item)
            elif key in self.busy:
                self.waiting.setdefault(key, deque()).append(item)
            else:
                self.busy.add(key)
                heads.append(item)
        return heads

    def abandon(self, item: _Held) -> None:
        """Forget `item` and the line behind it: they come back when their leases expire."""
        self.held.pop(item.claimed.task.id, None)
        if item.key is not None:
            for waiting in self.waiting.pop(item.key, ()):
                self.held.pop(waiting.claimed.task.id, None)
            self.busy.discard(item.key)

    def next_of(self, item: _Held) -> _Held | None:
        """`item` is settled: the next task of its key (the caller delivers it), or None."""
        self.held.pop(item.claimed.task.id, None)
        if item.key is None:
            return None
        line = self.waiting.get(item.key)
        if line:
            following = line.popleft()
            if not line:
                del self.waiting[item.key]
            return following
        self.busy.discard(item.key)
        return None


class DeliveryEngine:
    """Serves one queue: claims, delivers, acks, retries and dead-letters its tasks.

    Shared by the queue's `QueueWorker` actors (start them with `child_spec`).
    `TaskQueueService` builds one per `QueueSpec`; the event bus builds one per
    durable group. `observer` hears of retries and dead letters; `schedule` (the
    store's policy, or `spec.retry`, by default) decides them.
    """

    def __init__(self, spec: QueueSpec, tasks: TaskQueue, *,
                 resolve: Callable[[str], ServiceRef[Any]],
                 call_later: Callable[[float, Callable[[], object]], TimerHandle],
                 observer: DeliveryObserver | None = None,
                 schedule: TaskSchedule | None = None) -> None:
        self.spec = spec
        self.tasks = tasks
        self.resolve = resolve
        self.call_later = call_later
        self.observer = observer or DeliveryObserver()
        if schedule is None:
            schedule = tasks.schedule
            if spec.retry is not None:
                schedule = schedule.with_policy(spec.retry)
        self.schedule = schedule
        self.order = _Order() if spec.ordered_by is not None else None
        self.ref: ServiceRef[Any] | None = None
        self.idle_timer: TimerHandle | None = None
        self.linger_timer: TimerHandle | None = None
        self.last_claim = -math.inf  # time.monotonic() of the latest claim
        self.counts = DeliveryCounts()
        self.busy = 0  # runs that claimed and are not yet counted
        # Set by every nudge before it is sent, cleared by a worker before each claim:
        # a nudge that finds it clear was sent before a claim began, which sees its work.
        self.pending = False
        self.stopped = False
        self.lock = threading.Lock()
        self.progress = threading.Condition()

    def child_spec(self, name: str) -> ChildSpec:
        """The pool of `spec.workers` worker actors, named `name`."""
        return ChildSpec(name, QueueWorker, args=(self,), pool_size=self.spec.workers)

    def attach(self, ref: ServiceRef[Any]) -> None:
        """Bind the worker pool's stable reference, and start it claiming."""
        self.ref = ref
        self.nudge()

    def nudge(self) -> None:
        """Ask the pool to claim; a full nudge mailbox means enough nudges already wait."""
        ref = self.ref
        if ref is not None and not self.stopped:
            self.pending = True
            ref.offer(_POLL)

    def enqueued(self) -> None:
        """Tasks were stored, due now: claim them at once, or, if the workers claimed
        within the last `spec.claim_linger`, that long after that claim (one timer for
        every enqueue meanwhile), so a stream of enqueues is claimed in batches."""
        wait = self._linger_left()
        if wait <= 0:
            self.nudge()
        else:
            self._nudge_in(wait)

    def _linger_left(self) -> float:
        """Seconds until `claim_linger` has passed since the pool's latest claim."""
        return self.last_claim + self.spec.claim_linger - time.monotonic()

    def _nudge_in(self, wait: float) -> None:
        """Nudge the pool in `wait` seconds, unless a linger timer is set already."""
        if self.linger_timer is None:
            with self.lock:
                if self.linger_timer is None and not self.stopped:
                    self.linger_timer = self.call_later(wait, self._linger_over)

    def _linger_over(self) -> None:
        with self.lock:
            self.linger_timer = None
        self.nudge()

    def poll_later(self) -> None:
        with self.lock:
            if self.idle_timer is not None or self.stopped:
                return
            self.idle_timer = self.call_later(self.spec.poll_interval, self._timer_fired)

    def _timer_fired(self) -> None:
        with self.lock:
            self.idle_timer = None
        self.nudge()

    def stop(self) -> None:
        """Stop claiming; what is held comes back to a worker after its lease."""
        with self.lock:
            self.stopped = True
            for timer in (self.idle_timer, self.linger_timer):
                if timer is not None:
                    timer.cancel()

    def notify(self) -> None:
        with self.progress:
            self.progress.notify_all()

    def metrics(self, name: str | None = None, pattern: str = "") -> DeliveryMetrics:
        """The store's statistics of the queue and the workers' counters."""
        stats = self.tasks.stats(self.spec.queue)
        with self.lock:
            return self.counts.metrics(name or self.spec.queue,
                                       stats.depth + stats.in_flight + stats.delayed,
                                       stats.oldest_age_s, stats, pattern)

    # -- the workers' side ------------------------------------------------------------------

    def run(self, worker_id: str) -> None:
        """One nudge: claim and deliver batches until a claim finds nothing to start."""
        if not self.pending:
            return  # absorbed: a claim began after this nudge was sent
        # Delivered tasks are acked by the next claim's call (one commit for both);
        # whatever is still unacked when the loop ends is acked on its own.
        unacked: list[ClaimedTask] = []
        try:
            while self._run_once(worker_id, unacked):
                pass
        finally:
            if unacked:
                self._ack_and_settle(worker_id, unacked, [], [])
                self._count_delivered(len(unacked))

    def _run_once(self, worker_id: str, unacked: list[ClaimedTask]) -> bool:
        """Claim a batch (acking `unacked` in the same call) and deliver it; whether there
        was one (then claim again)."""
        if self.stopped:
            return False
        self.pending = False
        if self.order is None:
            batch = self._claim(worker_id, unacked)
            heads: list[_Held] = []
        else:
            batch, heads = self._claim_ordered(worker_id)
        if not (heads if self.order is not None else batch):
            if batch:
                self.nudge()  # all of it waits behind keys in delivery: claim on
                return False
            if batch is not None:
                self.notify()
            self.poll_later()
            return False
        self._begin()
        done: list[ClaimedTask] = []
        failures: list[tuple[ClaimedTask, BaseException]] = []
        decisions: list[Decision | None] = []
        try:
            if batch is not None and len(batch) >= self.spec.batch_size:
                self.nudge()  # more may be waiting: let an idle member claim in parallel
            if self.order is None:
                done, failures = self._deliver(batch or [])
            else:
                self._deliver_lines(heads, done)
            self._ack_and_settle(worker_id, done, failures, decisions,
                                 unacked if self.order is None else None)
        finally:  # a worker that crashes mid-batch must not leave the pool busy
            # Deliveries are counted once acked: by the next claim's call (unordered
            # queues), or one by one as each line moves on (ordered).
            self._end_batch(decisions)
        if self.order is None and self.spec.claim_linger and len(batch or ()) < (
                self.spec.batch_size):
            # A short batch: the queue had no more when it was claimed. Claiming again
            # now would take the next task alone: claim `claim_linger` after this claim
            # instead (what was enqueued meanwhile, here or by another process, comes
            # in one batch; an empty claim then means idle), or now if that time passed.
            wait = self._linger_left()
            if wait > 0:
                self._nudge_in(wait)
                return False
        return True

    def _ack_and_settle(self, worker_id: str, done: list[ClaimedTask],
                        failures: list[tuple[ClaimedTask, BaseException]],
                        decisions: list[Decision | None],
                        defer: list[ClaimedTask] | None = None) -> None:
        """Ack `done` (or leave it in `defer`, for the next claim's call) and settle
        `failures`."""
        try:
            if done and defer is not None:
                defer += done
            elif done:
                self.tasks.ack(done)
            for claimed, error in failures:
                decisions.append(self._settle(claimed, error))
        except TaskStoreError as exc:  # unacked tasks come back after their lease
            self._store_failed("ack", worker_id, exc)

    def _claim(self, worker_id: str, unacked: list[ClaimedTask] | None = None
               ) -> list[ClaimedTask] | None:
        done = list(unacked or ())
        if unacked:
            unacked.clear()  # acked by this call, or back after their lease if it fails
        self.last_claim = time.monotonic()
        try:
            if done:
                return self.tasks.ack_then_claim(done, self.spec.queue, worker_id,
                                                 self.spec.batch_size)
            return self.tasks.claim(self.spec.queue, worker_id, self.spec.batch_size)
        except TaskStoreError as exc:
            # The store is down or locked: restarting the worker would not bring it
            # back, and crashing in a loop would exhaust the supervisor. Poll later.
            self._store_failed("ack_then_claim" if done else "claim", worker_id, exc)
            return None
        finally:
            if done:
                self._count_delivered(len(done))

    def _settle(self, claimed: ClaimedTask, error: BaseException) -> Decision | None:
        decision = self.tasks.settle(claimed, error, self.schedule)
        if decision is not None:
            self._tell_observer(claimed, decision, describe_error(error))
        return decision

    def _tell_observer(self, claimed: ClaimedTask, decision: Decision, error: str) -> None:
        if isinstance(decision, RetryAt):
            self.observer.retried(claimed, claimed.task.attempts, decision, error)
        else:
            self.observer.dead_lettered(claimed, decision, error)

    def _claim_ordered(self, worker_id: str) -> tuple[list[ClaimedTask] | None, list[_Held]]:
        """Claim (unless enough is held) and admit; the due retries and the tasks to start."""
        order = self.order
        assert order is not None
        with order.lock:  # claim and admit as one step, so keys are registered in claim order
            heads, order.due = order.due, []
            if len(order.held) >= self.spec.batch_size * ORDERED_HOLD_BATCHES:
                return [], heads
            batch = self._claim(worker_id)
            if batch:
                heads += order.admit(batch, self.spec.ordered_by)  # type: ignore[arg-type]
            return batch, heads

    def _deliver_lines(self, heads: list[_Held], done: list[ClaimedTask]) -> None:
        order = self.order
        assert order is not None
        for index, head in enumerate(heads):
            try:
                self._deliver_line(head, done)
            except BaseException:
                with order.lock:
                    for unstarted in heads[index + 1:]:
                        order.abandon(unstarted)
                raise

    def _deliver_line(self, item: _Held | None, done: list[ClaimedTask]) -> None:
        """Deliver `item`, then the tasks of its key waiting behind it, until one retries.

        Counted as each one ends (not per batch): a line can outlast many batches.
        """
        order = self.order
        assert order is not None
        try:
            while item is not None and not self.stopped:
                item = self._deliver_next(order, item, done)
        except BaseException:
            if item is not None:  # a crash must not leave its key blocked in this process
                with order.lock:
                    order.abandon(item)
            raise

    def _deliver_next(self, order: _Order, item: _Held, done: list[ClaimedTask]
                      ) -> _Held | None:
        """Deliver `item`; the next task of its key, or None if it retries or none waits."""
        error = item.error or self._deliver_one(item.claimed.task)
        if error is None:
            done.append(item.claimed)
            with self.lock:
                self.counts.delivered += 1
        else:
            decision: Decision | None = self.schedule.after_error(error, item.attempts)
            text = describe_error(error)
            if isinstance(decision, RetryAt):
                _events.retried(item.claimed.task, item.attempts, decision.delay, text)
                self.observer.retried(item.claimed, item.attempts, decision, text)
                item.attempts += 1
                self._count_failure(decision)
                self.call_later(decision.delay, functools.partial(self._retry_due, item))
                return None  # the key stays busy: its later tasks wait for this one
            assert isinstance(decision, GiveUp)
            try:
                if self.tasks.reject(item.claimed, text, decision.reason):
                    self.observer.dead_lettered(item.claimed, decision, text)
                else:
                    decision = None
            except TaskStoreError as exc:  # it comes back after its lease, and fails again
                self._store_failed("dead_letter", "", exc)
                decision = None
            self._count_failure(decision)
        with order.lock:
            return order.next_of(item)

    def _retry_due(self, item: _Held) -> None:
        if self.stopped or self.order is None:
            return
        with self.order.lock:
            self.order.due.append(item)
        self.nudge()

    def _begin(self) -> None:
        with self.lock:
            self.busy += 1

    def _end_batch(self, decisions: Sequence[Decision | None]) -> None:
        with self.lock:
            self.busy -= 1
            for decision in decisions:
                self.counts.failed(decision)
        if decisions:  # the delivered ones notify once acked (`_count_delivered`)
            self.notify()

    def _count_delivered(self, delivered: int) -> None:
        with self.lock:
            self.counts.delivered += delivered
        self.notify()

    def _count_failure(self, decision: Decision | None) -> None:
        with self.lock:
            self.counts.failed(decision)

    def _store_failed(self, operation: str, worker_id: str, error: TaskStoreError) -> None:
        _events.store_failed(self.spec.queue, operation, worker_id, describe_error(error))

    def _deliver_one(self, task: Task) -> BaseException | None:
        deliver = self.spec.deliver
        tracer = context.tracer
        try:
            if tracer is not None:
                # A span per attempt, a child of the enqueuer's (stored) span.
                with tracer.span("task.deliver", _span_attributes(task), parent=task.trace):
                    self._call(deliver, task)
            else:
                self._call(deliver, task)
        except Exception as exc:  # noqa: BLE001 - any failure goes to the shared step
            return exc
        return None

    def _call(self, deliver: str | Callable[[Task], object], task: Task) -> None:
        if isinstance(deliver, str):
            self.resolve(deliver).ask(task.payload, timeout=self.spec.delivery_timeout)
        else:
            deliver(task)

    def _deliver(
        self, batch: Sequence[ClaimedTask]
    ) -> tuple[list[ClaimedTask], list[tuple[ClaimedTask, BaseException]]]:
        if isinstance(self.spec.deliver, str):
            return self._ask_batch(self.spec.deliver, batch)
        done: list[ClaimedTask] = []
        failures: list[tuple[ClaimedTask, BaseException]] = []
        for claimed in batch:
            error = self._deliver_one(claimed.task)
            if error is None:
                done.append(claimed)
            else:
                failures.append((claimed, error))
        return done, failures

    def _ask_batch(
        self, service: str, batch: Sequence[ClaimedTask]
    ) -> tuple[list[ClaimedTask], list[tuple[ClaimedTask, BaseException]]]:
        """Ask for the whole batch at once so that one deadline covers it, instead of
        one timeout per task when the destination hangs."""
        done: list[ClaimedTask] = []
        failures: list[tuple[ClaimedTask, BaseException]] = []
        deadline = time.monotonic() + self.spec.delivery_timeout
        try:
            target = self.resolve(service)
        except StanchionError as exc:
            return [], [(claimed, exc) for claimed in batch]
        tracer = context.tracer
        spans: dict[str, context.Span] = {}
        pending = []
        for claimed in batch:
            try:
                if tracer is None:
                    pending.append((claimed, target.ask(claimed.task.payload, block=False)))
                    continue
                span = spans[claimed.task.id] = tracer.start(
                    "task.deliver", _span_attributes(claimed.task), parent=claimed.task.trace)
                with span.activate():  # the ask carries the span to the destination
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
        for claimed, error in failures:
            if claimed.task.id in spans:
                spans[claimed.task.id].fail(error)
        for span in spans.values():
            span.end()
        return done, failures


def _span_attributes(task: Task) -> dict[str, object]:
    return {"queue": task.queue, "task_id": task.id, "attempt": task.attempts}


_worker_ids = itertools.count(1)


class QueueWorker(ServiceActor):
    """One member of a queue's worker pool (started by `TaskQueueService` or the bus)."""

    mailbox_size = 4  # nudges only: a few waiting is enough, more would be redundant

    def __init__(self, pool: DeliveryEngine) -> None:
        super().__init__()
        self.pool = pool
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{next(_worker_ids)}"

    def on_start(self) -> None:
        self.pool.nudge()

    def on_receive(self, message: Any) -> Any:
        if not isinstance(message, Poll):
            return super().on_receive(message)
        self.pool.run(self.worker_id)
        return None


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
        self._pools: dict[str, DeliveryEngine] = {
            spec.queue: DeliveryEngine(spec, self.tasks, resolve=system.service,
                                       call_later=scheduler.call_later)
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
        children = [pool.child_spec(f"{name}:{queue}") for queue, pool in service._pools.items()]
        system.start_child(SupervisorSpec(name, children, max_restarts=10, within_seconds=10))
        for queue, pool in service._pools.items():
            pool.attach(system.service(f"{name}:{queue}"))
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
            pool.enqueued()
        return ids

    def metrics(self, queue: str) -> QueueMetrics:
        """Depth, in flight, delayed, dead-lettered, oldest age, and delivery counters."""
        return self._pool(queue).metrics()

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

    def _pool(self, queue: str) -> DeliveryEngine:
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
            pool.stop()
        self.system.service(self.name).stop(timeout=timeout)

    @property
    def queues(self) -> Mapping[str, QueueSpec]:
        """The queues served, by name."""
        return {queue: pool.spec for queue, pool in self._pools.items()}
