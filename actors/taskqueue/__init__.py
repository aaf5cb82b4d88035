"""A durable task queue: at-least-once delivery with leases, backoff and dead letters.

Tasks live in a `TaskStore` (SQLite now; the interface fits Redis Streams
too). `TaskQueue` applies the rules (retry with backoff, dead-letter when the
attempts run out) on top of any store; the worker actors drive it. See
docs/taskqueue.md.

Example:
    >>> import tempfile, pathlib
    >>> from actors import configure_logging
    >>> configure_logging(level="warning")
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tasks.sqlite3"
    >>> from actors.backends import SqliteTaskStore
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

from typing import TYPE_CHECKING

from actors.core import lazy_names

# `X as X`: the delivery engine's parts, for the event bus (not in __all__: the task
# queue and the bus build them, users don't).
from actors.taskqueue._errors import (
    PayloadNotSerializable,
    PermanentDeliveryError,
    RetryAfter,
    TaskNotFound,
    TaskStoreClosed,
    TaskStoreError,
    TaskStoreTimeout,
    describe_error as describe_error,
)
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
from actors.taskqueue._queue import TaskQueue
from actors.taskqueue._schedule import Decision, GiveUp, RetryAt, TaskSchedule, attempts_exhausted
from actors.taskqueue._store import AckThenClaim, TaskStore
from actors.taskqueue._workers import (
    DeliveryCounts as DeliveryCounts,
    DeliveryEngine as DeliveryEngine,
    DeliveryMetrics,
    DeliveryObserver as DeliveryObserver,
    QueueMetrics,
    QueueSpec,
    QueueWorker,
    TaskQueueService,
)

if TYPE_CHECKING:
    from actors.backends import (
        MemoryTaskStore as MemoryTaskStore,
        SqliteTaskStore as SqliteTaskStore,
        WriteStats as WriteStats,
    )

# The stores live in actors.backends (a higher layer): re-exported on first use,
# so the task queue never imports a backend.
# The profile replicas were an example, never the library: they are in examples/profiles.
__getattr__ = lazy_names(
    __name__, globals(),
    lazy=dict.fromkeys(("MemoryTaskStore", "SqliteTaskStore", "WriteStats"), "actors.backends"),
    moved=dict.fromkeys(("DestinationDown", "ProfileReplica", "ProfileUpdate", "propagate",
                         "queue_name"), "examples.profiles (the repository's examples/profiles/)"))

__all__ = [
    "PRIORITIES",
    "AckThenClaim",
    "ClaimedTask",
    "DeadLetteredTask",
    "Decision",
    "DeliveryMetrics",
    "GiveUp",
    "Lease",
    "NewTask",
    "PayloadNotSerializable",
    "PermanentDeliveryError",
    "QueueMetrics",
    "QueueSpec",
    "QueueStats",
    "QueueWorker",
    "RetryAfter",
    "RetryAt",
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
    "attempts_exhausted",
    "encode_payload",
]
