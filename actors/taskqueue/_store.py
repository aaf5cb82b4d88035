"""The one storage interface of the task queue, shaped to fit SQLite and Redis alike.

The queue's rules (`TaskQueue`, `TaskSchedule`) and the worker actors talk only
to a `TaskStore`; nothing above this interface knows which backend holds the
tasks. Every time is wall-clock (`time.time()`) and passed in by the caller,
so the rules stay testable and the times mean the same in every process.

How a Redis backend maps onto it (Redis Streams with a consumer group):

- `enqueue_many`: XADD to the queue's stream for the task's priority (one
  stream per level in `PRIORITIES`), or ZADD to a per-queue delayed set scored
  by `not_before`; many tasks (and concurrent callers) in one Lua call.
- `claim`: move due members of the delayed set to the streams (Lua), then
  XCLAIM entries whose lease expired and XREADGROUP COUNT `limit` new ones,
  highest priority first; the consumer name is `worker_id`, the lease token is
  recorded per entry so a stale worker cannot ack a newer claim.
- `ack_many`: a Lua script that checks each entry's token, then XACK + XDEL.
- `ack_then_claim` (the optional `AckThenClaim`): both scripts' work in one call.
- `retry`: check the token, XACK + XDEL, ZADD to the delayed set.
- `dead_letter` / `replay_dead_letter`: move the entry to / from a
  per-queue dead-letter hash.
- `stats`: XPENDING summary, XLEN, ZCOUNT and the oldest entry's time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from actors.taskqueue._model import (
    ClaimedTask,
    DeadLetteredTask,
    Lease,
    NewTask,
    QueueStats,
    TaskQueueConfig,
)


@runtime_checkable
class TaskStore(Protocol):
    """Durable storage of tasks with leases: the contract every backend meets.

    Guarantees: a call returns only once its effect is committed; a task is
    handed out again when its lease expires (at-least-once delivery); only the
    current lease holder can ack, retry or dead-letter a task; a stored payload
    that cannot be decoded is moved to the dead letters with reason `corrupt`
    instead of failing the caller.

    Example:
        >>> from actors.backends import MemoryTaskStore
        >>> from actors.taskqueue import NewTask
        >>> store = MemoryTaskStore()
        >>> [task_id] = store.enqueue_many([NewTask("billing", {"v": 1})], now=0.0)
        >>> [claimed] = store.claim("billing", "worker-1", limit=10, now=0.0)
        >>> claimed.task.payload, claimed.task.attempts
        ({'v': 1}, 1)
        >>> store.ack_many([claimed.lease])
        [True]
    """

    @property
    def config(self) -> TaskQueueConfig:
        """The configuration the store was opened with."""
        ...

    def enqueue_many(self, tasks: Sequence[NewTask], now: float) -> list[str]:
        """Store `tasks` atomically (all or none) and return their ids, in order.

        A task with `not_before=None` is due at `now`. Ids are unique for the life
        of the store, never reused.
        """
        ...

    def claim(self, queue: str, worker_id: str, limit: int, now: float) -> list[ClaimedTask]:
        """Lease up to `limit` due tasks of `queue` to `worker_id` until `now + visibility_timeout`.

        Highest priority first, then earliest due, then oldest. Tasks whose lease
        expired are due again. Each claim counts one attempt; a task whose attempts
        are already exhausted, or whose payload is corrupt, is dead-lettered
        instead of returned.
        """
        ...

    def ack_many(self, leases: Sequence[Lease]) -> list[bool]:
        """Mark the tasks done (remove them); per lease, whether it was still current.

        An expired lease still acks while no other worker has claimed the task.
        """
        ...

    def retry(self, lease: Lease, not_before: float, error: str) -> bool:
        """Release the task to be due again at `not_before`, recording `error`.

        Returns False (and changes nothing) if the lease is no longer current.
        """
        ...

    def dead_letter(self, lease: Lease, reason: str, error: str | None, now: float) -> bool:
        """Move the task to the dead-letter queue; False if the lease is no longer current."""
        ...

    def list_dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetteredTask]:
        """Up to `limit` dead-lettered tasks of `queue`, by task id: oldest first among the
        tasks one process enqueued (a durable store hands ids out in blocks per process,
        so ids of several processes interleave)."""
        ...

    def replay_dead_letter(self, task_id: str, now: float) -> None:
        """Put a dead-lettered task back in its queue, due at `now` with a fresh attempt budget.

        Raises `TaskNotFound` if no dead-lettered task has that id.
        """
        ...

    def stats(self, queue: str, now: float) -> QueueStats:
        """The queue's depth, in-flight, delayed and dead-lettered counts and oldest age."""
        ...

    def close(self) -> None:
        """Finish pending writes and release the storage; later calls raise `TaskStoreClosed`."""
        ...


@runtime_checkable
class AckThenClaim(Protocol):
    """A store that can ack one batch and claim the next in one commit (one round trip).

    Optional: a worker that delivered a batch acks it and claims again; a store
    with this method does both in one transaction (SQLite) or one script call
    (Redis), so a worker pays one write per batch instead of two. Without it,
    `TaskQueue.ack_then_claim` makes the two calls.
    """

    def ack_then_claim(self, leases: Sequence[Lease], queue: str, worker_id: str,
                       limit: int, now: float) -> tuple[list[bool], list[ClaimedTask]]:
        """`ack_many(leases)`, then `claim(queue, worker_id, limit, now)`, committed together.

        `leases` are tasks of `queue` (a lease of another queue is reported not
        current). Returns what `ack_many` and `claim` would have returned.
        """
        ...
