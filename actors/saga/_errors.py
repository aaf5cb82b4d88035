"""The saga log's errors: closed, failed, a duplicate id, data that cannot be stored."""

from __future__ import annotations

from actors.core import DataNotSerializable, StanchionError


class SagaLogClosed(StanchionError):
    """The saga log is closed."""


class SagaLogError(StanchionError):
    """The saga log could not complete a call (unreadable file, disk full, a foreign key...).

    Nothing from the failed write was committed; the coordinator writes the
    saga again after a backoff, and recovery is retried the same way.
    `__cause__` holds what the storage reported.
    """

    def __init__(self, operation: str, cause: BaseException) -> None:
        self.operation = operation
        self.cause = cause
        super().__init__(
            f"the saga log failed during {operation}: {cause}; check that the file is a "
            "stanchion saga log (or the Redis keys under its prefix hold what stanchion "
            "wrote there), the disk space and the permissions")


class SagaDataNotSerializable(DataNotSerializable):
    """A saga's data is not plain JSON within the limits; the saga was not created.

    The rules and limits are those of every durable store (`actors.core._codec`):
    at most 100 levels deep and 4 MiB encoded, with the saga's own state.
    """

    def __init__(self, saga_id: str, cause: DataNotSerializable) -> None:
        self.saga_id = saga_id
        self.cause = cause
        self.path, self.kind, self.detail = cause.path, cause.kind, cause.detail
        StanchionError.__init__(
            self, f"saga {saga_id!r} was not started: its data must be plain JSON "
                  f"(the log is JSON, never pickle): {cause}")


class DuplicateSaga(StanchionError):
    """A saga with this id already exists; the new one was not created."""

    def __init__(self, saga_id: str) -> None:
        self.saga_id = saga_id
        super().__init__(f"a saga with id {saga_id!r} already exists; use a new id, or query "
                         "the existing saga's status")
