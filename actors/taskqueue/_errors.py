"""The task queue's errors; each says what happened and what to do about it."""

from __future__ import annotations

from actors.core import DataNotSerializable, StanchionError


class PayloadNotSerializable(DataNotSerializable):
    """A task payload is not plain JSON within the limits, so it cannot be persisted.

    Nothing was enqueued. `path` locates the offending value (`$` is the
    payload itself, `$.fields[2]` an element inside it) and `kind` names what
    was found there. The rules and limits are the codec's (`actors.core._codec`):
    at most 100 levels deep and 4 MiB encoded.
    """

    subject = "task payload"
    outcome = "nothing was enqueued"


class TaskStoreError(StanchionError):
    """The task store could not complete a call (disk full, file locked, unreadable file...).

    The call's writes were rolled back: retry it, and look at `__cause__` for
    what the storage reported if the error persists.
    """

    def __init__(self, operation: str, cause: BaseException) -> None:
        self.operation = operation
        self.cause = cause
        super().__init__(
            f"the task store failed during {operation}: {cause}; nothing from this call was "
            "committed, so it can be retried; if it persists, check the disk space, the file "
            "permissions, and that no other program holds the database locked"
        )


class TaskStoreTimeout(TaskStoreError):
    """A write was not committed within `write_timeout`; it may still be committed later.

    The store is overloaded or blocked (another process holding the write lock,
    a slow disk). Retrying an enqueue may then deliver the update twice, which
    the at-least-once contract already allows.
    """

    def __init__(self, operation: str, timeout: float) -> None:
        self.operation = operation
        self.cause = TimeoutError(f"not committed within {timeout:g}s")
        StanchionError.__init__(
            self,
            f"the task store did not commit {operation} within write_timeout={timeout:g}s; "
            "it may still be committed, so retry only if a duplicate is acceptable (tasks are "
            "delivered at least once anyway) and check what is slowing or locking the store",
        )


class TaskStoreClosed(StanchionError, RuntimeError):
    """The task store was closed and accepts no calls."""

    def __init__(self, operation: str) -> None:
        self.operation = operation
        super().__init__(
            f"cannot {operation}: the task store is closed; open a new store on the same "
            "database, where every committed task is still waiting"
        )


class TaskNotFound(StanchionError, LookupError):
    """No dead-lettered task has that id (already replayed, or never dead-lettered)."""

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        super().__init__(
            f"no dead-lettered task with id {task_id!r}: it was already replayed or never "
            "dead-lettered; list the current ones with list_dead_letters(queue)"
        )
