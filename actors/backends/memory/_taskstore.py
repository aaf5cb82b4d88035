"""An in-memory `TaskStore` with the same semantics as the SQLite one, for tests.

Payloads are kept as JSON text, exactly as a durable backend stores them, so
a test sees the same encoding, decoding and quarantine behaviour.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from actors.backends.memory._registry import MemoryGroupRegistry
from actors.core import CorruptData, describe_raw
from actors.taskqueue.storage import (
    ClaimedTask,
    DeadLetteredTask,
    Lease,
    NewTask,
    QueueStats,
    Task,
    TaskNotFound,
    TaskQueueConfig,
    TaskStoreClosed,
    attempts_exhausted,
    checked_leases,
    claim_request,
    decode_payload,
    events,
    listing_limit,
    new_tasks,
    queue_name,
    store_config,
    store_text,
    store_time,
    task_id_text,
    task_number,
)


@dataclass(slots=True)
class _Row:
    id: int
    queue: str
    payload_json: str
    priority: int
    not_before: float
    visible_at: float  # not_before while unleased; the lease's expiry while leased
    enqueued_at: float
    attempts: int = 0
    last_error: str | None = None
    lease_token: str | None = None
    worker_id: str | None = None
    trace: str | None = None

    def task(self, payload: object) -> Task:
        return Task(str(self.id), self.queue, payload, self.attempts, self.not_before,
                    self.priority, self.enqueued_at, self.last_error, self.trace)


@dataclass(slots=True)
class _Dead:
    row: _Row
    reason: str
    at: float


class MemoryTaskStore:
    """A thread-safe `TaskStore` that keeps everything in memory (lost on exit).

    Example:
        >>> store = MemoryTaskStore(TaskQueueConfig(visibility_timeout=10.0))
        >>> [task_id] = store.enqueue_many([NewTask("billing", {"v": 1})], now=0.0)
        >>> [claimed] = store.claim("billing", "worker-1", limit=1, now=0.0)
        >>> store.claim("billing", "worker-2", limit=1, now=5.0)
        []
        >>> [again] = store.claim("billing", "worker-2", limit=1, now=10.0)
        >>> again.task.attempts, store.ack_many([claimed.lease, again.lease])
        (2, [False, True])
    """

    def __init__(self, config: TaskQueueConfig | None = None) -> None:
        self._config = store_config(config)
        self._rows: dict[int, _Row] = {}
        self._dead: dict[int, _Dead] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._closed = False
        self._groups = MemoryGroupRegistry()

    @property
    def config(self) -> TaskQueueConfig:
        """The configuration the store was opened with."""
        return self._config

    def group_registry(self) -> MemoryGroupRegistry:
        """The durable bus groups kept beside these tasks (the same registry every call)."""
        return self._groups

    def enqueue_many(self, tasks: Sequence[NewTask], now: float) -> list[str]:
        """Store `tasks` atomically and return their ids, in order."""
        tasks, now = new_tasks(tasks), store_time("now", now)
        with self._lock:
            self._check_open("enqueue")
            ids: list[str] = []
            for new in tasks:
                due = now if new.not_before is None else new.not_before
                row = _Row(next(self._ids), new.queue, new.payload_json, new.priority,
                           due, due, now, trace=new.trace)
                self._rows[row.id] = row
                ids.append(str(row.id))
            return ids

    def claim(self, queue: str, worker_id: str, limit: int, now: float) -> list[ClaimedTask]:
        """Lease up to `limit` due tasks of `queue` to `worker_id`."""
        queue, worker_id, limit, now = claim_request(queue, worker_id, limit, now,
                                                     self._config.max_claim_batch)
        claimed: list[ClaimedTask] = []
        dead: list[tuple[_Row, str, str | None]] = []
        with self._lock:
            self._check_open("claim")
            due = sorted(
                (r for r in self._rows.values() if r.queue == queue and r.visible_at <= now),
                key=lambda r: (-r.priority, r.visible_at, r.id),
            )
            token = events.new_lease_token()
            expires = now + self._config.visibility_timeout
            for row in due:
                if len(claimed) >= limit:
                    break
                try:
                    payload = decode_payload(row.payload_json)
                except CorruptData as exc:
                    dead.append((row, "corrupt", f"payload {exc.reason}"))
                    continue
                if attempts_exhausted(self._config.retry, row.attempts):
                    error = (events.expired_lease_error(row.worker_id, row.attempts)
                             if row.lease_token is not None else row.last_error)
                    dead.append((row, "max_attempts", error))
                    continue
                row.attempts += 1
                row.lease_token, row.worker_id, row.visible_at = token, worker_id, expires
                claimed.append(ClaimedTask(row.task(payload),
                                           Lease(str(row.id), token, worker_id, expires)))
            for row, reason, error in dead:
                self._bury(row, reason, error, now)
        for row, reason, error in dead:
            events.dead_lettered(row.queue, str(row.id), reason, row.attempts, error)
        return claimed

    def ack_many(self, leases: Sequence[Lease]) -> list[bool]:
        """Remove the tasks whose lease is current; per lease, whether it was."""
        leases = checked_leases(leases)
        acked: set[tuple[str, str]] = set()
        with self._lock:
            self._check_open("ack")
            for lease in leases:
                row = self._current(lease)
                if row is not None:
                    del self._rows[row.id]
                    acked.add((lease.task_id, lease.token))
        return [(lease.task_id, lease.token) in acked for lease in leases]

    def retry(self, lease: Lease, not_before: float, error: str) -> bool:
        """Release the task to be due again at `not_before`, recording `error`."""
        checked_leases([lease])
        not_before, error = store_time("not_before", not_before), store_text("error", error)
        with self._lock:
            self._check_open("retry")
            row = self._current(lease)
            if row is None:
                return False
            row.lease_token = row.worker_id = None
            row.not_before = row.visible_at = not_before
            row.last_error = error
            return True

    def dead_letter(self, lease: Lease, reason: str, error: str | None, now: float) -> bool:
        """Move the task to the dead-letter queue if `lease` is current."""
        checked_leases([lease])
        reason, error = store_text("reason", reason), store_text("error", error, optional=True)
        now = store_time("now", now)
        with self._lock:
            self._check_open("dead_letter")
            row = self._current(lease)
            if row is None:
                return False
            self._bury(row, reason, error, now)
        events.dead_lettered(row.queue, str(row.id), reason, row.attempts, error)
        return True

    def list_dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetteredTask]:
        """Up to `limit` dead-lettered tasks of `queue`, oldest task first."""
        queue, limit = queue_name(queue), listing_limit(limit)
        with self._lock:
            self._check_open("list_dead_letters")
            letters = sorted((d for d in self._dead.values() if d.row.queue == queue),
                             key=lambda d: d.row.id)[:limit]
        result = []
        for letter in letters:
            try:
                payload = decode_payload(letter.row.payload_json)
            except CorruptData:
                payload = None
            result.append(DeadLetteredTask(letter.row.task(payload), letter.reason,
                                           letter.at, describe_raw(letter.row.payload_json)))
        return result

    def replay_dead_letter(self, task_id: str, now: float) -> None:
        """Put a dead-lettered task back in its queue, due at `now`, attempts reset."""
        task_id, now = task_id_text(task_id), store_time("now", now)
        with self._lock:
            self._check_open("replay_dead_letter")
            key = task_number(task_id)
            letter = self._dead.pop(key, None) if key is not None else None
            if letter is None:
                raise TaskNotFound(task_id)
            row = letter.row
            row.attempts = 0
            row.not_before = row.visible_at = now
            row.lease_token = row.worker_id = None
            self._rows[row.id] = row

    def stats(self, queue: str, now: float) -> QueueStats:
        """The queue's metrics at `now`."""
        queue = queue_name(queue)
        with self._lock:
            self._check_open("stats")
            rows = [r for r in self._rows.values() if r.queue == queue]
            dead = sum(1 for d in self._dead.values() if d.row.queue == queue)
        depth = sum(1 for r in rows if r.visible_at <= now)
        in_flight = sum(1 for r in rows if r.lease_token is not None and r.visible_at > now)
        oldest = min((r.enqueued_at for r in rows), default=now)
        return QueueStats(depth, in_flight, len(rows) - depth - in_flight, dead,
                          max(0.0, now - oldest))

    def close(self) -> None:
        """Refuse further calls; the contents are dropped."""
        with self._lock:
            self._closed = True

    def _current(self, lease: Lease) -> _Row | None:
        key = task_number(lease.task_id)
        row = self._rows.get(key) if key is not None else None
        return row if row is not None and row.lease_token == lease.token else None

    def _bury(self, row: _Row, reason: str, error: str | None, now: float) -> None:
        del self._rows[row.id]
        row.lease_token = row.worker_id = None
        if error is not None:
            row.last_error = error
        self._dead[row.id] = _Dead(row, reason, now)

    def _check_open(self, operation: str) -> None:
        if self._closed:
            raise TaskStoreClosed(operation)
