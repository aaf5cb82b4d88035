"""A durable task queue: at-least-once delivery with leases, backoff and dead letters.

Tasks live in a `TaskStore` (SQLite now; the interface fits Redis Streams
too). `TaskQueue` applies the rules (retry with backoff, dead-letter when the
attempts run out) on top of any store; the worker actors drive it. See
docs/task-queue.md.

Example:
    >>> import tempfile, pathlib
    >>> from actors import configure_logging
    >>> configure_logging(level="warning")
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tasks.sqlite3"
    >>> store = SqliteTaskStore(TaskQueueConfig(sqlite_path=path))
    >>> tasks = TaskQueue(store)
    >>> task_id = tasks.enqueue("profile->billing", {"user_id": "u-1", "version": 7})
    >>> [claimed] = tasks.claim("profile->billing", worker_id="worker-1")
    >>> claimed.task.payload
    {'user_id': 'u-1', 'version': 7}
    >>> tasks.ack([claimed])
    [True]
    >>> store.close()
"""

from actors.taskqueue._errors import (
    PayloadNotSerializable,
    TaskNotFound,
    TaskStoreClosed,
    TaskStoreError,
    TaskStoreTimeout,
)
from actors.taskqueue._memory import MemoryTaskStore
from actors.taskqueue._model import (
    PRIORITIES,
    ClaimedTask,
    DeadLetteredTask,
    Lease,
    NewTask,
    QueueStats,
    Task,
    TaskQueueConfig,
    encode_payload,
)
from actors.taskqueue._profiles import (
    DestinationDown,
    ProfileReplica,
    ProfileUpdate,
    propagate,
    queue_name,
)
from actors.taskqueue._queue import TaskQueue
from actors.taskqueue._schedule import Decision, GiveUp, RetryAt, TaskSchedule, attempts_exhausted
from actors.taskqueue._sqlite import SqliteTaskStore, WriteStats
from actors.taskqueue._store import TaskStore
from actors.taskqueue._workers import (
    PermanentDeliveryError,
    QueueMetrics,
    QueueSpec,
    QueueWorker,
    RetryAfter,
    TaskQueueService,
)

__all__ = [
    "PRIORITIES",
    "ClaimedTask",
    "DeadLetteredTask",
    "Decision",
    "DestinationDown",
    "GiveUp",
    "Lease",
    "MemoryTaskStore",
    "NewTask",
    "PayloadNotSerializable",
    "PermanentDeliveryError",
    "ProfileReplica",
    "ProfileUpdate",
    "QueueMetrics",
    "QueueSpec",
    "QueueStats",
    "QueueWorker",
    "RetryAfter",
    "RetryAt",
    "SqliteTaskStore",
    "Task",
    "TaskNotFound",
    "TaskQueue",
    "TaskQueueConfig",
    "TaskQueueService",
    "TaskSchedule",
    "TaskStore",
    "TaskStoreClosed",
    "TaskStoreError",
    "TaskStoreTimeout",
    "WriteStats",
    "attempts_exhausted",
    "encode_payload",
    "propagate",
    "queue_name",
]
