"""The task queue's errors; each says what happened and what to do about it."""

from __future__ import annotations

from actors.core import DataNotSerializable, StanchionError, storable_text, validate as check


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


class PermanentDeliveryError(StanchionError):
    """Raise from a delivery to dead-letter the task at once (it can never succeed).

    Raise `actors.CorruptData` instead when the task's payload is not what the
    destination can read at all (a wrong shape): it is dead-lettered at once
    with reason `corrupt`.
    """


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


def describe_error(error: BaseException) -> str:
    """`repr(error)` as any store can keep it, even when the error's `__repr__` fails."""
    try:
        return storable_text(repr(error))
    except Exception:  # noqa: BLE001 - a hostile __repr__ must not crash the worker
        return f"<{type(error).__name__}>"
