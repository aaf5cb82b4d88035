"""The task queue's log events, in one place so their names and fields stay stable.

Events (all carry `queue`; see docs/taskqueue.md):
`task.enqueued` (debug; count, task_ids), `task.acked` (debug; count),
`task.lease_lost` (info; task_id, worker_id, action), `task.retried` (info;
task_id, attempts, delay_s, error), `task.dead_lettered` (warning; task_id,
reason, attempts, error), `task.replayed` (info; task_id).
"""

from __future__ import annotations

import secrets
from typing import Any

from actors.core import LibraryLogger

log: Any = LibraryLogger("stanchion.taskqueue")


def new_lease_token() -> str:
    """A token for one claim call; random so that it is unique across processes and restarts."""
    return secrets.token_hex(8)


def dead_lettered(
    queue: str, task_id: str, reason: str, attempts: int, error: str | None
) -> None:
    """Log that a task was moved to the dead-letter queue."""
    log.warning("task.dead_lettered", queue=queue, task_id=task_id, reason=reason,
                attempts=attempts, error=error)


def expired_lease_error(worker_id: str | None, attempts: int) -> str:
    """The error recorded when a task's last lease expired without an ack or failure."""
    return (f"attempt {attempts} by worker {worker_id!r} was neither acked nor failed "
            "before its lease expired (the worker died or hung)")
