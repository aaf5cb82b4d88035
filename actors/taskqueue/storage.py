"""The task store contract, for stanchion's storage backends (`actors.backends`).

`TaskStore` is the protocol every backend implements (`AckThenClaim` the
optional one-commit ack and claim); the rest is what every
store shares: the task model, the store errors, the attempt rule and the
queue's log events (`events`). Users pick a store from `actors.backends`.
"""

from actors.taskqueue import _events as events
from actors.taskqueue._errors import (
    TaskNotFound,
    TaskStoreClosed,
    TaskStoreError,
    TaskStoreTimeout,
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
    checked_leases,
    claim_request,
    decode_payload,
    lease_task_number,
    listing_limit,
    new_tasks,
    queue_name,
    store_config,
    store_text,
    store_time,
    task_id_text,
    task_number,
)
from actors.taskqueue._schedule import attempts_exhausted
from actors.taskqueue._store import AckThenClaim, TaskStore

__all__ = [
    "PRIORITIES",
    "AckThenClaim",
    "ClaimedTask",
    "DeadLetteredTask",
    "Lease",
    "NewTask",
    "QueueStats",
    "Task",
    "TaskNotFound",
    "TaskQueueConfig",
    "TaskStore",
    "TaskStoreClosed",
    "TaskStoreError",
    "TaskStoreTimeout",
    "attempts_exhausted",
    "checked_leases",
    "claim_request",
    "decode_payload",
    "events",
    "lease_task_number",
    "listing_limit",
    "new_tasks",
    "queue_name",
    "store_config",
    "store_text",
    "store_time",
    "task_id_text",
    "task_number",
]
