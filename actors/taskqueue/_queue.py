"""`TaskQueue`: the queue's rules over any `TaskStore`, with the clock and the log events.

This is what the worker actors drive: enqueue, claim, ack, and `fail`, which
asks the pure `TaskSchedule` whether to retry (and when) or to dead-letter.
It knows nothing of SQLite or Redis.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from actors.core import ConfigError, validate as check
from actors.taskqueue import _events
from actors.taskqueue._errors import describe_error
from actors.taskqueue._model import ClaimedTask, DeadLetteredTask, Lease, NewTask, QueueStats
from actors.taskqueue._schedule import Decision, RetryAt, TaskSchedule
from actors.taskqueue._store import AckThenClaim, TaskStore


class TaskQueue:
    """Enqueue, claim, ack and fail tasks on a `TaskStore`, retrying by the store's policy.

    `clock` must be wall-clock time (the default `time.time`): due times and
    lease expiries are persisted and compared in other processes and after
    restarts. `rng` drives the backoff jitter.

    Example:
        >>> from actors import capture_logs
        >>> from actors.retry import RetryPolicy
        >>> from actors.backends import MemoryTaskStore
        >>> from actors.taskqueue import TaskQueueConfig
        >>> config = TaskQueueConfig(retry=RetryPolicy(max_attempts=2, jitter="none"))
        >>> now = [1000.0]
        >>> tasks = TaskQueue(MemoryTaskStore(config), clock=lambda: now[0])
        >>> with capture_logs(level="info") as events:
        ...     task_id = tasks.enqueue("billing", {"user_id": "u-1", "version": 3})
        ...     [claimed] = tasks.claim("billing", "worker-1")
        ...     first = tasks.fail(claimed, "HTTP 503")
        ...     now[0] += first.delay
        ...     [claimed] = tasks.claim("billing", "worker-1")
        ...     second = tasks.fail(claimed, "HTTP 503")
        >>> first, second
        (RetryAt(not_before=1000.1, delay=0.1), GiveUp(reason='max_attempts', attempts=2))
        >>> [(event["event"], event["task_id"]) for event in events]
        [('task.retried', '1'), ('task.dead_lettered', '1')]
    """

    def __init__(
        self,
        store: TaskStore,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.store = check.instance(
            "store", store, TaskStore,
            "a TaskStore (SqliteTaskStore, RedisTaskStore, MemoryTaskStore)")
        check.optional(check.instance, "rng", rng, kind=random.Random, what="a random.Random")
        self.schedule = TaskSchedule(store.config.retry, clock=clock,
                                     rng=rng if rng is not None else random.Random())
        self._clock = clock
        self._ack_then_claim = store.ack_then_claim if isinstance(store, AckThenClaim) else None

    def enqueue(self, queue: str, payload: Any, *, delay: float = 0.0,
                priority: int = 0) -> str:
        """Persist one task, due in `delay` seconds; returns its id once committed."""
        return self.enqueue_many(queue, [payload], delay=delay, priority=priority)[0]

    def enqueue_many(self, queue: str, payloads: Iterable[Any], *, delay: float = 0.0,
                     priority: int = 0) -> list[str]:
        """Persist several tasks in one commit (all or none); returns their ids.

        Raises `PayloadNotSerializable` (nothing enqueued) if any payload is not JSON.
        """
        not_before = self.schedule.due_at(delay) if delay else None
        tasks = [NewTask(queue, payload, not_before, priority) for payload in payloads]
        ids = self.store.enqueue_many(tasks, self._clock())
        _events.log.debug("task.enqueued", queue=queue, count=len(ids), task_ids=ids)
        return ids

    def claim(self, queue: str, worker_id: str, limit: int = 1) -> list[ClaimedTask]:
        """Lease up to `limit` due tasks to `worker_id` for the visibility timeout."""
        check.integer("limit", limit, minimum=1, maximum=self.store.config.max_claim_batch)
        return self.store.claim(queue, worker_id, limit, self._clock())

    def ack(self, claimed: Sequence[ClaimedTask]) -> list[bool]:
        """Mark delivered tasks done; per task, False if its lease was lost meanwhile."""
        results = self.store.ack_many(_leases(claimed))
        _acked(claimed, results)
        return results

    def ack_then_claim(self, claimed: Sequence[ClaimedTask], queue: str, worker_id: str,
                       limit: int = 1) -> list[ClaimedTask]:
        """`ack(claimed)`, then `claim(queue, worker_id, limit)`: one commit if the store can.

        What a worker calls after delivering a batch of `queue`: the ack and the
        next claim share a transaction (SQLite) or a script call (Redis).
        """
        check.integer("limit", limit, minimum=1, maximum=self.store.config.max_claim_batch)
        leases = _leases(claimed)
        if leases and self._ack_then_claim is not None:
            results, fresh = self._ack_then_claim(leases, queue, worker_id, limit, self._clock())
            _acked(claimed, results)
            return fresh
        if leases:
            _acked(claimed, self.store.ack_many(leases))
        return self.store.claim(queue, worker_id, limit, self._clock())

    def fail(self, claimed: ClaimedTask, error: str, *, retry_after: float = 0.0
             ) -> Decision | None:
        """Record a failed attempt: schedule a retry, or dead-letter when attempts ran out.

        `retry_after` (seconds) is the earliest the destination accepts a retry;
        the backoff delay is raised to it. Returns the decision taken, or None
        if the lease was lost (another worker holds the task now, and its
        outcome decides).
        """
        decision = self.schedule.after_failure(claimed.task.attempts, retry_after)
        return decision if self.apply(claimed, decision, error) else None

    def settle(self, claimed: ClaimedTask, error: BaseException,
               schedule: TaskSchedule | None = None) -> Decision | None:
        """Record a failed delivery of `claimed` as the shared step decides (`after_error`).

        Retried with backoff, dead-lettered (`max_attempts`, `rejected`) or
        quarantined (`corrupt`), by `schedule` (the queue's own by default).
        Returns the decision taken, or None if the lease was lost meanwhile.
        """
        decision = (schedule or self.schedule).after_error(error, claimed.task.attempts)
        return decision if self.apply(claimed, decision, describe_error(error)) else None

    def apply(self, claimed: ClaimedTask, decision: Decision, error: str) -> bool:
        """Carry out `decision` on the store; False (`task.lease_lost`) if the lease is gone."""
        if isinstance(decision, RetryAt):
            if not self.store.retry(claimed.lease, decision.not_before, error):
                _lease_lost(claimed, "retry")
                return False
            _events.retried(claimed.task, claimed.task.attempts, decision.delay, error)
            return True
        return self.reject(claimed, error, decision.reason)

    def reject(self, claimed: ClaimedTask, error: str, reason: str = "rejected") -> bool:
        """Dead-letter a task that can never succeed (e.g. the destination refused it)."""
        if not self.store.dead_letter(claimed.lease, reason, error, self._clock()):
            _lease_lost(claimed, "dead_letter")
            return False
        return True

    def dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetteredTask]:
        """The dead-lettered tasks of `queue`, oldest first."""
        return self.store.list_dead_letters(queue, limit)

    def replay(self, task_id: str) -> None:
        """Put a dead-lettered task back in its queue, due now, with a fresh attempt budget."""
        self.store.replay_dead_letter(task_id, self._clock())
        _events.log.info("task.replayed", task_id=task_id)

    def stats(self, queue: str) -> QueueStats:
        """The queue's depth, in-flight, delayed, dead-lettered counts and oldest age now."""
        return self.store.stats(queue, self._clock())


def _leases(claimed: Sequence[ClaimedTask]) -> list[Lease]:
    """The leases of `claimed` (`ConfigError` for an item that is not a `ClaimedTask`)."""
    leases = []
    for item in claimed:
        if type(item) is not ClaimedTask:
            raise ConfigError("claimed", item, "ClaimedTask objects returned by claim")
        leases.append(item.lease)
    return leases


def _acked(claimed: Sequence[ClaimedTask], results: Sequence[bool]) -> None:
    for item, acked in zip(claimed, results, strict=True):
        if not acked:
            _lease_lost(item, "ack")
    if claimed:
        _events.log.debug("task.acked", queue=claimed[0].task.queue, count=sum(results))


def _lease_lost(claimed: ClaimedTask, action: str) -> None:
    _events.log.info("task.lease_lost", queue=claimed.task.queue, task_id=claimed.task.id,
                     worker_id=claimed.lease.worker_id, action=action)


